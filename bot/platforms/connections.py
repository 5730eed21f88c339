"""One supervisor for every platform's long connections (for apps without a public URL: the platform pushes events
over a socket we open): a runner per active app in that mode, kept in step with the database.

Every `leadbot serve` and `leadbot worker` process runs one per such platform; a runner connects only while it holds
its app's Redis lease (`bot.platforms.lease`), so however many processes run there is one live connection per app,
and when its holder dies another process takes over once the lease lapses. The supervisor re-reads the apps every
few seconds: an added or re-enabled app gets a runner, a disabled or deleted one loses it, and changed credentials
(or API base) replace it.

A runner's `on_inbound` is the de-duplicate-and-queue of the HTTP routes (`bot.platforms.ingest`): it raises when
Redis is down, so the frame is not acknowledged and the platform delivers it again.

What is the platform's own: which apps connect (`connects`, on their opened credentials) and how a runner is built
(`make_runner`). The platform packages give those; the loop is here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from bot.admin.apps import open_credentials
from bot.platforms.base import Inbound
from bot.platforms.ingest import queue_inbound
from storage.models import App, AppStatus

if TYPE_CHECKING:
    from bot.runtime.services import Services

log = logging.getLogger(__name__)

POLL_S = 5.0  # how soon an added, disabled or re-keyed app is noticed
STOP_TIMEOUT_S = 10.0

OnInbound = Callable[[Inbound], Awaitable[None]]


class Runner(Protocol):
    """One app's connection: `run()` until `stop()`, connecting only while it holds the app's lease."""

    holder: str

    async def run(self) -> None: ...

    async def stop(self) -> None: ...

    def status(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class ConnectedApp:
    """What a runner is built from; a change in any of it means a new runner."""

    app_id: int
    credentials: BaseModel
    api_base: str | None

    def fingerprint(self) -> str:
        # A digest, not the values: the secret never sits in a comparison key or a log line.
        text = self.credentials.model_dump_json() + "\n" + (self.api_base or "")
        return hashlib.sha256(text.encode()).hexdigest()


async def connected_apps(services: Services, platform: str,
                         connects: Callable[[BaseModel], bool]) -> list[ConnectedApp]:
    """The platform's active apps (of active tenants) whose opened credentials ask for a long connection."""
    rows = await App.filter(platform=platform, status=AppStatus.ACTIVE, tenant__active=True).order_by("id")
    out: list[ConnectedApp] = []
    for row in rows:
        try:
            creds = open_credentials(services.box, row)
        except Exception as e:  # one unreadable app (wrong master key, bad row) must not stop the others
            log.error("%s app %d: credentials cannot be opened (%s); no long connection", platform, row.id,
                      type(e).__name__)
            continue
        if connects(creds):
            out.append(ConnectedApp(row.id, creds, row.api_base))
    return out


@dataclass
class _Running:
    fingerprint: str
    runner: Runner
    task: asyncio.Task[None]


class ConnectionSupervisor:
    """Starts, replaces and stops this process's runners of one platform. `reconcile()` is one pass; `run()` loops
    it."""

    def __init__(self, services: Services, *, platform: str, connects: Callable[[BaseModel], bool],
                 make_runner: Callable[[ConnectedApp, OnInbound], Runner], poll_s: float = POLL_S) -> None:
        self._services = services
        self._platform = platform
        self._connects = connects
        self._make_runner = make_runner
        self._poll_s = poll_s
        self._running: dict[int, _Running] = {}
        self._stop = asyncio.Event()
        # One pass at a time, and none after stop(): a pass still reading the database must not start a runner
        # that stop() has already gone past.
        self._lock = asyncio.Lock()

    def runners(self) -> dict[int, Any]:
        return {app_id: r.runner for app_id, r in self._running.items()}

    def status(self) -> list[dict[str, Any]]:
        return [r.runner.status() for _, r in sorted(self._running.items())]

    async def reconcile(self) -> None:
        """Bring the runners in line with the database. A database error keeps the current runners."""
        async with self._lock:
            if not self._stop.is_set():
                await self._reconcile()

    async def _reconcile(self) -> None:
        try:
            wanted = {a.app_id: a for a in await connected_apps(self._services, self._platform, self._connects)}
        except Exception as e:  # the database being away is not a reason to drop live connections
            log.warning("%s connection supervisor cannot read apps (%s); keeping %d runner(s)", self._platform,
                        type(e).__name__, len(self._running))
            return
        for app_id in [a for a in self._running if a not in wanted]:
            log.info("%s app %d is gone, disabled or no longer connects: stopping its runner", self._platform, app_id)
            await self._stop_one(app_id)
        for app_id, app in wanted.items():
            current = self._running.get(app_id)
            if current is not None and current.fingerprint == app.fingerprint() and not current.task.done():
                continue
            if current is not None:
                reason = "runner ended" if current.task.done() else "credentials changed"
                log.info("%s app %d: %s, restarting its runner", self._platform, app_id, reason)
                await self._stop_one(app_id)
            self._start(app)

    async def run(self) -> None:
        """Reconcile every `poll_s` until `stop()`."""
        while not self._stop.is_set():
            await self.reconcile()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):  # not wait_for: see bot/webhooks/dispatcher.py `_wait`
                    await self._stop.wait()

    async def stop(self) -> None:
        """Stop polling and every runner (each lets in-flight frames finish and releases its lease)."""
        self._stop.set()
        async with self._lock:
            # Together: each runner may wait a few seconds for its in-flight frames, and a shutdown should not
            # take that long once per app.
            await asyncio.gather(*(self._stop_one(app_id) for app_id in list(self._running)))

    def _start(self, app: ConnectedApp) -> None:
        services, platform = self._services, self._platform

        async def on_inbound(inbound: Inbound) -> None:
            await queue_inbound(services, platform, app.app_id, inbound)

        runner = self._make_runner(app, on_inbound)
        task = asyncio.create_task(runner.run(), name=f"{self._platform}-connection-{app.app_id}")
        task.add_done_callback(functools.partial(_report_end, self._platform, app.app_id))
        self._running[app.app_id] = _Running(app.fingerprint(), runner, task)
        log.info("%s connection runner started app=%d holder=%s", self._platform, app.app_id, runner.holder)

    async def _stop_one(self, app_id: int) -> None:
        running = self._running.pop(app_id, None)
        if running is None:
            return
        await running.runner.stop()
        try:
            await asyncio.wait_for(asyncio.shield(running.task), STOP_TIMEOUT_S)
        except TimeoutError:
            running.task.cancel()
            await asyncio.gather(running.task, return_exceptions=True)
        except Exception:  # already reported by _report_end
            pass


def _report_end(platform: str, app_id: int, task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("%s connection runner of app %d crashed: %r (restarted at the next poll)", platform, app_id,
                  task.exception())


@contextlib.asynccontextmanager
async def supervising(supervisor: ConnectionSupervisor) -> AsyncIterator[ConnectionSupervisor]:
    """Run the supervisor's loop for the duration of the block; stop it and its runners after."""
    task = asyncio.create_task(supervisor.run(), name=f"{supervisor._platform}-connection-supervisor")
    try:
        yield supervisor
    finally:
        await supervisor.stop()
        await asyncio.gather(task, return_exceptions=True)
