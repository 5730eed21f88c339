"""The job behind every platform callback: find the app and the sender, then hand the message to its handler."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import Q

from bot.jobs import SHORT_RESULT_S, job, services
from bot.platforms.base import Inbound, InboundKind
from bot.runtime.logs import bind
from storage.models import App

log = logging.getLogger(__name__)

# kind -> handler(ctx, app_id, inbound): card clicks, voice, text commands; filled by `bot.runtime.wiring.install`.
InboundHandler = Callable[[dict[str, Any], int, Inbound], Awaitable[None]]
HANDLERS: dict[InboundKind, InboundHandler] = {}


# In the worker's ctx (one dict for all its jobs, `bot.runtime.worker`): app id -> the newest callback time written
# for it.
NOTED = "noted_callbacks"


async def _note_callback(ctx: dict[str, Any], app_id: int, message: Inbound, now: datetime) -> None:
    """When the platform last reached us for this app (`verify` reports it), on the platform's own time stamp
    (ours when it gave none); written at most once a minute per app.

    The column only moves forward, so once this worker wrote a time within the minute before `at`, the write would
    change nothing: it is not made (a write a click, otherwise, even when it matched no row)."""
    at = datetime.fromtimestamp(message.created_at, UTC) if message.created_at else now
    noted: dict[int, datetime] = ctx.setdefault(NOTED, {})
    last = noted.get(app_id)
    if last is not None and at - timedelta(minutes=1) <= last:
        return
    stale = Q(last_callback_at__isnull=True) | Q(last_callback_at__lt=at - timedelta(minutes=1))
    if await App.filter(Q(id=app_id) & stale).update(last_callback_at=at):
        noted[app_id] = at
    elif (written := await App.filter(id=app_id).values_list("last_callback_at", flat=True)) and written[0]:
        noted[app_id] = written[0]  # another worker wrote it within the minute: from then on, as if we had


@job(keep_result_s=SHORT_RESULT_S)
async def handle_inbound(ctx: dict[str, Any], app_id: int, inbound: dict[str, Any]) -> None:
    message = Inbound.from_dict(inbound)
    bind(app=app_id)
    app = await services(ctx).apps.get(app_id)
    if app is None or not app.active:
        log.warning("dropping %s from app %s: the app is gone or disabled", message.kind, app_id)
        return
    bind(tenant=app.tenant_id)
    await _note_callback(ctx, app_id, message, services(ctx).clock.now())
    handler = HANDLERS.get(message.kind)
    if handler is None:
        log.info("no handler for %s from app %d; ignored", message.kind, app_id)
        return
    await handler(ctx, app_id, message)


FUNCTIONS = [handle_inbound]
