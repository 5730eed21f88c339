"""Helpers for the WeCom end-to-end tests: leads through the real core, cards as the simulator shows them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from arq.connections import ArqRedis

from bot.admin.apps import AppCache, register_app
from bot.admin.schemas import AppIn
from bot.jobs import inbound
from bot.leads import store as leadstore
from bot.platforms.base import InboundKind
from bot.platforms.registry import AdapterCache
from bot.runtime.queue import Queue
from bot.runtime.services import Services
from bot.runtime.tokens import TokenBroker
from bot.runtime.worker import drain
from storage.models import Lead, LeadEvent, Tenant, User
from storage.redis import connect
from tests.sim.wecom import SentCard, WeComSimulator
from tests.support.leads import take_in

AGENT_ID = 1000002
SECRET = "e2e-sim-secret-7Hq2Lm9Zx4"
CALLBACK_TOKEN = "e2eCallbackTok3n"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
REP, MANAGER, STRANGER = "rep1", "mgr1", "rep2"


@dataclass
class World:
    tenant: Tenant
    app_id: int
    manager: User
    rep: User
    stranger: User  # a rep of the same tenant, not the rep's manager
    url: str  # the app's callback URL on the test server


async def register_wecom_app(services: Services, tenant_id: int, *, corp_id: str, agent_id: int = AGENT_ID,
                             secret: str = SECRET, token: str = CALLBACK_TOKEN, aes_key: str = AES_KEY,
                             api_base: str | None = None, name: str = "销售助手") -> int:
    data = AppIn.model_validate({
        "platform": "wecom", "name": name, "api_base": api_base,
        "credentials": {"corp_id": corp_id, "agent_id": agent_id, "secret": secret, "token": token,
                        "encoding_aes_key": aes_key},
    }).root
    return (await register_app(services.box, services.settings, tenant_id, data)).id


LEAD = {"company": "杭州云帆科技有限公司", "contact_name": "陈明", "source": "官网表单", "region": "华东",
        "industry": "制造", "intent": "medium"}


async def new_lead(services: Services, tenant: Tenant, external_id: str, **values: Any) -> Lead:
    """A lead taken in through the core (routed, its card sent by the worker), as the lead API does it."""
    row = await take_in(services, tenant.id, {**LEAD, "external_id": external_id, **values})
    await drain(services)
    await row.refresh_from_db()
    return row


def cards_of(sim: WeComSimulator, userid: str) -> list[SentCard]:
    """Interactive cards the simulator delivered to `userid`, oldest first."""
    return [c for c in sim.cards.values() if c.agent_id == AGENT_ID and userid in c.to]


def status_on(card: SentCard) -> str:
    return card.shown["source"]["desc"]


def button_key(card: SentCard, text: str) -> str:
    buttons = {b["text"]: b["key"] for b in card.shown.get("button_list", [])}
    assert text in buttons, f"no button {text!r} on the card; it has {sorted(buttons)}"
    return buttons[text]


async def history(lead_id: int) -> list[tuple[str, str, str]]:
    """(action, status before, status after) of every audit event of the lead, in order."""
    return [(e.action, e.before.get("status", ""), e.after.get("status", "")) for e, _ in
            await leadstore.events_of(lead_id)]


async def event_count(lead_id: int) -> int:
    return await LeadEvent.filter(lead_id=lead_id).count()


@contextlib.contextmanager
def inbound_handler(kind: InboundKind, handler: inbound.InboundHandler) -> Iterator[None]:
    """Register `handler` for `kind` for the block, restoring whatever was registered before."""
    old = inbound.HANDLERS.get(kind)
    inbound.HANDLERS[kind] = handler
    try:
        yield
    finally:
        if old is None:
            inbound.HANDLERS.pop(kind, None)
        else:
            inbound.HANDLERS[kind] = old


@contextlib.asynccontextmanager
async def another_process(services: Services, redis_url: str | None = None) -> AsyncIterator[Services]:
    """What a second `leadbot` process holds: its own Redis pool, token broker, HTTP client, app and adapter
    caches, on the same database (and on the same Redis unless `redis_url` names another)."""
    url = redis_url or services.settings.redis_url
    assert url is not None
    redis = connect(url, ArqRedis)
    http = aiohttp.ClientSession()
    settings = services.settings.model_copy(update={"redis_url": url})
    try:
        yield Services(settings=settings, redis=redis, queue=Queue(redis), box=services.box,
                       broker=TokenBroker(redis, services.box), http=http, admin_token=services.admin_token,
                       apps=AppCache(services.box), adapters=AdapterCache())
    finally:
        await http.close()
        await redis.aclose()
