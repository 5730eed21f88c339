"""WeCom's per-member message limit, enforced on our side and shared by every process through Redis.

One app may send one member at most 30 messages a minute and 1000 an hour. WeCom answers errcode 0 to the excess
and silently drops it, so nothing on the wire ever tells us: we have to count ourselves. A sorted set per
(app, member) holds the send times of the last hour; one Lua script trims, counts both windows and books a slot
atomically, so two workers cannot both take the 30th slot.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from redis.asyncio import Redis

from bot.errors import RateLimited
from storage import redis_keys

# Returns "0" when a slot was booked, else the seconds until one frees up (as a string: Lua numbers become
# integers on the way out, and a fraction of a second matters to the caller's retry).
_BOOK = """
local now = tonumber(ARGV[1])
local per_minute, per_hour = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600)
if redis.call('ZCARD', KEYS[1]) >= per_hour then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + 3600 - now)
end
local since = '(' .. string.format('%.6f', now - 60)
if redis.call('ZCOUNT', KEYS[1], since, '+inf') >= per_minute then
  local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  return tostring(tonumber(oldest[2]) + 60 - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('EXPIRE', KEYS[1], 3601)
return '0'
"""


class MemberWindow:
    def __init__(
        self,
        redis: Redis,
        app_id: int | str,
        *,
        per_minute: int = 30,
        per_hour: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._app_id = app_id
        self._per_minute = per_minute
        self._per_hour = per_hour
        self._clock = clock
        self._book = redis.register_script(_BOOK)

    def _key(self, userid: str) -> str:
        return redis_keys.rate("wecom-member", f"{self._app_id}:{userid}")

    async def book(self, userid: str) -> str:
        """Take a slot for one message to `userid`; returns a ticket for `release`, or raises `RateLimited`."""
        ticket = uuid.uuid4().hex
        args = [f"{self._clock():.6f}", ticket, self._per_minute, self._per_hour]
        wait = await self._book(keys=[self._key(userid)], args=args)
        wait_s = float(wait)
        if wait_s > 0:
            raise RateLimited(
                None,
                f"per-member limit of this app reached ({self._per_minute}/min, {self._per_hour}/h)",
                retry_after_s=wait_s,
            )
        return ticket

    async def release(self, userid: str, ticket: str) -> None:
        """Give a slot back: the send failed before WeCom accepted it, so it does not count there either."""
        await self._redis.zrem(self._key(userid), ticket)
