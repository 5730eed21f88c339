"""Access tokens shared by every process, refreshed by one process at a time.

Platform access tokens live ~2 h and each app's token endpoint is frequency-limited. Two processes refreshing at
once can also leave an *older* token overwriting a newer one (WxJava #1222, easywechat #696), so: read the cache;
when it is missing or about to expire, take a cluster-wide lock, re-check (someone may have refreshed while we
waited), and only then call the platform. Dropping a refused token is compare-and-delete, so a late "this token is
bad" from one process never deletes the fresh token another process just stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from redis.asyncio import Redis
from redis.asyncio.lock import Lock

from bot.errors import TokenExpired
from bot.runtime import metrics
from storage import redis_keys
from storage.secrets import SecretBox

log = logging.getLogger(__name__)

# Returns (token, lifetime in seconds) straight from the platform.
Fetch = Callable[[], Awaitable[tuple[str, float]]]
T = TypeVar("T")

# The cached value holds the token sealed (Redis persists to disk) and a digest to compare without opening it.
_DELETE_IF_EQUAL = """
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v)['sha'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_PURPOSE = "access-token"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(slots=True)
class _Cached:
    token: str
    expires_at: float


class TokenBroker:
    """One per process; `get` and `invalidate` are safe to call from any number of tasks and processes."""

    def __init__(
        self,
        redis: Redis,
        box: SecretBox,
        *,
        refresh_margin_s: float = 300.0,
        lock_timeout_s: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._box = box
        self._margin_s = refresh_margin_s
        self._lock_timeout_s = lock_timeout_s
        self._clock = clock
        self._local: dict[str, _Cached] = {}
        self._delete_if_equal = redis.register_script(_DELETE_IF_EQUAL)
        self.fetches = 0  # how many times this process called the platform (tests and metrics read it)

    def use_clock(self, clock: Callable[[], float]) -> None:
        self._clock = clock

    def _fresh(self, cached: _Cached | None) -> bool:
        return cached is not None and cached.expires_at - self._margin_s > self._clock()

    async def _read(self, key: str) -> _Cached | None:
        raw = await self._redis.get(key)
        if raw is None:
            return None
        d = json.loads(raw)
        return _Cached(self._box.open(d["enc"], _PURPOSE), float(d["expires_at"]))

    async def get(self, platform: str, app_id: int | str, fetch: Fetch) -> str:
        key = redis_keys.token(platform, app_id)
        cached = self._local.get(key)
        if self._fresh(cached):
            return cached.token
        cached = await self._read(key)
        if not self._fresh(cached):
            lock = Lock(
                self._redis,
                redis_keys.token_lock(platform, app_id),
                timeout=self._lock_timeout_s,
                blocking_timeout=self._lock_timeout_s,
                sleep=0.05,
            )
            async with lock:
                cached = await self._read(key)  # re-check: another process may have refreshed meanwhile
                if not self._fresh(cached):
                    cached = await self._refresh(key, platform, app_id, fetch)
        self._local[key] = cached
        return cached.token

    async def _refresh(self, key: str, platform: str, app_id: int | str, fetch: Fetch) -> _Cached:
        token, lifetime_s = await fetch()
        self.fetches += 1
        metrics.TOKEN_REFRESHES.labels(platform).inc()
        cached = _Cached(token, self._clock() + float(lifetime_s))
        ttl_s = max(1, int(lifetime_s))
        value = {"enc": self._box.seal(token, _PURPOSE), "sha": _digest(token), "expires_at": cached.expires_at}
        await self._redis.set(key, json.dumps(value), ex=ttl_s)
        log.info("access token refreshed platform=%s app=%s lifetime_s=%d", platform, app_id, int(lifetime_s))
        return cached

    async def invalidate(self, platform: str, app_id: int | str, token: str) -> None:
        """Forget `token` because the platform refused it; a newer token stored meanwhile is kept."""
        key = redis_keys.token(platform, app_id)
        cached = self._local.get(key)
        if cached is not None and cached.token == token:
            del self._local[key]
        await self._delete_if_equal(keys=[key], args=[_digest(token)])

    async def calling(self, platform: str, app_id: int | str, fetch: Fetch, call: Callable[[str], Awaitable[T]]) -> T:
        """`call(token)` with the app's token; when the platform refuses the token (`TokenExpired`), once more with a
        fresh one. A refused token did nothing, so the second try cannot duplicate an effect; dropping it is
        compare-and-delete, so a fresh token another process stored meanwhile stays."""
        token = await self.get(platform, app_id, fetch)
        try:
            return await call(token)
        except TokenExpired as e:
            log.info("%s app=%s token refused (code %s), refreshing once", platform, app_id, e.errcode)
            await self.invalidate(platform, app_id, token)
            return await call(await self.get(platform, app_id, fetch))
