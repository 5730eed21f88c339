"""A tenant with a sales team on a simulated WeCom app, SMS simulators and a real SMTP server, and the controls the
escalation tests need: a clock for deferred jobs, clicks on the cards the simulator saw, waiting for the worker."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.admin.apps import register_app
from bot.admin.schemas import AppIn
from bot.admin.tenant_settings import seal_notify
from bot.leads import service as leadservice
from bot.leads.actions import Advance, Assign
from bot.leads.types import EventSource, Status
from bot.platforms.base import CardClick, Inbound, InboundKind
from bot.runtime.services import Services
from bot.runtime.worker import drain
from storage import redis_keys
from storage.models import Alert, Deadline, Delivery, Tenant, User
from storage.models import Lead as LeadRow
from tests.sim.wecom import SentCard, WeComSimulator
from tests.support.alerting import sms_settings
from tests.support.leads import take_in
from tests.support.people import make_user
from tests.support.waiting import eventually  # noqa: F401 - the suite's tests import it from here

SH = ZoneInfo("Asia/Shanghai")
AGENT_ID = 1000002
CORP_ID = "wwescalation0001"
SECRET = "sim-secret-escalation-Aq9ZxC7p"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
# A Wednesday in June 2026, 10:00 in Shanghai: an ordinary working morning.
WED_10 = datetime(2026, 6, 3, 10, 0, tzinfo=SH)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


@dataclass
class World:
    services: Services
    sim: WeComSimulator
    tenant: Tenant
    app_id: int
    manager: User
    rep: User
    rep2: User


async def configure(world: World, *, notify: dict[str, Any] | None = None, escalation: dict[str, Any] | None = None,
                    calendar: dict[str, Any] | None = None) -> None:
    """Replace tenant settings sections, sealing the SMS secret as the admin API does."""
    tenant = await Tenant.get(id=world.tenant.id)
    settings = dict(tenant.settings or {})
    if notify is not None:
        settings["notify"] = seal_notify(notify, world.services.box, settings.get("notify"))
    if escalation is not None:
        settings["escalation"] = escalation
    if calendar is not None:
        settings["calendar"] = calendar
    tenant.settings = settings
    await tenant.save()
    world.tenant = tenant


async def make_world(services: Services, sim: WeComSimulator, sms_base: str, provider: str = "aliyun") -> World:
    tenant = await Tenant.create(name=f"华东销售-{uuid.uuid4().hex[:6]}", timezone="Asia/Shanghai")
    manager = await make_user(tenant=tenant, name="王经理", role="manager", wecom_userid="wang",
                                phone="+8613800138001", email="wang.manager@example.com")
    rep = await make_user(tenant=tenant, name="张三", role="rep", manager=manager, wecom_userid="zhang",
                            phone="+8613800138002", email="zhang.san@example.com")
    rep2 = await make_user(tenant=tenant, name="李四", role="rep", manager=manager, wecom_userid="li",
                             phone="+8613800138003", email="li.si@example.com")
    app = await register_app(services.box, services.settings, tenant.id, AppIn.model_validate({
        "platform": "wecom", "name": "销售助手", "api_base": sim.url,
        "credentials": {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": "Tok3nEsc",
                        "encoding_aes_key": AES_KEY}}).root)
    world = World(services, sim, tenant, app.id, manager, rep, rep2)
    await configure(world, notify={"sms": sms_settings(provider, sms_base), "chat_timeout_s": 0.5,
                                   "sms_timeout_s": 2, "ack_timeout_s": {"chat": 600, "sms": 600}})
    return world


async def new_lead(world: World, company: str = "杭州云帆科技", **values: Any) -> int:
    values = {"company": company, "contact_name": "陈总", "phone": "13900001111", "external_id": uuid.uuid4().hex,
              **values}
    return (await take_in(world.services, world.tenant.id, values, leadservice.actor_for(world.manager))).id


async def assign(world: World, lead_id: int, to: User, *, now: datetime) -> None:
    """The manager hands the lead to `to` at `now`: the lock is armed from `now` (its follow-ups run inline)."""
    outcome = await leadservice.act(world.services, lead_id, Assign(leadservice.user_view(to)),
                                    leadservice.actor_for(world.manager), source=EventSource.API, now=now)
    assert outcome.ok, outcome.decision


async def contact(world: World, lead_id: int, *, inline: bool = True, now: datetime | None = None) -> None:
    rep = await User.get(id=(await LeadRow.get(id=lead_id)).assignee_id)
    outcome = await leadservice.act(world.services, lead_id, Advance(Status.CONTACTED), leadservice.actor_for(rep),
                                    source=EventSource.CARD, inline=inline, now=now)
    assert outcome.ok, outcome.decision


async def deadline_of(lead_id: int) -> Deadline:
    return await Deadline.get(lead_id=lead_id, kind="response_lock")


# --- what people saw and did ------------------------------------------------------------------------------------


def cards_to(sim: WeComSimulator, userid: str) -> list[SentCard]:
    return [c for c in sim.cards.values() if c.agent_id == AGENT_ID and userid in c.to]


def alert_cards_to(sim: WeComSimulator, userid: str) -> list[SentCard]:
    return [c for c in cards_to(sim, userid) if c.task_id.startswith("lbal")]


def buttons(card: SentCard) -> dict[str, str]:
    return {b["text"]: b.get("key") or b["url"] for b in card.card.get("button_list", [])}  # a link: its url


async def click(world: World, userid: str, card: SentCard, text: str) -> None:
    """`userid` presses the button `text` on `card` (as the WeCom route would queue it), and the worker runs."""
    key = buttons(card)[text]
    inbound = Inbound(platform="wecom", kind=InboundKind.CARD_CLICK, sender=userid, created_at=world.services.clock.time(),
                      dedup_key=f"click:{uuid.uuid4().hex}",
                      card=CardClick(card_id=card.task_id, key=key, card_type="button_interaction",
                                     response_code=world.sim.issue_response_code(AGENT_ID, card.task_id)))
    await world.services.queue.enqueue_once(redis_keys.dedup("wecom", world.app_id, inbound.dedup_key), 60,
                                            "handle_inbound", app_id=world.app_id, inbound=inbound.to_dict())
    await drain(world.services)


async def alerts_of(lead_id: int, kind: str | None = None) -> list[Alert]:
    qs = Alert.filter(lead_id=lead_id)
    if kind is not None:
        qs = qs.filter(kind=kind)
    return await qs.order_by("id")


async def attempts(alert: Alert) -> list[tuple[str, str, str | None]]:
    """(channel, outcome, code) of every delivery attempt of `alert`, in order."""
    rows = await Delivery.filter(alert_id=alert.id).order_by("id")
    return [(d.channel, d.outcome, d.code) for d in rows]


def later(dt: datetime, **kw: float) -> datetime:
    return dt + timedelta(**kw)
