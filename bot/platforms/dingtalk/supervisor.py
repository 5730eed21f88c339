"""Stream mode in every process: one `StreamRunner` per active stream-mode DingTalk app, kept in step with the
database.

Every `leadbot serve` and `leadbot worker` process runs a supervisor; each runner only connects while it holds its
app's Redis lease, so however many processes run there is one live connection per app, and when its holder dies
another process takes over once the lease lapses. The supervisor re-reads the apps every few seconds: an added or
re-enabled app gets a runner, a disabled or deleted one loses it, and changed credentials (or API base) replace it.

A runner's `on_inbound` is the HTTP routes' de-duplicate-and-queue (`ingest.queue_inbound`): it raises when Redis is
down, so the frame is not ACKed and DingTalk redelivers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.admin.apps import open_credentials
from bot.platforms.base import Inbound
from bot.platforms.dingtalk.config import NAME, DingTalkCredentials
from bot.platforms.dingtalk.ingest import queue_inbound
from bot.platforms.dingtalk.stream import StreamRunner
from storage.models import App, AppStatus

if TYPE_CHECKING:
    from bot.runtime.services import Services

log = logging.getLogger(__name__)

POLL_S = 5.0  # how soon an added, disabled or re-keyed app is noticed
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class StreamApp:
    """What a runner is built from; a change in any of it means a new runner."""

    app_id: int
    credentials: DingTalkCredentials
    api_base: str | None

    def fingerprint(self) -> str:
        # A digest, not the values: the secret never sits in a comparison key or a log line.
        text = self.credentials.model_dump_json() + "\n" + (self.api_base or "")
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Running:
    fingerprint: str
    runner: StreamRunner
    task: asyncio.Task[None]


async def stream_apps(services: Services) -> list[StreamApp]:
    """The active DingTalk apps in Stream mode, with their credentials opened."""
    rows = await App.filter(platform=NAME, status=AppStatus.ACTIVE,
                            tenant__active=True).order_by("id")
    out: list[StreamApp] = []
    for row in rows:
        try:
            creds = open_credentials(services.box, row)
        except Exception as e:  # one unreadable app (wrong master key, bad row) must not stop the others
            log.error("dingtalk app %d: credentials cannot be opened (%s); no stream", row.id, type(e).__name__)
            continue
        if isinstance(creds, DingTalkCredentials) and creds.mode == "stream":
            out.append(StreamApp(row.id, creds, row.api_base))
    return out


class StreamSupervisor:
    """Starts, replaces and stops this process's Stream runners. `reconcile()` is one pass; `run()` loops it."""

    def __init__(self, services: Services, *, poll_s: float = POLL_S, gateway_base: str | None = None,
                 runner_options: dict[str, Any] | None = None) -> None:
        self._services = services
        self._poll_s = poll_s
        # Normally each app's api_base (or DingTalk's host) serves connections/open; tests may point elsewhere.
        self._gateway_base = gateway_base
        self._runner_options = dict(runner_options or {})
        self._running: dict[int, _Running] = {}
        self._stop = asyncio.Event()
        # One pass at a time, and none after stop(): a pass still reading the database must not start a runner
        # that stop() has already gone past.
        self._lock = asyncio.Lock()

    def runners(self) -> dict[int, StreamRunner]:
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
            wanted = {a.app_id: a for a in await stream_apps(self._services)}
        except Exception as e:  # the database being away is not a reason to drop live streams
            log.warning("stream supervisor cannot read apps (%s); keeping %d runner(s)", type(e).__name__,
                        len(self._running))
            return
        for app_id in [a for a in self._running if a not in wanted]:
            log.info("stream app %d is gone or disabled: stopping its runner", app_id)
            await self._stop_one(app_id)
        for app_id, app in wanted.items():
            current = self._running.get(app_id)
            if current is not None and current.fingerprint == app.fingerprint() and not current.task.done():
                continue
            if current is not None:
                reason = "runner ended" if current.task.done() else "credentials changed"
                log.info("stream app %d: %s, restarting its runner", app_id, reason)
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

    def _start(self, app: StreamApp) -> None:
        services = self._services

        async def on_inbound(inbound: Inbound) -> None:
            await queue_inbound(services, app.app_id, inbound)

        runner = StreamRunner(app.app_id, app.credentials, services.redis, on_inbound,
                              gateway_base=self._gateway_base or app.api_base, session=services.http,
                              allow_private=services.settings.allow_private_urls, clock=services.clock,
                              **self._runner_options)
        task = asyncio.create_task(runner.run(), name=f"dingtalk-stream-{app.app_id}")
        task.add_done_callback(functools.partial(_report_end, app.app_id))
        self._running[app.app_id] = _Running(app.fingerprint(), runner, task)
        log.info("stream runner started app=%d holder=%s", app.app_id, runner.holder)

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


def _report_end(app_id: int, task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("stream runner of app %d crashed: %r (restarted at the next poll)", app_id, task.exception())


@contextlib.asynccontextmanager
async def running_stream_supervisor(services: Services, **options: Any) -> AsyncIterator[StreamSupervisor | None]:
    """Run a supervisor for the duration of the block, unless LEADBOT_DINGTALK_STREAM turns it off."""
    if not services.settings.dingtalk_stream:
        log.info("dingtalk stream supervision is off in this process")
        yield None
        return
    supervisor = StreamSupervisor(services, **options)
    task = asyncio.create_task(supervisor.run(), name="dingtalk-stream-supervisor")
    try:
        yield supervisor
    finally:
        await supervisor.stop()
        await asyncio.gather(task, return_exceptions=True)
