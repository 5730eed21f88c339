"""Everything the service runs, listed in one place: the chat platforms, the jobs and crons the workers run, the
handler of each kind of inbound message, of each card button, of each outbox follow-up, the hooks a lead change runs,
and the HTTP routes.

Nothing registers itself when imported (a handler that only worked because some module happened to import it was
how a button went dead after a refactor); `install()` puts these tables into the registries the dispatchers read,
and every entry point calls it: the CLI (so `serve`, `worker` and every command), `create_app`, `build_worker`, and
the tests' set-up. Like arq's `WorkerSettings.functions` or aiogram's `include_router`: read this file to know what
runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from bot.admin import platform_ids, schemas
from bot.alerting import alerts, deadlines
from bot.board import kept as board_kept
from bot.chat import cards, clicks, commands, testcard
from bot.jobs import board, followups, inbound, reclaim, timers, voice
from bot.jobs import directory as directory_jobs
from bot.leads import store as leadstore
from bot.platforms import dingtalk, feishu, registry, wecom
from bot.platforms.base import InboundKind
from bot.platforms.plugin import PlatformPlugin
from bot.runtime import outbox
from bot.voice import buttons
from bot.webhooks import jobs as webhook_jobs
from bot.webhooks import record as webhook_record
from cards.keys import KeyAction
from handlers import admin, exports, health, holidays, leads, lexicon, openapi, settings, webhooks
from handlers import alerts as alert_routes
from handlers import board as board_routes
from handlers import console as console_routes
from handlers import dingtalk as dingtalk_routes
from handlers import feishu as feishu_routes
from handlers import wecom as wecom_routes
from handlers.http import errors, observe

# --- the chat platforms ------------------------------------------------------------------------------------------

# Each is its package's `PLATFORM` (`bot/platforms/<name>/`: credentials, adapter, cards, console steps...) with its
# HTTP callback routes (`handlers/<name>.py`). Generic code reads them from `bot.platforms.registry`; the first is
# the console's default.
PLATFORMS: Sequence[PlatformPlugin] = (
    wecom.PLATFORM.with_routes(wecom_routes.setup),
    dingtalk.PLATFORM.with_routes(dingtalk_routes.setup),
    feishu.PLATFORM.with_routes(feishu_routes.setup),
)

# --- the worker: jobs and crons ---------------------------------------------------------------------------------

FUNCTIONS = [*inbound.FUNCTIONS, *followups.FUNCTIONS, *voice.FUNCTIONS, *timers.FUNCTIONS]
# A cron run keeps its result a while: arq refuses to queue a job id that has one, so another worker's cron, a moment
# behind, does not queue the same run again after it finished. arq keeps none for cron jobs by default, and such a
# second copy sat behind the finished run's in-progress mark (kept a minute) until the reclaimer "took it back".
CRON_RESULT_S = 300
CRON_JOBS = [dataclasses.replace(c, keep_result_s=CRON_RESULT_S)
             for c in (*followups.CRON_JOBS, *webhook_jobs.CRON_JOBS, *timers.CRON_JOBS, *board.CRON_JOBS,
                       *reclaim.CRON_JOBS, *directory_jobs.CRON_JOBS)]

# --- what a message from chat does ------------------------------------------------------------------------------

INBOUND: Mapping[InboundKind, inbound.InboundHandler] = {
    InboundKind.CARD_CLICK: clicks.handle_click,
    InboundKind.TEXT: commands.on_text,
    InboundKind.VOICE: voice.on_voice,
}
# Card buttons with their own handler; every other button is a lead action (`clicks.on_lead_button`).
CLICKS: Mapping[KeyAction, clicks.ClickHandler] = {
    KeyAction.REFRESH: clicks.on_refresh,
    KeyAction.TEST: testcard.on_test_click,
    KeyAction.ACK: alerts.on_ack,
    KeyAction.CLAIM: alerts.on_claim,
    KeyAction.CONFIRM: buttons.on_confirm,
    KeyAction.CORRECT: buttons.on_correct,
    KeyAction.ADD_CONTACT: buttons.on_add_contact,
    KeyAction.PICK: buttons.on_pick,
}

# --- what a lead change leads to ----------------------------------------------------------------------------------

# Follow-ups carried out after the commit, by outbox kind.
OUTBOX: Mapping[str, outbox.Handler] = {
    "send_lead_card": cards.send_lead_card,
    "render_cards": cards.render_cards,
    "arm_lock": timers.arm_lock_followup,
    "cancel_lock": timers.cancel_lock_followup,
    "notify": timers.notify_followup,
    "escalate": timers.escalate_followup,
}
# Follow-ups whose database part is written in the change's own transaction (`leadstore.WRITTEN_WITH_CHANGE`).
WRITTEN_WITH_CHANGE: Mapping[str, leadstore.RowWriter] = {
    "arm_lock": deadlines.arm_lock,
    "cancel_lock": deadlines.cancel_lock,
}
# Of those, the ones with no part outside the database: done with the change, their outbox row is stored done.
COMPLETED_WITH_CHANGE = frozenset({"cancel_lock"})
# Run in the transaction of every lead change, and after its commit.
ON_CHANGE: Sequence[Callable[[leadstore.StoredChange], Any]] = (webhook_record.capture_lead_change,
                                                                 board_kept.record)
AFTER_COMMIT: Sequence[Callable[[leadstore.StoredChange], None]] = (webhook_record.wake_after_commit,)

# --- HTTP -------------------------------------------------------------------------------------------------------

# Outermost first: the access log and request id around everything, then errors answered as problem documents.
MIDDLEWARES = (observe, errors)
# The admin and lead API: each of these collects its routes in its own `API`; `install()` includes them in
# `openapi.API`, which `openapi.setup` mounts and documents.
API_MODULES = (admin, exports, holidays, leads, lexicon, settings, webhooks)
# Each mounts its own routes.
ROUTES: Sequence[Callable[[web.Application], None]] = (
    health.setup, openapi.setup, *(p.routes for p in PLATFORMS if p.routes), alert_routes.setup,
    board_routes.setup, console_routes.setup,
)


_installed = False


def install() -> None:
    """Put the tables into the registries the dispatchers read, once per process: every entry point calls it, and a
    later call (a second app in the same process) changes nothing, not even what a test put in on purpose."""
    global _installed
    if _installed:
        return
    registry.install(PLATFORMS)
    platform_ids.bind_platforms(registry.all())
    schemas.bind_platforms(registry.all())
    inbound.HANDLERS.update(INBOUND)
    clicks.HANDLERS.update(CLICKS)
    outbox.HANDLERS.update(OUTBOX)
    leadstore.WRITTEN_WITH_CHANGE.update(WRITTEN_WITH_CHANGE)
    leadstore.COMPLETED_WITH_CHANGE.update(COMPLETED_WITH_CHANGE)
    leadstore.IN_TRANSACTION.extend(ON_CHANGE)
    leadstore.AFTER_COMMIT.extend(AFTER_COMMIT)
    openapi.API.include(*(module.API for module in API_MODULES))
    _installed = True


def mount(app: web.Application) -> None:
    for setup in ROUTES:
        setup(app)
