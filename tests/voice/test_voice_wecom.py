"""Voice notes end to end on WeCom: simulator, real arq worker, real model, real database and Redis (slow)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from prometheus_client import REGISTRY

from bot.jobs.voice import REPEATED
from bot.leads import service as leadservice
from bot.leads import store as leadstore
from bot.leads import types as lt
from bot.leads.actions import Advance
from bot.leads.gates import RefusalCode
from bot.voice.buttons import HOW_TO_CORRECT
from bot.voice.hearing import NO_SPEECH
from cards.keys import KeyAction
from speech.audio import decode_audio
from storage.models import CardInstance, LeadEvent, VoiceNote
from tests.support.jobclock import run_until
from tests.voice.conftest import VOICE
from tests.voice.support import WeComWorld, button_actions, horizontal, join_amr, shown, wav

pytestmark = pytest.mark.slow
D04 = (VOICE / "d04.amr").read_bytes()  # 技术总监…数据安全…私有化部署。预算在八十万到一百万之间，下周三开标。


def rtf_samples() -> float:
    return REGISTRY.get_sample_value("leadbot_speech_real_time_factor_count") or 0.0


def notes_by(outcome: str) -> float:
    return REGISTRY.get_sample_value("leadbot_voice_notes_total", {"outcome": outcome}) or 0.0


async def test_a_voice_note_becomes_evidence_and_opens_the_demo_gate(world: WeComWorld) -> None:
    lead_id = await world.lead("星海科技", lt.Status.QUALIFIED)
    rep = leadservice.actor_for(world.rep)
    before = await leadservice.act(world.services, lead_id, Advance(lt.Status.DEMO), rep, source=lt.EventSource.CARD)
    assert before.decision.code is RefusalCode.GATE  # type: ignore[union-attr]
    attached, transcribed = notes_by("attached"), rtf_samples()

    await world.voice("rep1", "media-d04", D04)
    assert (notes_by("attached") - attached, rtf_samples() - transcribed) == (1, 1)

    note = await VoiceNote.get(tenant_id=world.tenant.id)
    assert (note.lead_id, note.user_id) == (lead_id, world.rep.id)
    assert note.audio_sha256 == hashlib.sha256(D04).hexdigest()
    assert "技术总监" in note.transcript and note.platform_text is None
    assert note.fields_json["budget"] == {"min": 800_000, "max": 1_000_000}
    assert note.fields_json["tender_date"] == "2026-11-25"  # 下周三, from the message's Monday
    assert note.fields_json["titles"] == ["技术总监"]
    assert note.model == "whisper-base" and 9 < note.duration_s < 12 and note.rtf > 0 and not note.confirmed

    lead = await leadstore.load(lead_id)
    assert [(e.ref, e.kind) for e in lead.evidence] == [(f"voice:{note.id}", lt.EvidenceKind.VOICE_SUMMARY)]
    event = await LeadEvent.filter(lead_id=lead_id).order_by("-seq").first()
    assert (event.action, event.source, event.evidence, event.actor_id) == (
        "attach_evidence", "voice", [f"voice:{note.id}"], world.rep.id)

    (instance,) = await CardInstance.filter(kind="voice_summary", subject_id=note.id)
    card = shown(world.sim.cards[(world.sim.apps[1000002].agent_id, instance.card_id)])
    assert card["main_title"]["title"] == "语音纪要：星海科技"
    assert horizontal(card)["预算"] == "80万-100万" and horizontal(card)["招标日期"] == "2026-11-25"
    assert button_actions(card) == [KeyAction.CONFIRM, KeyAction.CORRECT, KeyAction.ADD_CONTACT]

    after = await leadservice.act(world.services, lead_id, Advance(lt.Status.DEMO), rep, source=lt.EventSource.CARD)
    assert after.ok and after.decision.lead.status is lt.Status.DEMO  # type: ignore[union-attr]


async def test_confirm_and_add_contact_update_the_lead(world: WeComWorld) -> None:
    lead_id = await world.lead("星海科技", lt.Status.QUALIFIED)
    await world.voice("rep1", "media-d04", D04)
    (card,) = [c for c in world.cards_to("rep1") if "语音纪要" in c.card["main_title"]["title"]]

    await world.click("rep1", card, "添加技术总监")
    lead = await leadstore.load(lead_id)
    assert lead.contacts == (lt.Contact("", "技术总监"),)
    assert KeyAction.ADD_CONTACT not in button_actions(shown(card))  # the title is on file now

    await world.click("rep1", card, "确认")
    lead = await leadstore.load(lead_id)
    assert (lead.budget_min, lead.budget_max) == (800_000, 1_000_000)
    assert str(lead.tender_date) == "2026-11-25"
    note = await VoiceNote.get(lead_id=lead_id)
    assert note.confirmed
    assert button_actions(shown(card)) == [KeyAction.CORRECT] and shown(card)["source"]["desc"] == "已确认"
    update = await LeadEvent.filter(lead_id=lead_id, action="update_fields").order_by("-seq").first()
    assert update.evidence == [f"voice:{note.id}"] and update.after["budget_min"] == 800_000


async def test_a_typed_correction_changes_the_note_then_confirm_applies_it(world: WeComWorld) -> None:
    lead_id = await world.lead("星海科技", lt.Status.QUALIFIED)
    await world.voice("rep1", "media-d04", D04)
    (card,) = [c for c in world.cards_to("rep1") if "语音纪要" in c.card["main_title"]["title"]]

    await world.click("rep1", card, "更正")
    assert world.texts_to("rep1")[-1] == HOW_TO_CORRECT
    await world.text("rep1", "预算 改为 120万")

    note = await VoiceNote.get(lead_id=lead_id)
    assert note.fields_json["budget"] == {"min": 1_200_000, "max": 1_200_000}
    assert note.fields_json["tender_date"] == "2026-11-25"  # not named in the correction: kept
    assert note.version == 1
    assert horizontal(shown(card))["预算"] == "120万"
    assert "已更正语音纪要的预算" in world.texts_to("rep1")[-1]

    await world.click("rep1", card, "确认")
    lead = await leadstore.load(lead_id)
    assert (lead.budget_min, lead.budget_max) == (1_200_000, 1_200_000)


async def test_a_retried_job_creates_no_second_note(world: WeComWorld) -> None:
    lead_id = await world.lead("星海科技", lt.Status.QUALIFIED)
    transcribed = rtf_samples()
    world.sim.inject("message/send", status=502)  # the summary card fails once, after the note is stored

    # The first try stores the note and attaches it, then fails on the card; arq runs the job again after a
    # short delay, and that try resumes from the stored note.
    await world.voice("rep1", "media-d04", D04)
    # The retry is deferred a few seconds, and `drain` leaves jobs that are not due yet: make it due now.
    await run_until(world.services, datetime.now(UTC) + timedelta(seconds=30))

    assert await VoiceNote.filter(tenant_id=world.tenant.id).count() == 1
    lead = await leadstore.load(lead_id)
    assert len(lead.evidence) == 1
    assert await CardInstance.filter(kind="voice_summary").count() == 1
    assert rtf_samples() - transcribed == 1  # the retry found the note and did not transcribe again
    assert len(world.sim.calls("media/get")) == 2

    # The same audio sent again as a new message is recognised, not filed twice.
    await world.voice("rep1", "media-d04-again", D04)
    assert await VoiceNote.filter(tenant_id=world.tenant.id).count() == 1
    assert world.texts_to("rep1")[-1] == REPEATED


async def test_a_silent_clip_is_not_stored_and_the_rep_is_told(world: WeComWorld) -> None:
    lead_id = await world.lead("星海科技", lt.Status.QUALIFIED)
    silent = notes_by("no_speech")
    await world.voice("rep1", "media-silence", wav(np.zeros(16_000 * 6)), "audio/wav")
    assert not await VoiceNote.exists()
    assert notes_by("no_speech") - silent == 1
    assert world.texts_to("rep1")[-1] == NO_SPEECH
    assert not await CardInstance.filter(kind="voice_summary").exists()
    assert (await leadstore.load(lead_id)).evidence == ()


async def test_a_90_second_clip_is_refused_politely(world: WeComWorld) -> None:
    await world.lead("星海科技", lt.Status.QUALIFIED)
    clips = [(VOICE / f"{name}.amr").read_bytes() for name in ("long", "d01", "d02", "d03")]
    long_clip = join_amr(*clips)
    assert 85 < decode_audio(long_clip, max_duration_s=None).duration_s < 95
    too_long = notes_by("too_long")
    await world.voice("rep1", "media-long", long_clip)
    assert not await VoiceNote.exists()
    assert notes_by("too_long") - too_long == 1
    assert world.texts_to("rep1")[-1] == "语音超过 60 秒，没有保存。请分成几段较短的语音发送。"


async def test_a_rep_with_two_active_leads_picks_the_lead(world: WeComWorld) -> None:
    first = await world.lead("星海科技", lt.Status.QUALIFIED)
    second = await world.lead("云帆集团", lt.Status.CONTACTED)
    await world.voice("rep1", "media-d04", D04)

    note = await VoiceNote.get(tenant_id=world.tenant.id)
    assert note.lead_id is None
    (chooser,) = [c for c in world.cards_to("rep1") if c.card["main_title"]["title"].startswith("这条语音纪要")]
    assert button_actions(chooser.card) == [KeyAction.PICK, KeyAction.PICK]
    assert (await leadstore.load(first)).evidence == () and (await leadstore.load(second)).evidence == ()

    # A correction before picking changes the note but leaves the chooser, whose buttons still work.
    await world.text("rep1", "预算 120万")
    await note.refresh_from_db()
    assert note.version == 1 and note.fields_json["budget"] == {"min": 1_200_000, "max": 1_200_000}
    assert chooser.updates == []

    (button,) = [b["text"] for b in chooser.card["button_list"] if "云帆集团" in b["text"]]
    await world.click("rep1", chooser, button)

    await note.refresh_from_db()
    assert note.lead_id == second
    assert [e.ref for e in (await leadstore.load(second)).evidence] == [f"voice:{note.id}"]
    assert (await leadstore.load(first)).evidence == ()
    # The chooser became the summary, in place.
    assert shown(chooser)["main_title"]["title"] == "语音纪要：云帆集团"
    assert horizontal(shown(chooser))["预算"] == "120万"
    assert KeyAction.CONFIRM in button_actions(shown(chooser))
    assert await CardInstance.filter(subject_id=note.id, kind="voice_summary").count() == 1
