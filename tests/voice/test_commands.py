"""Text commands (bot.chat.commands) through the WeCom simulator and a real worker; no speech model involved."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.chat.commands import HELP, HINT, NO_LEADS, NO_NOTE, STRANGER, UNREADABLE
from bot.jobs.voice import STRANGER as VOICE_STRANGER
from bot.leads import service as leadservice
from bot.leads import types as lt
from bot.leads.actions import Advance
from bot.voice import notes
from bot.voice.choice import ChoiceKind, choose_lead
from cards.keys import ButtonKey, KeyAction
from storage.models import CardInstance, VoiceNote
from tests.voice.support import WeComWorld


async def test_help_and_a_hint_for_anything_else(world: WeComWorld) -> None:
    await world.text("rep1", "帮助")
    await world.text("rep1", "明天下午去拜访")
    assert world.texts_to("rep1") == [HELP, HINT]


async def test_unknown_senders_are_refused_politely(world: WeComWorld) -> None:
    """Issue 19: and told their own user id, which is what an admin needs to map them, and whom to ask."""
    await world.text("stranger", "我的线索")
    await world.voice("stranger", "media-x", b"#!AMR\n" + b"\x3c" * 320)
    text, voice = world.texts_to("stranger")
    assert text.startswith(STRANGER) and voice.startswith(VOICE_STRANGER)
    for reply in (text, voice):
        assert "你的账号 ID（UserID）是：stranger" in reply and "管理员" in reply
    assert not world.sim.calls("media/get")  # no transcription was queued for them


async def test_my_leads_resends_fresh_cards_and_retires_the_old(world: WeComWorld) -> None:
    await world.text("rep1", "我的线索")
    assert world.texts_to("rep1") == [NO_LEADS]

    first = await world.lead("星海科技", lt.Status.CONTACTED)
    second = await world.lead("云帆集团", lt.Status.QUALIFIED)
    await world.lead("别人的线索", lt.Status.CONTACTED, assignee=world.rep2)
    old = {c.id for c in await CardInstance.filter(kind="lead", user_id=world.rep.id, live=True)}
    assert len(old) == 2  # each lead card sent on assignment

    await world.text("rep1", "我的线索")
    live = await CardInstance.filter(kind="lead", user_id=world.rep.id, live=True)
    assert {c.subject_id for c in live} == {first, second} and not old & {c.id for c in live}
    titles = [c.card["main_title"]["title"] for c in world.cards_to("rep1")][-2:]
    assert sorted(titles) == sorted(["星海科技", "云帆集团"])

    # A change to the lead now redraws the fresh card, not the retired one.
    actor = leadservice.actor_for(world.manager)
    assert (await leadservice.act(world.services, first, Advance(lt.Status.QUALIFIED), actor,
                                  source=lt.EventSource.CARD)).ok
    fresh = next(c for c in live if c.subject_id == first)
    assert world.sim.cards[(1000002, fresh.card_id)].updates


async def test_a_correction_without_a_note_or_without_a_value(world: WeComWorld) -> None:
    await world.text("rep1", "预算 80万")
    assert world.texts_to("rep1")[-1] == NO_NOTE
    await VoiceNote.create(tenant_id=world.tenant.id, user_id=world.rep.id, audio_sha256="0" * 64, duration_s=5,
                           transcript="预算五十万", fields_json={"budget": {"min": 500000, "max": 500000}})
    await world.text("rep1", "预算 还不清楚")
    assert world.texts_to("rep1")[-1] == UNREADABLE


async def test_a_typed_button_key_is_a_click(world: WeComWorld) -> None:
    """What DingTalk's markdown fallback sends; it must be authorised like any click."""
    note = await VoiceNote.create(tenant_id=world.tenant.id, user_id=world.rep2.id, audio_sha256="1" * 64,
                                  duration_s=5, transcript="预算五十万")
    await world.text("rep1", ButtonKey(KeyAction.CONFIRM, note.id).pack())
    assert world.texts_to("rep1") == ["只有录音的销售本人可以操作这条纪要。"]
    await note.refresh_from_db()
    assert not note.confirmed


async def test_a_reps_own_recent_actions_are_what_a_note_answers(world: WeComWorld) -> None:
    """The database side of the lead choice: the rep's own actions on their leads are the touches."""
    first = await world.lead("星海科技", lt.Status.CONTACTED)
    second = await world.lead("云帆集团", lt.Status.CONTACTED)
    now = datetime.now(UTC)
    leads = await notes.active_leads(world.rep, now)
    assert {lead.id for lead in leads} == {first, second} and all(lead.touched_at is None for lead in leads)
    assert choose_lead(leads, now).kind is ChoiceKind.ASK

    rep = leadservice.actor_for(world.rep)
    assert (await leadservice.act(world.services, second, Advance(lt.Status.QUALIFIED), rep,
                                  source=lt.EventSource.CARD)).ok
    leads = await notes.active_leads(world.rep, datetime.now(UTC))
    assert choose_lead(leads, datetime.now(UTC)).lead_id == second
