"""A Redis lease: at most one holder across all processes, taken over when the holder stops renewing.

A platform's long connection (for apps without a public URL) delivers each event to one of an app's open
connections, and two runners of the same app would each acknowledge what they get: harmless for delivery, but it
doubles reconnect storms and makes "who is connected" unanswerable. So a runner connects only while it holds its
app's lease (`lease:<platform>-<mode>:<app_id>`, named by the platform package).

SET NX PX takes it; renewal and release are compare-and-set scripts, so a holder that paused past its TTL (GC,
a stalled host) can neither extend nor delete a lease someone else has taken meanwhile.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.runtime.clock import Clock, SystemClock

log = logging.getLogger(__name__)

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLease:
    def __init__(self, redis: Redis, key: str, holder: str, *, ttl_s: float, clock: Clock | None = None) -> None:
        self._redis = redis
        self._clock = clock or SystemClock()  # how long since the last renewal went through (monotonic)
        self.key = key
        self.holder = holder
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    @property
    def ttl_s(self) -> float:
        return self._ttl_ms / 1000

    async def try_acquire(self) -> bool:
        return bool(await self._redis.set(self.key, self.holder, nx=True, px=self._ttl_ms))

    async def renew(self) -> bool:
        return bool(await self._renew(keys=[self.key], args=[self.holder, self._ttl_ms]))

    async def release(self) -> None:
        try:
            await self._release(keys=[self.key], args=[self.holder])
        except RedisError as e:  # it expires by itself; a failed release only delays the next holder
            log.warning("lease release failed key=%s error=%s", self.key, type(e).__name__)

    async def current_holder(self) -> str | None:
        value = await self._redis.get(self.key)
        return value.decode() if isinstance(value, bytes) else value

    async def acquire(self, stop: asyncio.Event, *, poll_s: float | None = None) -> bool:
        """Wait until we hold the lease (True) or `stop` is set (False). Redis errors mean "not yet"."""
        poll = poll_s if poll_s is not None else self.ttl_s / 3
        while not stop.is_set():
            try:
                if await self.try_acquire():
                    return True
            except RedisError as e:
                log.warning("lease acquire failed key=%s error=%s", self.key, type(e).__name__)
            await _wait(stop, poll)
        return False

    async def keep(self, lost: asyncio.Event, stop: asyncio.Event) -> None:
        """Renew every TTL/3 until `stop`; set `lost` when the lease is gone or could not be renewed in time
        (while Redis is unreachable someone else may take it once our TTL runs out, so we must let go first)."""
        last_ok = self._clock.monotonic()
        while not stop.is_set() and not lost.is_set():
            await _wait(stop, self.ttl_s / 3)
            if stop.is_set():
                return
            try:
                if not await self.renew():
                    log.warning("lease lost key=%s", self.key)
                    lost.set()
                    return
                last_ok = self._clock.monotonic()
            except RedisError as e:
                log.warning("lease renew failed key=%s error=%s", self.key, type(e).__name__)
                if self._clock.monotonic() - last_ok > self.ttl_s * 0.8:
                    lost.set()
                    return


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    try:
        async with asyncio.timeout(timeout_s):  # not wait_for: see bot/webhooks/dispatcher.py `_wait`
            await event.wait()
    except TimeoutError:
        pass
