"""The webhook dispatcher: a loop in every worker process that sends ready deliveries, a bounded number at a time.

It runs beside arq, not as arq jobs, so a slow CRM ties up the dispatcher's own slots and never a job slot a card
click is waiting for. It sleeps until woken (a committed change in this process, a PostgreSQL NOTIFY from another)
or until its short poll interval passes, so a delivery whose wake-up was lost — or whose retry time has come — is
found anyway. The database decides everything: which delivery is ready, who holds it, when it is tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from bot.runtime.services import Services
from bot.webhooks import delivery, metrics, wakeup
from bot.webhooks.retry import DEFAULT, RetryPolicy
from bot.webhooks.sender import Sender
from storage import db

log = logging.getLogger(__name__)

IDLE_POLL_S = 0.5
GAUGES_EVERY_S = 15.0
# On shutdown, sends in flight get this long to finish; one cut short is sent again once its claim lapses.
SHUTDOWN_GRACE_S = 5.0


class Dispatcher:
    def __init__(self, services: Services, *, sender: Sender | None = None, policy: RetryPolicy = DEFAULT,
                 concurrency: int = 16, claim_s: float = delivery.CLAIM_S, idle_poll_s: float = IDLE_POLL_S) -> None:
        self.services = services
        self.sender = sender or Sender(allow_private=services.settings.allow_private_urls)
        self._own_sender = sender is None
        self.policy = policy
        self.concurrency = concurrency
        self.claim_s = claim_s
        self.idle_poll_s = idle_poll_s
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._gauges_at = float("-inf")
        self._listener: wakeup.PgListener | None = None
        self._secrets = delivery.SecretCache(services.box)

    def wake(self) -> None:
        self._wake.set()

    async def fill(self) -> int:
        """Claim and start as many ready deliveries as there are free slots; returns how many started."""
        free = self.concurrency - len(self._inflight)
        if free <= 0:
            return 0
        # Some of these may be taken by another dispatcher before the claim: those are simply not returned.
        now = self.services.clock.now()
        rows = await delivery.claim(await delivery.ready_ids(free, now), now, self.claim_s)
        for row in rows:
            task = asyncio.create_task(self._send(row))
            self._inflight.add(task)
            task.add_done_callback(self._done)
        return len(rows)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()  # a slot is free, and the lead's next event may be ready now

    async def _send(self, row: delivery.WebhookDelivery) -> None:
        try:
            await delivery.attempt(self._secrets, self.sender, row, self.policy, clock=self.services.clock,
                                   redis=self.services.redis)
        except Exception:  # the claim lapses and another pass retries it; the loop itself must go on
            log.exception("webhook delivery %d failed unexpectedly", row.id)

    async def _wait(self) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives as the event
        # is set, and this loop then polled on forever; a stopping worker (or a test) waited for it without end.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.idle_poll_s):
                await self._wake.wait()
        self._wake.clear()

    async def refresh_gauges(self) -> None:
        if self.services.clock.monotonic() - self._gauges_at < GAUGES_EVERY_S:
            return
        self._gauges_at = self.services.clock.monotonic()
        depth, age = await delivery.backlog(self.services.clock.now())
        metrics.DEPTH.set(depth)
        metrics.OLDEST_PENDING_S.set(age)
        if self._listener is not None:
            await self._listener.ensure()

    async def run(self) -> None:
        """Dispatch until cancelled."""
        wakeup.register(self._wake)
        if db.dialect() == "postgres":
            self._listener = wakeup.PgListener(self.services.settings.effective_database_url(), self._wake)
            await self._listener.ensure()
        try:
            while True:
                try:
                    await self.refresh_gauges()
                    if await self.fill() == 0:
                        await self._wait()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the database went away for a moment: wait, then poll again
                    log.exception("webhook dispatcher pass failed")
                    await asyncio.sleep(self.idle_poll_s)
        finally:
            wakeup.unregister(self._wake)
            await self._stop()

    async def _stop(self) -> None:
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=SHUTDOWN_GRACE_S)
        for task in list(self._inflight):
            task.cancel()
        if self._listener is not None:
            await self._listener.close()
        if self._own_sender:
            await self.sender.close()

    async def __aenter__(self) -> Dispatcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stop()

    async def run_until_idle(self, timeout_s: float = 30.0) -> None:
        """Send until nothing is ready or in flight (tests and the benchmark), without the loop of `run` (use one or
        the other); retries that are not due yet are left for later."""
        # Real time, not the services' clock: a test's stopped clock must not make this wait forever.
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            started = await self.fill()
            if not started and not self._inflight:
                return
            if self._inflight:
                # Bounded by the same deadline: a send that never settles must not hold this past its limit.
                await asyncio.wait(list(self._inflight), return_when=asyncio.FIRST_COMPLETED,
                                   timeout=max(0.0, deadline - time.monotonic()))


@contextlib.asynccontextmanager
async def running(services: Services, **kwargs: object) -> AsyncIterator[Dispatcher]:
    """A dispatcher running in this event loop for the duration of the block."""
    dispatcher = Dispatcher(services, **kwargs)  # type: ignore[arg-type]
    task = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
