"""Jobs run by arq workers. Every job takes ids (never ORM objects), finds its resources in `ctx`, may run twice
(arq is at-least-once) and so keeps its effects idempotent."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from arq import Retry
from arq.worker import Function, func

from bot import metrics
from bot.services import Services

log = logging.getLogger("leadbot.jobs")

JobFn = Callable[..., Awaitable[Any]]


def services(ctx: dict[str, Any]) -> Services:
    return ctx["services"]


def job(*, timeout_s: float | None = None, max_tries: int | None = None) -> Callable[[JobFn], Function]:
    """Register a coroutine as an arq job with one log line and one metrics sample per run."""

    def wrap(fn: JobFn) -> Function:
        name = fn.__name__

        @functools.wraps(fn)
        async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            outcome = "ok"
            try:
                return await fn(ctx, *args, **kwargs)
            except Retry:
                outcome = "retry"
                raise
            except Exception:
                outcome = "error"
                log.exception("job %s failed id=%s try=%s", name, ctx.get("job_id"), ctx.get("job_try"))
                raise
            finally:
                elapsed = time.perf_counter() - started
                metrics.JOBS.labels(name, outcome).inc()
                metrics.JOB_LATENCY.labels(name).observe(elapsed)
                log.info("job %s %s id=%s try=%s %.1fms", name, outcome, ctx.get("job_id"), ctx.get("job_try"),
                         elapsed * 1000)

        return func(run, name=name, timeout=timeout_s, max_tries=max_tries)

    return wrap
