"""Long-connection mode in every process: one `LongConnRunner` per active ws-mode Feishu app, kept in step with the
database (as every platform with long connections keeps its runners).

Every `leadbot serve` and `leadbot worker` process runs one; a runner connects only while it holds its app's lease,
so however many processes run there is one live connection per app, and another process takes over once the
holder's lease lapses. Added or re-enabled apps get a runner at the next poll, disabled or deleted ones lose it, and
changed credentials (or API base) replace it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.admin.apps import open_credentials
from bot.platforms.base import Inbound
from bot.platforms.feishu.config import NAME, FeishuCredentials
from bot.platforms.feishu.ingest import queue_inbound
from bot.platforms.feishu.longconn import LongConnRunner
from storage.models import App, AppStatus

if TYPE_CHECKING:
    from bot.runtime.services import Services

log = logging.getLogger(__name__)

POLL_S = 5.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class WsApp:
    app_id: int
    credentials: FeishuCredentials
    api_base: str | None

    def fingerprint(self) -> str:
        # A digest, not the values: the secret never sits in a comparison key or a log line.
        return hashlib.sha256((self.credentials.model_dump_json() + "\n" + (self.api_base or "")).encode()).hexdigest()


async def ws_apps(services: Services) -> list[WsApp]:
    rows = await App.filter(platform=NAME, status=AppStatus.ACTIVE, tenant__active=True).order_by("id")
    out: list[WsApp] = []
    for row in rows:
        try:
            creds = open_credentials(services.box, row)
        except Exception as e:  # one unreadable app must not stop the others
            log.error("feishu app %d: credentials cannot be opened (%s); no long connection", row.id,
                      type(e).__name__)
            continue
        if isinstance(creds, FeishuCredentials) and creds.mode == "ws":
            out.append(WsApp(row.id, creds, row.api_base))
    return out


class LongConnSupervisor:
    def __init__(self, services: Services, *, poll_s: float = POLL_S, runner_options: dict[str, Any] | None = None
                 ) -> None:
        self._services = services
        self._poll_s = poll_s
        self._options = dict(runner_options or {})
        self._running: dict[int, tuple[str, LongConnRunner, asyncio.Task[None]]] = {}
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()

    def runners(self) -> dict[int, LongConnRunner]:
        return {app_id: r[1] for app_id, r in self._running.items()}

    async def reconcile(self) -> None:
        async with self._lock:
            if self._stop.is_set():
                return
            try:
                wanted = {a.app_id: a for a in await ws_apps(self._services)}
            except Exception as e:  # the database being away is no reason to drop live connections
                log.warning("feishu ws supervisor cannot read apps (%s)", type(e).__name__)
                return
            for app_id in [a for a in self._running if a not in wanted]:
                await self._stop_one(app_id)
            for app_id, app in wanted.items():
                current = self._running.get(app_id)
                if current is not None and current[0] == app.fingerprint() and not current[2].done():
                    continue
                await self._stop_one(app_id)
                self._start(app)

    async def run(self) -> None:
        while not self._stop.is_set():
            await self.reconcile()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._stop.wait()

    async def stop(self) -> None:
        self._stop.set()
        async with self._lock:
            await asyncio.gather(*(self._stop_one(app_id) for app_id in list(self._running)))

    def _start(self, app: WsApp) -> None:
        services = self._services

        async def on_inbound(inbound: Inbound) -> None:
            await queue_inbound(services, app.app_id, inbound)

        runner = LongConnRunner(app.app_id, app.credentials, services.redis, on_inbound, api_base=app.api_base,
                                clock=services.clock, **self._options)
        task = asyncio.create_task(runner.run(), name=f"feishu-ws-{app.app_id}")
        self._running[app.app_id] = (app.fingerprint(), runner, task)
        log.info("feishu ws runner started app=%d holder=%s", app.app_id, runner.holder)

    async def _stop_one(self, app_id: int) -> None:
        running = self._running.pop(app_id, None)
        if running is None:
            return
        _, runner, task = running
        await runner.stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_TIMEOUT_S)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        except Exception as e:
            log.error("feishu ws runner of app %d ended with %r", app_id, e)


@contextlib.asynccontextmanager
async def running_longconn_supervisor(services: Services, **options: Any) -> AsyncIterator[LongConnSupervisor]:
    supervisor = LongConnSupervisor(services, **options)
    task = asyncio.create_task(supervisor.run(), name="feishu-ws-supervisor")
    try:
        yield supervisor
    finally:
        await supervisor.stop()
        await asyncio.gather(task, return_exceptions=True)
