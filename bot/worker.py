"""The arq worker: run by `leadbot worker`, and inside `leadbot serve` unless `--no-worker`.

The worker gets its own Redis connection pool: arq closes its pool on shutdown, and the web half of `serve` must
keep its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from arq import Worker
from arq.connections import ArqRedis

from bot import cardsvc, clicks, commands  # noqa: F401 - registering their outbox, click and text handlers
from bot.jobs import followups, inbound, voice
from bot.services import Services
from bot.voice import buttons, engine  # noqa: F401 - buttons registers the voice-card click handlers
from bot.webhooks import dispatcher as webhook_dispatcher
from bot.webhooks import jobs as webhook_jobs
from bot.worker_heartbeat import beat_forever, stop_beating, worker_id
from storage.redis import connect

log = logging.getLogger(__name__)

FUNCTIONS = [*inbound.FUNCTIONS, *followups.FUNCTIONS, *voice.FUNCTIONS]
CRON_JOBS = [*followups.CRON_JOBS, *webhook_jobs.CRON_JOBS]
# Poll often: a card click waits for the next poll before its job starts (arq's default 0.5 s is too slow).
POLL_DELAY_S = 0.02
SHUTDOWN_GRACE_S = 10.0


def build_worker(services: Services, *, burst: bool = False) -> Worker:
    settings = services.settings
    url = settings.redis_url or services.embedded.url  # type: ignore[union-attr]
    pool = connect(url, ArqRedis)
    return Worker(
        functions=FUNCTIONS,
        cron_jobs=CRON_JOBS,
        redis_pool=pool,
        ctx={"services": services},
        handle_signals=False,
        max_jobs=settings.worker_concurrency,
        job_timeout=settings.job_timeout_s,
        keep_result=3600,
        poll_delay=POLL_DELAY_S,
        max_tries=8,
        burst=burst,
        log_results=False,
        health_check_interval=60,
    )


@contextlib.asynccontextmanager
async def running_worker(services: Services) -> AsyncIterator[Worker]:
    """Run a worker in this event loop for the duration of the block, with its heartbeat and webhook dispatcher.

    The process's speech model is loaded first (once per process), so the first voice note does not wait for it.
    """
    await engine.preload(services.settings)
    worker = build_worker(services)
    wid = worker_id()
    beat = asyncio.create_task(beat_forever(services.redis, wid))
    task = asyncio.create_task(worker.async_run())
    # Webhooks are sent beside arq, not as jobs: a slow CRM must not hold the job slots clicks wait for.
    webhooks = asyncio.create_task(webhook_dispatcher.Dispatcher(services).run())
    log.info("worker %s started (%d job functions)", wid, len(FUNCTIONS))
    try:
        yield worker
    finally:
        webhooks.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await webhooks
        beat.cancel()
        await stop_beating(services.redis, wid)
        # Stop taking jobs, give running ones a moment to finish, then stop polling before the pool closes
        # (closing it under a poll in flight fails that poll). A job cut short is retried by another worker.
        worker.allow_pick_jobs = False
        running = [t for t in worker.tasks.values() if not t.done()]
        if running:
            await asyncio.wait(running, timeout=SHUTDOWN_GRACE_S)
        # Cancel until it stops: a cancellation landing inside a Redis call can be swallowed by the client,
        # and the poll loop then sleeps on as if nothing happened.
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=0.5)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await worker.close()
        log.info("worker %s stopped", wid)


async def drain(services: Services, *, max_rounds: int = 50) -> int:
    """Run queued jobs until none are due (tests and the CLI use this); returns how many ran."""
    ran = 0
    for _ in range(max_rounds):
        worker = build_worker(services, burst=True)
        await worker.main()
        done = worker.jobs_complete + worker.jobs_failed + worker.jobs_retried
        await worker.close()
        ran += done
        if done == 0 or await services.queue.depth() == 0:
            break
    return ran


