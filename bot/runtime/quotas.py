"""Per-tenant quotas: no tenant fills Redis or the queue for everyone, or uses the service as an amplifier.

- callbacks per app and second (`LEADBOT_CALLBACKS_PER_APP_PER_S`): 503 with Retry-After, so the platform
  retries (a streamed delivery is not acknowledged, so the platform sends it again);
- de-duplication memory per app (`LEADBOT_DEDUP_MAX_PER_APP` delivery ids): the app's oldest are forgotten first;
- API calls per tenant token and minute (`LEADBOT_API_CALLS_PER_TOKEN_PER_MIN`): 429 with Retry-After;
- webhook subscriptions per tenant (`LEADBOT_WEBHOOKS_PER_TENANT`): 429;
- webhook replays (redelivered events, test sends) per tenant and hour (`LEADBOT_WEBHOOK_REPLAYS_PER_HOUR`): 429
  with Retry-After.

Rates are fixed windows counted in Redis (shared by every process); a refusal counts nothing against the window and
is a `leadbot_quota_refusals_total{quota}` sample. The callback quota and the de-duplication bound live in the
queue's own script (`bot.runtime.queue`), so a callback still costs one Redis round trip. The operator's token and CLI
are not limited.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from redis.asyncio import Redis

from bot.errors import LeadbotError
from bot.runtime import metrics
from storage import redis_keys

# KEYS: the window's counter. ARGV: amount, limit, window ms. -> the new count, or -1 (nothing counted).
_TAKE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return -1 end
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return n
"""


# As _TAKE (KEYS[1], ARGV[1..3]; a limit of 0 counts nothing), and in the same round trip the value at KEYS[2],
# set to ARGV[4] when there is none. -> {the new count or -1, that value}.
_TAKE_READING = """
local v = redis.call('GET', KEYS[2])
if not v then
  v = ARGV[4]
  redis.call('SET', KEYS[2], v)
end
if tonumber(ARGV[2]) <= 0 then return {0, v} end
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return {-1, v} end
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return {n, v}
"""


# The quotas that count in Redis windows (their keys: `redis_keys.rate(quota, ...)`).
QUOTAS = ("callbacks", "api_calls", "webhook_replays")


class QuotaExceeded(LeadbotError):
    """A tenant's quota refuses this request; `retry_after_s` when waiting helps (a rate), None when it does not."""

    def __init__(self, quota: str, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.quota = quota
        self.retry_after_s = retry_after_s
        self.reading: bytes | str | None = None  # `take_reading`'s value, read with the refusal
        metrics.QUOTA_REFUSALS.labels(quota).inc()


@dataclass(frozen=True, slots=True)
class Window:
    """A fixed window of `length_s` seconds: its counter's key and the seconds left in it."""

    key: str
    left_s: int


def window(scope: str, ident: str, length_s: int, now: float) -> Window:
    """The window holding `now` (epoch seconds from the services' clock): windows are shared by processes."""
    index = int(now // length_s)
    return Window(redis_keys.rate(scope, f"{ident}:{index}"), max(1, math.ceil((index + 1) * length_s - now)))


def _too_many_at_once(quota: str, amount: int, limit: int, length_s: int, what: str) -> QuotaExceeded:
    return QuotaExceeded(quota, f"{what}: {amount} at once is over the {limit} allowed per {length_s} s; ask for fewer")


def _window_full(quota: str, limit: int, length_s: int, what: str, w: Window) -> QuotaExceeded:
    return QuotaExceeded(quota, f"{what}: at most {limit} per {length_s} s; try again in {w.left_s} s",
                         retry_after_s=w.left_s)


async def take(redis: Redis, quota: str, ident: str, *, amount: int, limit: int, length_s: int,
               what: str, now: float) -> None:
    """Count `amount` against `limit` per `length_s` for `ident`, or raise `QuotaExceeded` counting nothing."""
    if limit <= 0:
        return
    if amount > limit:
        raise _too_many_at_once(quota, amount, limit, length_s, what)
    w = window(quota, ident, length_s, now)
    if await redis.eval(_TAKE, 1, w.key, amount, limit, length_s * 2000) == -1:
        raise _window_full(quota, limit, length_s, what, w)


async def take_reading(redis: Redis, quota: str, ident: str, key: str, fresh: str, *, amount: int, limit: int,
                       length_s: int, what: str, now: float) -> bytes | str:
    """`take`, reading the value at `key` in the same round trip (made `fresh` when there is none): an API call reads
    its tenant's version (`bot.runtime.tenant_cache`) at no extra cost. The value is read even when the quota
    refuses (`QuotaExceeded.reading`)."""
    if amount > limit > 0:
        raise _too_many_at_once(quota, amount, limit, length_s, what)
    w = window(quota, ident, length_s, now)
    count, value = await redis.eval(_TAKE_READING, 2, w.key, key, amount, limit, length_s * 2000, fresh)
    if count == -1:
        refused = _window_full(quota, limit, length_s, what, w)
        refused.reading = value
        raise refused
    return value


def check_count(quota: str, have: int, limit: int, what: str) -> None:
    """`QuotaExceeded` when a tenant already has `limit` of something it is about to add one more of."""
    if have >= limit:
        raise QuotaExceeded(quota, f"{what}: at most {limit} per tenant")
