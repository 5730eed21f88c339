"""The aiohttp application factory, used by `leadbot serve` and by the tests.

`create_app(services)` wires routes and middleware around resources opened elsewhere, so tests can build an app on
their own database and Redis and `serve` can share one `Services` between the web half and its in-process worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot.appkeys import SERVICES
from bot.config import Settings
from bot.jobs.timers import rearm_all
from bot.services import Services

# These declare their routes on the registry that openapi.setup adds (and documents).
from handlers import (  # noqa: F401
    admin,
    alerts,
    board,
    console,
    dingtalk,
    exports,
    health,
    holidays,
    leads,
    lexicon,
    openapi,
    settings,
    webhooks,
    wecom,
)
from handlers.http import errors, observe

log = logging.getLogger(__name__)


def create_app(services: Services) -> web.Application:
    # client_max_size bounds what aiohttp will buffer; handlers also check Content-Length first for a clean 413.
    app = web.Application(middlewares=[observe, errors], client_max_size=services.settings.max_body_bytes)
    app[SERVICES] = services
    health.setup(app)
    openapi.setup(app)
    wecom.setup(app)
    dingtalk.setup(app)
    alerts.setup(app)
    board.setup(app)
    console.setup(app)
    app.cleanup_ctx.append(_rearm_timers)
    return app


def make_runner(app: web.Application, config: Settings) -> web.AppRunner:
    """The runner `leadbot serve` listens with. aiohttp's own default keeps an idle connection (or one still
    trickling its headers) for an hour outside `run_app`; ours closes it after `keepalive_timeout_s`."""
    return web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=config.keepalive_timeout_s)


async def _rearm_timers(app: web.Application) -> AsyncIterator[None]:
    """Re-arm timers from the database when the web process starts (in the background: it must answer at once).
    Each worker does the same at its start; the auditor catches any loss in between."""
    async def rearm() -> None:
        try:
            await rearm_all(app[SERVICES])
        except Exception:  # Redis or the database down at start: the auditor re-arms once they are back
            log.exception("re-arming timers at start failed")

    task = asyncio.create_task(rearm())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
