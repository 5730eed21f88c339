"""Jobs run by arq workers. Every job takes ids (never ORM objects), finds its resources in `ctx`, may run twice
(arq is at-least-once) and so keeps its effects idempotent."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from arq import Retry
from arq.constants import retry_key_prefix
from arq.worker import Function, func

from bot.jobs import reclaim
from bot.runtime import metrics
from bot.runtime.logs import bound
from bot.runtime.services import Services
from storage import redis_keys
from storage.outage import is_outage

log = logging.getLogger("leadbot.jobs")

JobFn = Callable[..., Awaitable[Any]]


# A job that finds the database or Redis down waits 2, 4, 8 ... s, at most a minute, between tries, and those tries
# do not use up the job's own (arq's max_tries are for its own failures): 64 such waits ride out about an hour of
# outage. Past that the tries count again, and the job fails after its own max_tries.
OUTAGE_DEFER_MAX_S = 60
OUTAGE_TRIES = 64
OUTAGE_COUNT_TTL_S = 3 * 3600  # a job's outage count outlives the budget's hour


def outage_defer_s(outages: int) -> int:
    return min(OUTAGE_DEFER_MAX_S, 2 ** max(1, outages))


async def _outage_retry(ctx: dict[str, Any], name: str, error: Exception) -> Retry:
    """The Retry for a try that met an outage; the try is given back to the job while the outage budget lasts."""
    job_id, job_try = ctx.get("job_id"), int(ctx.get("job_try") or 1)
    outages = job_try
    if job_id:
        key = redis_keys.JOB_OUTAGES + job_id
        try:
            async with services(ctx).redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, OUTAGE_COUNT_TTL_S)
                outages = int((await pipe.execute())[0])
            if outages <= OUTAGE_TRIES:
                # arq counted this try when it started it; an outage is not the job's failure
                await services(ctx).redis.decr(retry_key_prefix + job_id)
        except Exception:  # Redis is the dependency that is down: arq cannot record the retry either
            outages = job_try
    defer_s = outage_defer_s(outages)
    log.warning("job %s id=%s try=%s: dependency unavailable (%s: %s); outage try %d, again in %d s", name, job_id,
                job_try, type(error).__name__, error, outages, defer_s)
    return Retry(defer=defer_s)


def services(ctx: dict[str, Any]) -> Services:
    return ctx["services"]


def _holding(ctx: dict[str, Any]) -> contextlib.AbstractAsyncContextManager[None]:
    """Record this worker as the job's holder, so a worker that outlives it can take the job back at once."""
    job_id = ctx.get("job_id")
    if not job_id or reclaim.IN_PROGRESS_S not in ctx:  # called outside a worker (a test calling the coroutine)
        return contextlib.nullcontext()
    if ctx.get(reclaim.WORKER_MARKS_HOLDER):  # marked as the worker took the job, in the same round trip
        return contextlib.nullcontext()
    return reclaim.holding(services(ctx).redis, job_id)


# How long arq keeps a finished job's result. The worker keeps results an hour (a kept result is what stops a timer's
# job id from being queued again after it ran); the jobs a click or a callback makes, many a second, need none of
# that (their duplicates are stopped by their own dedup keys and outbox claims), so theirs go after two minutes
# rather than filling Redis with an hour of results.
SHORT_RESULT_S = 120


def job(*, timeout_s: float | None = None, max_tries: int | None = None,
        keep_result_s: float | None = None, quiet: bool = False) -> Callable[[JobFn], Function]:
    """Register a coroutine as an arq job with one log line and one metrics sample per run.

    `quiet` (the maintenance crons, every few seconds on every worker): a run that went well is logged at debug
    only, so an idle service's log stays empty; a retry or a failure is logged as for any job.
    """

    def wrap(fn: JobFn) -> Function:
        name = fn.__name__

        @functools.wraps(fn)
        async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            # Every line the job logs, its own last one included, carries the job id (and what it binds: the
            # tenant, app or lead it works on).
            with bound(job=ctx.get("job_id")):
                started = time.perf_counter()
                outcome = "ok"
                try:
                    async with _holding(ctx):
                        return await fn(ctx, *args, **kwargs)
                except Retry:
                    outcome = "retry"
                    raise
                except Exception as e:
                    if is_outage(e):  # the database or Redis away for a while: the job waits, it is not lost
                        outcome = "retry"
                        raise await _outage_retry(ctx, name, e) from e
                    outcome = "error"
                    log.exception("job %s failed id=%s try=%s", name, ctx.get("job_id"), ctx.get("job_try"))
                    raise
                finally:
                    elapsed = time.perf_counter() - started
                    metrics.JOBS.labels(name, outcome).inc()
                    metrics.JOB_LATENCY.labels(name).observe(elapsed)
                    level = logging.DEBUG if quiet and outcome == "ok" else logging.INFO
                    log.log(level, "job %s %s id=%s try=%s %.1fms", name, outcome, ctx.get("job_id"),
                            ctx.get("job_try"), elapsed * 1000)

        return func(run, name=name, timeout=timeout_s, max_tries=max_tries, keep_result=keep_result_s)

    return wrap
