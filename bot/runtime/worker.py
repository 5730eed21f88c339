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

from bot.board import kept as board_kept
from bot.jobs import inbound, reclaim, timers
from bot.runtime import wiring
from bot.runtime.dequeue import TakingWorker
from bot.runtime.services import Services
from bot.runtime.wiring import CRON_JOBS, FUNCTIONS
from bot.runtime.worker_heartbeat import beat_forever, stop_beating, worker_id
from bot.voice import engine
from bot.webhooks import dispatcher as webhook_dispatcher
from storage.redis import connect

log = logging.getLogger(__name__)

# Between wake-ups the queue is still polled, for what nobody announces: deferred jobs coming due (timers), arq's own
# retries, a wake-up lost with a connection. A job queued for now wakes the worker at once (`WakingWorker`).
POLL_DELAY_S = 0.1
SHUTDOWN_GRACE_S = 10.0
# How long one wait for a wake-up announcement lasts before the listener checks its connection again.
WAKE_LISTEN_S = 1.0


class WakingWorker(TakingWorker):
    """arq's worker (taking its jobs in one round trip: `TakingWorker`), polling the queue as soon as a job is
    queued rather than at its next poll.

    arq polls on a fixed interval, so a click's job waited 10-20 ms (half the 20 ms poll on average) before it
    started. Here the wait between polls ends early when `wake` is set: by this process's own `Queue` (a `serve`
    with its in-process worker) or by the queue's announcement in Redis (`listen_for_wakes`), and when a job ends
    while every job slot was taken (a queued job may be waiting for that slot).
    """

    def __init__(self, *args, wake: asyncio.Event, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.wake = wake

    async def main(self) -> None:
        # arq's `main`, with its fixed-interval `poll` replaced by a wait that a wake-up ends early.
        if self._pool is None:  # pragma: no cover - build_worker always gives a pool
            raise RuntimeError("WakingWorker needs a Redis pool")
        self.ctx["redis"] = self.pool
        if self.on_startup:
            await self.on_startup(self.ctx)
        while True:
            self.wake.clear()  # a wake-up arriving during the poll below is kept: the next poll follows at once
            await self._poll_iteration()
            if self.burst:
                if 0 <= self.max_burst_jobs <= self._jobs_started():
                    await asyncio.gather(*self.tasks.values())
                    return None
                if await self.pool.zcard(self.queue_name) == 0:
                    await asyncio.gather(*self.tasks.values())
                    return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_delay_s):
                    await self.wake.wait()

    def _release_sem_dec_counter_on_complete(self) -> None:
        full = self.job_counter >= self.max_jobs
        super()._release_sem_dec_counter_on_complete()
        if full:
            self.wake.set()


async def listen_for_wakes(services: Services, wake: asyncio.Event) -> None:
    """Set `wake` whenever a job is announced on the queue's channel (queued by another process); runs until
    cancelled. A broken subscription is opened again after a pause; meanwhile the worker polls."""
    channel = services.queue.wake_channel
    # What this process queues has woken `wake` already (local_wakers).
    own = (services.queue.origin, services.queue.origin.encode())
    while True:
        try:
            async with services.redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(channel)
                while True:
                    message = await pubsub.get_message(timeout=WAKE_LISTEN_S)
                    if message is not None and message.get("data") not in own:
                        wake.set()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # Redis away: polling covers the gap
            log.warning("job wake-up listener lost its subscription (%s: %s); polling meanwhile",
                        type(e).__name__, e)
            await asyncio.sleep(WAKE_LISTEN_S)


def build_worker(services: Services, *, burst: bool = False, cron: bool = True,
                 wake: asyncio.Event | None = None) -> Worker:
    wiring.install()
    settings = services.settings
    url = settings.redis_url or services.embedded.url  # type: ignore[union-attr]
    pool = connect(url, ArqRedis)
    worker = WakingWorker(
        wake=wake or asyncio.Event(),
        functions=FUNCTIONS,
        cron_jobs=CRON_JOBS if cron else None,
        redis_pool=pool,
        # arq hands each job a copy of ctx: what jobs share lives in the objects it holds.
        ctx={"services": services, inbound.NOTED: {}},
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
    # The reclaimer tells the age of arq's in-progress marks from how long they are set to last.
    worker.ctx[reclaim.IN_PROGRESS_S] = worker.in_progress_timeout_s
    return worker


class _Polling:
    """arq's poll loop, started again whenever it dies.

    arq lets a Redis error escape its poll loop and then stops for good, so a Redis restart would leave a worker
    process up but taking no jobs. Here a loop that dies is replaced by a fresh `Worker` (its own pool) after a
    pause that doubles while Redis stays away. The dead loop's running jobs are left to finish: most get through
    (Redis may be back by the time they need it), and those that do not are retried like any failed try.
    """

    RESTART_MIN_S = 0.5
    RESTART_MAX_S = 5.0

    def __init__(self, services: Services, wake: asyncio.Event) -> None:
        self.services = services
        self.wake = wake
        self.worker = build_worker(services, wake=wake)
        self._retired: set[asyncio.Task[None]] = set()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        delay = self.RESTART_MIN_S
        while True:
            started = self.services.clock.monotonic()
            try:
                await self.worker.async_run()
                return
            except Exception as e:
                if self.services.clock.monotonic() - started > 60:
                    delay = self.RESTART_MIN_S
                log.error("worker poll loop stopped (%s: %s); polling again in %.1f s", type(e).__name__, e, delay)
            retiring = asyncio.create_task(_retire(self.worker))
            self._retired.add(retiring)
            retiring.add_done_callback(self._retired.discard)
            await asyncio.sleep(delay)
            delay = min(self.RESTART_MAX_S, delay * 2)
            self.worker = build_worker(self.services, wake=self.wake)
            self.worker.on_startup = self._back

    async def _back(self, ctx: dict) -> None:
        """arq reached Redis again: if it came back empty, re-arm the timers now rather than at the auditor's
        next pass."""
        try:
            await timers.audit(self.services)
        except Exception:  # the auditor cron tries again
            log.exception("checking the timers after an outage failed")

    async def stop(self) -> None:
        """Stop taking jobs, give running ones a moment to finish, then stop polling before the pool closes
        (closing it under a poll in flight fails that poll). A job cut short is retried by another worker."""
        assert self.task is not None
        self.worker.allow_pick_jobs = False
        running = [t for t in self.worker.tasks.values() if not t.done()] + list(self._retired)
        if running:
            await asyncio.wait(running, timeout=SHUTDOWN_GRACE_S)
        # Cancel until it stops: a cancellation landing inside a Redis call can be swallowed by the client,
        # and the poll loop then sleeps on as if nothing happened.
        while not self.task.done():
            self.worker.main_task and self.worker.main_task.cancel()
            self.task.cancel()
            await asyncio.wait([self.task], timeout=0.5)
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        # A poll that was fetching when picking stopped may still have started jobs: the same grace for those.
        if late := [t for t in self.worker.tasks.values() if not t.done()]:
            await asyncio.wait(late, timeout=SHUTDOWN_GRACE_S)
        for t in self.worker.tasks.values():
            t.cancel()  # cut short: its in-progress mark lapses and another worker runs it again
        await asyncio.gather(*self.worker.tasks.values(), return_exceptions=True)
        # arq's close() gathers its job tasks without return_exceptions: one we cut short would raise out of it.
        self.worker.tasks.clear()
        await self.worker.close()
        for t in list(self._retired):
            t.cancel()


async def _retire(worker: Worker) -> None:
    """Let a dead loop's jobs finish, then close its pool."""
    worker.allow_pick_jobs = False
    await asyncio.gather(*worker.tasks.values(), return_exceptions=True)
    with contextlib.suppress(Exception):
        await worker.pool.aclose()


@contextlib.asynccontextmanager
async def running_worker(services: Services) -> AsyncIterator[Worker]:
    """Run a worker in this event loop for the duration of the block, with its heartbeat and webhook dispatcher.

    The process's speech model is loaded first (once per process), so the first voice note does not wait for it.
    Yields the first arq `Worker`; should its poll loop die (Redis went away), another takes its place.
    """
    await engine.preload(services.settings)
    wake = asyncio.Event()
    polling = _Polling(services, wake)
    services.queue.local_wakers.add(wake.set)  # jobs this process queues (serve's callbacks) start at once
    listener = asyncio.create_task(listen_for_wakes(services, wake))
    wid = worker_id()
    await _rearm(services)
    await _backfill_board()
    await _reclaim(services, polling.worker)
    beat = asyncio.create_task(beat_forever(services.redis, wid, services.clock))
    polling.start()
    # Webhooks are sent beside arq, not as jobs: a slow CRM must not hold the job slots clicks wait for.
    webhooks = asyncio.create_task(webhook_dispatcher.Dispatcher(services).run())
    log.info("worker %s started (%d job functions)", wid, len(FUNCTIONS))
    try:
        yield polling.worker
    finally:
        services.queue.local_wakers.discard(wake.set)
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        webhooks.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await webhooks
        beat.cancel()
        await stop_beating(services.redis, wid)
        await polling.stop()
        log.info("worker %s stopped", wid)


async def _rearm(services: Services) -> None:
    """Timers lost with Redis (restart, flush) are queued again from the database before any job runs."""
    try:
        await timers.rearm_all(services)
    except Exception:  # Redis or the database down at start: the auditor cron re-arms once they are back
        log.exception("re-arming timers at start failed")


async def _backfill_board() -> None:
    """The board's kept facts of a database upgraded from a release without them are built before any job runs."""
    try:
        if (written := await board_kept.backfill()) is not None:
            log.info("board facts built from the leads' events: %d", written)
    except Exception:  # the database down at start: `leadbot admin board-rebuild` builds them as well
        log.exception("building the board's facts at start failed")


async def _reclaim(services: Services, worker: Worker) -> None:
    """Jobs a killed worker held are run again now, not once arq's in-progress mark runs out (minutes)."""
    try:
        await reclaim.reclaim(services.redis, worker.in_progress_timeout_s, now=services.clock.time())
        await reclaim.reclaim_outbox(services)
    except Exception:  # Redis or the database down at start: the reclaim cron does it once they are back
        log.exception("taking back the jobs of dead workers failed")


async def drain(services: Services, *, max_rounds: int = 50) -> int:
    """Run queued jobs until none are due (tests and the CLI use this); returns how many ran.

    Deferred jobs not due yet (response-lock and ack timers) stay queued: each round's burst worker stops once the
    jobs due when the round began have started, instead of waiting, as arq's burst mode does, for an empty queue.
    """
    ran = 0
    for _ in range(max_rounds):
        due = await services.queue.depth()
        if due == 0:
            break
        # No cron jobs: what a drain runs is what was queued, not whichever maintenance job's second has come.
        worker = build_worker(services, burst=True, cron=False)
        worker.max_burst_jobs = due
        await worker.main()
        done = worker.jobs_complete + worker.jobs_failed + worker.jobs_retried
        await worker.close()
        ran += done
    return ran

