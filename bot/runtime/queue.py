"""Putting work on the arq queue, including the one-round-trip "remember this delivery and queue its job".

A platform callback is acknowledged only once its job is safely in Redis, and a platform retry of the same delivery
must not queue a second job. Doing "SET dedup NX" and "enqueue" as two calls leaves a window where a crash after the
first loses the message forever (every retry would look like a duplicate). So both happen in one Lua script: the
dedup key, arq's job hash and its queue entry are written together or not at all.

A platform callback is remembered in its app's own sorted set instead (`AppIngest`): expiring ids are dropped as
they pass, the set never holds more than `LEADBOT_DEDUP_MAX_PER_APP` ids (the oldest go first), and the app's
callback rate is counted in the same script, so one tenant's flood can neither fill Redis for everyone nor cost
an extra round trip (`bot.runtime.quotas`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from arq import connections as arq_connections
from arq.connections import ArqRedis
from arq.constants import default_queue_name, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from redis.exceptions import NoScriptError, RedisError

from bot.runtime import metrics, quotas
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.config import Settings
from storage import redis_keys

# KEYS: dedup key, job key, queue, result key. ARGV: dedup ttl ms, job ttl ms, serialized job, score, job id, the
# queue's wake channel, who announces.
_ENQUEUE_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) == false then return 0 end
if redis.call('EXISTS', KEYS[2], KEYS[4]) == 0 then
  redis.call('PSETEX', KEYS[2], ARGV[2], ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
  redis.call('PUBLISH', ARGV[6], ARGV[7])
end
return 1
"""

# The same for a callback of an app, remembered in the app's de-dup set, within the app's rate.
# KEYS: the app's set, job key, queue, result key, the app's rate window. ARGV: dedup ttl ms, job ttl ms,
# serialized job, score, job id (the set's member), now ms, most ids kept, rate limit (0: none), window ms, the
# queue's wake channel, who announces.
# -> {1 queued | 0 seen before | -1 over the rate (nothing written), ids forgotten to stay within the bound}
_ENQUEUE_ONCE_PER_APP = """
local now = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[5]) then return {0, 0} end
local limit = tonumber(ARGV[8])
if limit > 0 then
  if tonumber(redis.call('GET', KEYS[5]) or '0') >= limit then return {-1, 0} end
  if redis.call('INCR', KEYS[5]) == 1 then redis.call('PEXPIRE', KEYS[5], ARGV[9]) end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[5])
local forgotten = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[7])
if forgotten > 0 then redis.call('ZPOPMIN', KEYS[1], forgotten) else forgotten = 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2], KEYS[4]) == 0 then
  redis.call('PSETEX', KEYS[2], ARGV[2], ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
  redis.call('PUBLISH', ARGV[10], ARGV[11])
end
return {1, forgotten}
"""

# `enqueue` of a job to run now, as arq's `enqueue_job` does it (the job hash unless the job or its result exists, its
# queue entry) and its announcement, in one round trip instead of arq's WATCH, EXISTS, MULTI/EXEC and a PUBLISH.
# KEYS: job key, queue, result key. ARGV: job ttl ms, serialized job, score, job id, wake channel, who announces.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1], KEYS[3]) ~= 0 then return 0 end
redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""

# arq deletes a job hash after its `expires`; a queued job must outlive any plausible worker outage.
JOB_TTL_MS = 7 * 86_400_000


def wake_channel(queue_name: str) -> str:
    """The Redis channel a job queued for immediate running is announced on: workers in other processes wait on it
    between polls (`bot.runtime.worker`), so a click's job starts at once instead of at the next poll. A lost
    announcement costs one poll interval, never a job: the queue itself is still polled."""
    return f"leadbot:wake:{queue_name}"


def job_id_for(dedup_key: str) -> str:
    """A deterministic arq job id: the same delivery can never become two jobs, even via two processes."""
    return hashlib.sha256(dedup_key.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class AppIngest:
    """Where a platform callback of one app is remembered, and how fast that app may send (`bot.runtime.quotas`)."""

    platform: str
    app_id: int
    max_remembered: int
    per_second: int  # 0: no limit

    @classmethod
    def of(cls, settings: Settings, platform: str, app_id: int) -> AppIngest:
        return cls(platform, app_id, settings.dedup_max_per_app, settings.callbacks_per_app_per_s)


@dataclass(frozen=True, slots=True)
class OnceCall:
    """One `Queue.enqueue_once`, as data (for the batched form)."""

    dedup_key: str
    dedup_ttl_s: int
    function: str
    kwargs: dict[str, Any]
    app: AppIngest | None = None


class Queue:
    def __init__(self, redis: ArqRedis, *, queue_name: str = default_queue_name, clock: Clock | None = None) -> None:
        self.redis = redis
        self.clock = clock or SystemClock()
        self.queue_name = queue_name
        self._enqueue_once = redis.register_script(_ENQUEUE_ONCE)
        self._enqueue_once_per_app = redis.register_script(_ENQUEUE_ONCE_PER_APP)
        self._enqueue_now = redis.register_script(_ENQUEUE)
        self.wake_channel = wake_channel(queue_name)
        # Sent with each announcement: a worker of this process, woken directly, ignores its own queue's.
        self.origin = secrets.token_hex(8)
        # Wakers of the workers running in this process: called once a job is in Redis, without a round trip.
        self.local_wakers: set[Callable[[], None]] = set()

    def _woken(self) -> None:
        for wake in list(self.local_wakers):
            wake()

    def _once_args(self, call: OnceCall, now_ms: int) -> tuple[str, list[str], list[Any]]:
        """(script sha, keys, args) of one call."""
        job_id = job_id_for(call.dedup_key)
        payload = serialize_job(call.function, (), call.kwargs, None, now_ms)
        job_keys = [job_key_prefix + job_id, self.queue_name, result_key_prefix + job_id]
        if call.app is None:
            return (self._enqueue_once.sha, [call.dedup_key, *job_keys],
                    [call.dedup_ttl_s * 1000, JOB_TTL_MS, payload, now_ms, job_id, self.wake_channel, self.origin])
        app = call.app
        rate = quotas.window("callbacks", f"{app.platform}:{app.app_id}", 1, now_ms / 1000)
        return (self._enqueue_once_per_app.sha,
                [redis_keys.dedup_set(app.platform, app.app_id), *job_keys, rate.key],
                [call.dedup_ttl_s * 1000, JOB_TTL_MS, payload, now_ms, job_id, now_ms, app.max_remembered,
                 app.per_second, 2000, self.wake_channel, self.origin])

    async def enqueue_once(self, dedup_key: str, dedup_ttl_s: int, function: str, *, _app: AppIngest | None = None,
                           **kwargs: Any) -> bool:
        """Queue `function(**kwargs)` unless `dedup_key` was seen within `dedup_ttl_s`. True when newly queued.

        With `_app`, the id is remembered in that app's bounded set and the app's callback rate applies
        (`QuotaExceeded` over it, nothing written). Raises redis errors as they come: the caller answers 503 and
        the platform retries.
        """
        (result,) = await self.enqueue_once_many([OnceCall(dedup_key, dedup_ttl_s, function, kwargs, _app)])
        if isinstance(result, Exception):
            raise result
        return result

    async def enqueue_once_many(self, calls: Sequence[OnceCall]) -> list[bool | Exception]:
        """Several `enqueue_once` in one pipelined round trip; each keeps its own all-or-nothing script run.

        Per call: True (queued), False (seen before), `QuotaExceeded` (its app over its rate) or the error Redis
        answered for that call. A lost connection raises for all of them: none is known to have run, and each may
        safely be tried again.
        """
        now_ms = int(self.clock.time() * 1000)
        prepared = [self._once_args(call, now_ms) for call in calls]
        results: list[Any] = await self._run_scripts(prepared)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:  # the server restarted or its script cache was flushed: none of those ran
            for script in (_ENQUEUE_ONCE, _ENQUEUE_ONCE_PER_APP):
                await self.redis.script_load(script)
            for i, r in zip(missing, await self._run_scripts([prepared[i] for i in missing]), strict=True):
                results[i] = r
        answers = [_answer(call, r) for call, r in zip(calls, results, strict=True)]
        if any(a is True for a in answers):
            self._woken()
        return answers

    async def _run_scripts(self, prepared: list[tuple[str, list[str], list[Any]]]) -> list[Any]:
        # EVALSHA by hand: redis-py's pipelined Script asks SCRIPT EXISTS first, a second round trip every time.
        pipe = self.redis.pipeline(transaction=False)
        for sha, keys, args in prepared:
            pipe.evalsha(sha, len(keys), *keys, *args)
        return await pipe.execute(raise_on_error=False)

    async def enqueue(self, function: str, *, job_id: str | None = None, defer_until_s: float | None = None,
                      **kwargs: Any) -> bool:
        """Queue a job; with `job_id`, a second enqueue of the same id while the first exists is a no-op."""
        if defer_until_s is None:
            return await self._enqueue_to_run_now(function, job_id or uuid.uuid4().hex, kwargs)
        kw: dict[str, Any] = {"_job_id": job_id, "_queue_name": self.queue_name}
        if defer_until_s is not None:
            from datetime import UTC, datetime

            kw["_defer_until"] = datetime.fromtimestamp(defer_until_s, UTC)
            # Keep a deferred job's hash until well after it is due, whatever arq's default.
            kw["_expires"] = max(0.0, defer_until_s - self.clock.time()) + JOB_TTL_MS / 1000
        job = await self.redis.enqueue_job(function, **kw, **kwargs)
        if job is not None and defer_until_s is None:
            self._woken()
            with contextlib.suppress(RedisError, OSError):  # the job is queued: a lost wake-up costs one poll
                await self.redis.publish(self.wake_channel, self.origin)
        return job is not None

    async def _enqueue_to_run_now(self, function: str, job_id: str, kwargs: dict[str, Any]) -> bool:
        # Scored and kept like arq's own `enqueue_job`: its clock, read as enqueue_job reads it (the module's
        # `timestamp_ms`: the workers poll on the same one, and a test that moves arq's clock moves both), its
        # default expiry.
        score = arq_connections.timestamp_ms()
        payload = serialize_job(function, (), kwargs, None, score, serializer=self.redis.job_serializer)
        keys = [job_key_prefix + job_id, self.queue_name, result_key_prefix + job_id]
        args = [self.redis.expires_extra_ms, payload, score, job_id, self.wake_channel, self.origin]
        queued = await self._enqueue_now(keys, args)  # (a script cache lost with a restart: redis-py loads it again)
        if queued:
            self._woken()
        return bool(queued)

    async def depth(self) -> int:
        """Jobs due now or earlier (deferred ones waiting for their time are not a backlog)."""
        return await self.redis.zcount(self.queue_name, "-inf", int(self.clock.time() * 1000))


def _answer(call: OnceCall, result: Any) -> bool | Exception:
    if isinstance(result, Exception) or call.app is None:
        return result if isinstance(result, Exception) else bool(result)
    status, forgotten = (int(v) for v in result)
    if forgotten:
        metrics.DEDUP_FORGOTTEN.labels(call.app.platform).inc(forgotten)
    if status < 0:
        return quotas.QuotaExceeded("callbacks", f"app {call.app.app_id} is over {call.app.per_second} "
                                    "callbacks a second", retry_after_s=1)
    return status == 1


class Coalescer:
    """`enqueue_once` for many concurrent callers (a callback route under load), sharing Redis round trips.

    A call goes out at once when nothing is in flight; calls arriving while a batch is in flight wait for it and go
    out together as the next batch (group commit). Each caller still gets its own answer, or its own exception
    (a Redis outage fails every caller of that batch, and each answers 503). Per-request round trips cost more CPU
    in the client than everything else a callback does; under load this makes them one per batch.
    """

    def __init__(self, queue: Queue, *, max_batch: int = 512) -> None:
        self.queue = queue
        self._max_batch = max_batch
        self._waiting: list[tuple[OnceCall, asyncio.Future[bool]]] = []
        self._sender: asyncio.Task[None] | None = None

    async def enqueue_once(self, dedup_key: str, dedup_ttl_s: int, function: str, *, _app: AppIngest | None = None,
                           **kwargs: Any) -> bool:
        """As `Queue.enqueue_once`. Cancelling the wait (a timeout) does not withdraw a call already sent."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((OnceCall(dedup_key, dedup_ttl_s, function, kwargs, _app), future))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send())
        return await future

    async def wait_sent(self) -> None:
        """Until every call handed over so far has its answer (on shutdown: none is left half-sent)."""
        while self._sender is not None:
            await asyncio.wait([self._sender])  # never raises: the callers get the batch's errors

    async def _send(self) -> None:
        batch: list[tuple[OnceCall, asyncio.Future[bool]]] = []
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                try:
                    results: list[bool | Exception] = await self.queue.enqueue_once_many([c for c, _ in batch])
                except Exception as e:  # the connection: every call of the batch failed alike
                    results = [e] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # its caller stopped waiting
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        except BaseException as e:  # a bug or a cancellation here must not leave callers waiting forever
            for _, future in batch + self._waiting:
                if not future.done():
                    future.set_exception(e if isinstance(e, Exception) else RuntimeError("enqueue cancelled"))
            self._waiting.clear()
            raise
        finally:
            self._sender = None
