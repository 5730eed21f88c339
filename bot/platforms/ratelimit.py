"""A sliding-window limit shared by every process through Redis, for a platform's send limits.

Some platforms throttle an app or a robot for minutes once it exceeds a limit, so we count on our side and refuse
the message over the limit before it leaves. The window and the clock both live in Redis (TIME inside the script),
so processes with skewed clocks still agree. A `block` records a throttle the platform reported, for everyone.
"""

from __future__ import annotations

import secrets

from redis.asyncio import Redis

from bot.errors import RateLimited
from storage import redis_keys

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return blocked end
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""


class SlidingWindowLimit:
    def __init__(self, redis: Redis, scope: str, *, limit: int, window_s: float) -> None:
        self._redis = redis
        self._scope = scope
        self._limit = limit
        self._window_ms = int(window_s * 1000)
        self._acquire = redis.register_script(_ACQUIRE)

    def _keys(self, ident: str) -> list[str]:
        return [redis_keys.rate(self._scope, ident), redis_keys.rate(self._scope + "-blocked", ident)]

    async def acquire(self, ident: str) -> None:
        """Take one slot or raise `RateLimited` saying how long until one frees up."""
        wait_ms = int(await self._acquire(keys=self._keys(ident),
                                          args=[self._limit, self._window_ms, secrets.token_hex(8)]))
        if wait_ms > 0:
            raise RateLimited("local-limit", f"more than {self._limit} per {self._window_ms // 1000} s",
                              retry_after_s=wait_ms / 1000)

    async def block(self, ident: str, seconds: float) -> None:
        await self._redis.set(self._keys(ident)[1], "1", px=max(1, int(seconds * 1000)))
