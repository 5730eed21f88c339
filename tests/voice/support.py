"""A tenant with a WeCom app on the simulator, a manager and two reps, and leads moved along by the real workflow.

Messages come in as the WeCom route would queue them: the simulator's callback XML, parsed by the platform's own
parser, de-duplicated and enqueued with `Queue.enqueue_once`, then run by a real arq worker (`drain`).
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np

from bot.admin.apps import register_app
from bot.admin.schemas import AppIn
from bot.leads import service as leadservice
from bot.leads import store as leadstore
from bot.leads import types as lt
from bot.leads.actions import Advance, Assign
from bot.platforms.base import Inbound
from bot.platforms.wecom.config import WeComCredentials
from bot.platforms.wecom.events import parse_inbound
from bot.runtime.services import Services
from bot.runtime.worker import drain
from cards.keys import ButtonKey, KeyAction
from storage import redis_keys
from storage.models import App, Role, Tenant, User
from tests.sim.wecom import CallbackSender, SentCard, WeComSimulator
from tests.support.people import make_user

CST = timezone(timedelta(hours=8))
# Every message is sent at this moment (a Monday): "下周三" in a note is then 2026-11-25.
SENT_AT = datetime(2026, 11, 16, 11, 0, tzinfo=CST)
AGENT_ID = 1000002
SECRET = "sim-secret-Aq9ZxC7pLm2Vb5Nk"
CALLBACK_TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
MEMBERS = {"rep1", "rep2", "mgr1", "stranger"}  # "stranger" is in the app but not a user of the tenant


@dataclass
class WeComWorld:
    services: Services
    sim: WeComSimulator
    sender: CallbackSender
    app: App
    tenant: Tenant
    manager: User
    rep: User
    rep2: User

    async def deliver(self, xml: bytes) -> Inbound:
        """Queue a callback's message exactly as the route does (de-duplicated on its dedup key), then run it."""
        message = parse_inbound(xml)
        await self.services.queue.enqueue_once(
            redis_keys.dedup("wecom", self.app.id, message.dedup_key), self.services.settings.dedup_ttl_s,
            "handle_inbound", app_id=self.app.id, inbound=message.to_dict(),
        )
        await drain(self.services)
        return message

    async def voice(self, userid: str, media_id: str, audio: bytes, content_type: str = "audio/amr") -> Inbound:
        self.sim.add_media(media_id, audio, content_type)
        return await self.deliver(self.sender.voice(userid, media_id))

    async def text(self, userid: str, content: str) -> Inbound:
        return await self.deliver(self.sender.text(userid, content))

    async def click(self, userid: str, card: SentCard, text: str) -> Inbound:
        """Press the button labelled `text` on the card as it is shown now (after its latest update)."""
        key = button_key(shown(card), text)
        # Built here rather than by `CallbackSender.click`, which only knows the buttons the card was sent with.
        code = self.sim.issue_response_code(AGENT_ID, card.task_id)
        xml = self.sender.event(userid, "template_card_event", EventKey=key, TaskId=card.task_id,
                                CardType="button_interaction", ResponseCode=code)
        return await self.deliver(xml)

    def cards_to(self, userid: str) -> list[SentCard]:
        return [c for c in self.sim.cards.values() if userid in c.to]

    def texts_to(self, userid: str) -> list[str]:
        return [d.message["text"]["content"] for d in self.sim.inbox(userid) if d.message.get("msgtype") == "text"]

    async def lead(self, company: str, status: lt.Status, assignee: User | None = None) -> int:
        """A lead taken to `status` the way it happens in use: assigned by the system, moved on by the manager
        (so the rep has not touched it)."""
        assignee = assignee or self.rep
        values = {"company": company, "source": "web"}
        system = lt.Actor.system(self.tenant.id)
        row, _ = await leadstore.create({**values, "tenant_id": self.tenant.id, "status": "pool"},
                                        leadservice.created_event(self.tenant.id, values, system,
                                                                  lt.EventSource.API, datetime.now(UTC)))
        await self._ok(row.id, Assign(leadservice.user_view(assignee)), system)
        for stage in lt.PIPELINE[1: lt.PIPELINE.index(status) + 1]:
            await self._ok(row.id, Advance(stage), leadservice.actor_for(self.manager))
        return row.id

    async def _ok(self, lead_id: int, action: Any, actor: lt.Actor) -> None:
        outcome = await leadservice.act(self.services, lead_id, action, actor, source=lt.EventSource.CARD)
        assert outcome.ok, outcome.decision


async def make_world(services: Services, sim: WeComSimulator, sender: CallbackSender) -> WeComWorld:
    tenant = await Tenant.create(name="华东销售")
    creds = WeComCredentials(corp_id=sim.corp_id, agent_id=AGENT_ID, secret=SECRET, token=CALLBACK_TOKEN,
                             encoding_aes_key=AES_KEY)
    app = await register_app(services.box, services.settings, tenant.id,
                             AppIn.model_validate({"platform": "wecom", "name": "线索助手", "api_base": sim.url,
                                                   "credentials": creds.model_dump()}).root)
    manager = await make_user(tenant=tenant, name="王经理", role=Role.MANAGER, wecom_userid="mgr1")
    rep = await make_user(tenant=tenant, name="张三", role=Role.REP, manager=manager, wecom_userid="rep1")
    rep2 = await make_user(tenant=tenant, name="李四", role=Role.REP, manager=manager, wecom_userid="rep2")
    return WeComWorld(services, sim, sender, app, tenant, manager, rep, rep2)


def shown(card: SentCard) -> dict[str, Any]:
    """The card as the person sees it now: the last update's template_card, else the card as sent."""
    for update in reversed(card.updates):
        if "template_card" in update:
            return update["template_card"]
    return card.card


def button_key(card: dict[str, Any], text: str) -> str:
    for button in card.get("button_list") or []:
        if button["text"] == text:
            return button["key"]
    raise LookupError(f"no button {text!r} on the card; it has {[b['text'] for b in card.get('button_list', [])]}")


def button_actions(card: dict[str, Any]) -> list[KeyAction]:
    return [ButtonKey.unpack(b["key"]).action for b in card.get("button_list") or []]


def horizontal(card: dict[str, Any]) -> dict[str, str]:
    return {item["keyname"]: item["value"] for item in card.get("horizontal_content_list") or []}


def wav(samples: np.ndarray, rate: int = 16_000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return buf.getvalue()


AMR_HEADER = b"#!AMR\n"


def join_amr(*clips: bytes) -> bytes:
    """AMR-NB files joined into one: a single header, then every clip's frames."""
    assert all(c.startswith(AMR_HEADER) for c in clips)
    return AMR_HEADER + b"".join(c[len(AMR_HEADER):] for c in clips)
