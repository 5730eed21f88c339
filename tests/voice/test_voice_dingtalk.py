"""Voice notes on DingTalk: the platform's own recognition as cross-check and as the fallback (slow: real model)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.admin.apps import register_app
from bot.admin.schemas import AppIn
from bot.leads import service as leadservice
from bot.leads import store as leadstore
from bot.leads import types as lt
from bot.leads.actions import Advance, Assign
from bot.platforms.dingtalk.config import DingTalkCredentials
from bot.platforms.dingtalk.events import parse_robot_message
from bot.runtime.services import Services
from bot.runtime.worker import drain
from storage import redis_keys
from storage.models import App, LeadEvent, Role, Tenant, User, VoiceNote
from tests.sim.dingtalk import DingTalkSimulator, robot_message
from tests.support.people import make_user
from tests.voice.conftest import VOICE
from tests.voice.support import SENT_AT

pytestmark = pytest.mark.slow
APP_KEY = "dingvoiceapp01"
APP_SECRET = "sim-app-secret-0123456789"
# What DingTalk's own recogniser made of the message (its `recognition` field).
RECOGNITION = "今天拜访了客户，对方预算大概五十万元，下个月十五号招标，竞争对手是华为。"


@dataclass
class DingWorld:
    services: Services
    sim: DingTalkSimulator
    app: App
    tenant: Tenant
    rep: User
    lead_id: int

    async def audio(self, msg_id: str, download_code: str, *, recognition: str | None, duration_ms: int) -> None:
        content = {"downloadCode": download_code, "duration": duration_ms}
        if recognition is not None:
            content["recognition"] = recognition
        await self.deliver(robot_message(msg_id, "rep1", "audio", content=content, robot_code=APP_KEY,
                                         create_at_ms=int(SENT_AT.timestamp() * 1000)))

    async def text(self, msg_id: str, text: str) -> None:
        await self.deliver(robot_message(msg_id, "rep1", "text", text=text, robot_code=APP_KEY,
                                         create_at_ms=int(SENT_AT.timestamp() * 1000)))

    async def deliver(self, payload: dict) -> None:
        message = parse_robot_message(payload)
        await self.services.queue.enqueue_once(
            redis_keys.dedup("dingtalk", self.app.id, message.dedup_key), 3600, "handle_inbound",
            app_id=self.app.id, inbound=message.to_dict())
        await drain(self.services)

    def summary_cards(self) -> list:
        return [c for c in self.sim.cards.values() if c.card_data.get("kind") == "voice_summary"]


@pytest.fixture
async def ding(services: Services) -> AsyncIterator[DingWorld]:
    async with DingTalkSimulator() as sim:
        sim.add_app(APP_KEY, APP_SECRET, agent_id=4242, users=("rep1", "mgr1"))
        tenant = await Tenant.create(name="华南销售")
        creds = DingTalkCredentials(app_key=APP_KEY, app_secret=APP_SECRET, card_template_id="tpl.voice",
                                    agent_id=4242)
        app = await register_app(services.box, services.settings, tenant.id,
                                 AppIn.model_validate({"platform": "dingtalk", "name": "线索助手",
                                                       "api_base": sim.base_url,
                                                       "credentials": creds.model_dump()}).root)
        manager = await make_user(tenant=tenant, name="王经理", role=Role.MANAGER, dingtalk_staff_id="mgr1")
        rep = await make_user(tenant=tenant, name="张三", manager=manager, dingtalk_staff_id="rep1")
        lead_id = await _qualified_lead(services, tenant, rep, manager)
        yield DingWorld(services, sim, app, tenant, rep, lead_id)


async def _qualified_lead(services: Services, tenant: Tenant, rep: User, manager: User) -> int:
    system = lt.Actor.system(tenant.id)
    values = {"company": "南山制造"}
    row, _ = await leadstore.create({**values, "tenant_id": tenant.id, "status": "pool"},
                                    leadservice.created_event(tenant.id, values, system, lt.EventSource.API,
                                                              SENT_AT))
    steps = [(Assign(leadservice.user_view(rep)), system)]
    steps += [(Advance(s), leadservice.actor_for(manager)) for s in (lt.Status.CONTACTED, lt.Status.QUALIFIED)]
    for action, actor in steps:
        assert (await leadservice.act(services, row.id, action, actor, source=lt.EventSource.CARD)).ok
    return row.id


async def test_a_failed_download_falls_back_to_the_platform_recognition(ding: DingWorld) -> None:
    # The download code is unknown to DingTalk (expired): the audio cannot be had.
    await ding.audio("msg-1", "expired-code", recognition=RECOGNITION, duration_ms=9_000)

    note = await VoiceNote.get(tenant_id=ding.tenant.id)
    assert (note.transcript, note.platform_text, note.model) == (RECOGNITION, RECOGNITION, "platform-recognition")
    assert note.fields_json["budget"] == {"min": 500_000, "max": 500_000}
    assert note.fields_json["tender_date"] == "2026-12-15"
    assert note.fields_json["competitors"] == ["华为"]
    assert note.duration_s == 9.0 and note.lead_id == ding.lead_id
    lead = await leadstore.load(ding.lead_id)
    assert [e.ref for e in lead.evidence] == [f"voice:{note.id}"]
    (card,) = ding.summary_cards()
    assert card.to == "rep1" and card.card_data["title"] == "语音纪要：南山制造"
    assert {"name": "预算", "value": "50万"} in json.loads(card.card_data["fields"])

    # DingTalk redelivers the same message: one note, whatever happens.
    await ding.audio("msg-1", "expired-code", recognition=RECOGNITION, duration_ms=9_000)
    assert await VoiceNote.filter(tenant_id=ding.tenant.id).count() == 1


async def test_a_download_failure_without_recognition_is_told_and_stores_nothing(ding: DingWorld) -> None:
    await ding.audio("msg-2", "expired-code", recognition=None, duration_ms=9_000)
    assert not await VoiceNote.exists()
    assert ding.sim.messages[-1]["to"] == "rep1"
    assert "没能取到这条语音" in ding.sim.messages[-1]["param"]["content"]


async def test_downloaded_audio_is_transcribed_and_the_recognition_kept_as_cross_check(ding: DingWorld) -> None:
    ding.sim.add_file("code-d01", (VOICE / "d01.amr").read_bytes())
    await ding.audio("msg-3", "code-d01", recognition=RECOGNITION, duration_ms=11_240)

    note = await VoiceNote.get(tenant_id=ding.tenant.id)
    assert note.model == "whisper-base" and note.transcript != RECOGNITION and "华为" in note.transcript
    assert note.platform_text == RECOGNITION
    assert note.fields_json["budget"] == {"min": 500_000, "max": 500_000}
    assert note.fields_json["competitors"] == ["华为"]


async def test_dingtalk_says_the_clip_is_too_long_before_it_is_downloaded(ding: DingWorld) -> None:
    ding.sim.add_file("code-long", b"never fetched")
    await ding.audio("msg-4", "code-long", recognition=RECOGNITION, duration_ms=90_000)
    assert not await VoiceNote.exists()
    assert not ding.sim.requests_to("/v1.0/robot/messageFiles/download")
    assert "语音超过 60 秒" in ding.sim.messages[-1]["param"]["content"]


async def test_a_markdown_fallback_button_press_confirms_the_note(ding: DingWorld) -> None:
    """DingTalk's markdown card sends the pressed button's key as a text message: it is a click."""
    await ding.audio("msg-5", "expired-code", recognition=RECOGNITION, duration_ms=9_000)
    (card,) = ding.summary_cards()
    (confirm,) = [b["key"] for b in json.loads(card.card_data["buttons"]) if b["text"] == "确认"]

    await ding.text("msg-6", confirm)

    lead = await leadstore.load(ding.lead_id)
    assert (lead.budget_min, lead.tender_date.isoformat(), lead.competitors) == (500_000, "2026-12-15", ("华为",))
    assert (await VoiceNote.get(tenant_id=ding.tenant.id)).confirmed
    assert ding.sim.cards[card.out_track_id].card_data["status"] == "已确认"  # updated in place
    event = await LeadEvent.filter(lead_id=ding.lead_id, action="update_fields").first()
    assert event.source == "card"
