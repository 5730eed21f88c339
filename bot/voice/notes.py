"""Voice note rows, attaching a note to its lead as evidence, and the cards that show it.

A note is stored once per tenant and audio (unique on the audio's sha256), before anything is sent: the row is
the checkpoint a retried job resumes from. Attaching goes through `leadservice.act` (audited, versioned, opens
the 方案演示 gate) and is harmless to repeat; a card is sent only while the note has none.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from bot.admin.apps import LoadedApp
from bot.chat import cards as cardsvc
from bot.errors import NotFound, PlatformError
from bot.leads import service as leadservice
from bot.leads import store as leadstore
from bot.leads import types as lt
from bot.leads.actions import Action, attach_note
from bot.leads.gates import Refusal, RefusalCode
from bot.leads.stages import HELD
from bot.runtime.services import Services
from bot.voice.choice import TOUCH_WINDOW, ActiveLead, ChoiceKind, choose_lead
from bot.voice.hearing import Heard
from cards.model import Card, CardKind
from cards.voice import MAX_CHOOSER_LEADS, lead_chooser_card, voice_summary_card
from speech.fields import Fields
from storage.models import CardInstance, LeadEvent, User
from storage.models import Lead as LeadRow
from storage.models import VoiceNote as NoteRow

log = logging.getLogger(__name__)

ACTIVE = tuple(str(s) for s in HELD)  # the leads a note may go to: open, with a rep
NOTE_CARDS = (str(CardKind.VOICE_SUMMARY), str(CardKind.LEAD_CHOOSER))
NO_LEAD = "你目前没有进行中的线索，这条纪要暂未关联线索。"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def fields_of(row: NoteRow) -> Fields:
    return Fields.from_json(row.fields_json or {})


def to_value(row: NoteRow) -> lt.VoiceNote:
    return lt.VoiceNote(
        id=row.id, tenant_id=row.tenant_id, lead_id=row.lead_id, transcript=row.transcript,
        fields=fields_of(row), duration_s=row.duration_s,
        at=_aware(row.created_at), version=row.version, confirmed=row.confirmed,
    )


async def create(user: User, heard: Heard, fields: Fields) -> NoteRow:
    """The note of this audio for the user's tenant: stored now, or the one a concurrent run stored first."""
    try:
        return await NoteRow.create(
            tenant_id=user.tenant_id, user_id=user.id, audio_sha256=heard.key, duration_s=heard.duration_s,
            transcript=heard.transcript, platform_text=heard.platform_text, fields_json=fields.to_json(),
            model=heard.model, elapsed_s=heard.elapsed_s, rtf=heard.rtf,
        )
    except IntegrityError:
        return await NoteRow.get(tenant_id=user.tenant_id, audio_sha256=heard.key)


async def active_leads(user: User, sent_at: datetime) -> list[ActiveLead]:
    rows = await LeadRow.filter(tenant_id=user.tenant_id, assignee_id=user.id, status__in=ACTIVE).values(
        "id", "last_activity_at")
    if not rows:
        return []
    touched: dict[int, datetime] = {}
    events = await LeadEvent.filter(tenant_id=user.tenant_id, actor_id=user.id, lead_id__in=[r["id"] for r in rows],
                                    at__gte=sent_at - TOUCH_WINDOW).values("lead_id", "at")
    for e in events:
        at = _aware(e["at"])
        touched[e["lead_id"]] = max(at, touched.get(e["lead_id"], at))
    return [ActiveLead(r["id"], _aware(r["last_activity_at"]) if r["last_activity_at"] else None,
                       touched.get(r["id"])) for r in rows]


async def lead_of(row: NoteRow) -> lt.Lead | None:
    if row.lead_id is None:
        return None
    try:
        return await leadstore.load(row.lead_id, row.tenant_id)
    except NotFound:
        return None


async def apply(services: Services, row: NoteRow, action: Action, actor: lt.Actor, source: lt.EventSource
                ) -> Refusal | None:
    """Apply a lead action for the note; None when it is done (now, or already before: a repeat is no refusal)."""
    assert row.lead_id is not None
    try:
        outcome = await leadservice.act(services, row.lead_id, action, actor, source=source)
    except NotFound:
        return Refusal(RefusalCode.WRONG_TENANT, "找不到这条线索")
    decision = outcome.decision
    if outcome.ok or (isinstance(decision, Refusal) and decision.code is RefusalCode.ALREADY):
        return None
    assert isinstance(decision, Refusal)
    return decision


async def attach(services: Services, row: NoteRow, user: User) -> Refusal | None:
    """Put the note on its lead's file as evidence (this is what opens the 方案演示 gate)."""
    return await apply(services, row, attach_note(to_value(row)), leadservice.actor_for(user), lt.EventSource.VOICE)


async def link(row: NoteRow, lead_id: int) -> bool:
    """Tie an unattached note to a lead (once: a note never moves to another lead)."""
    linked = await NoteRow.filter(id=row.id, lead_id=None).update(lead_id=lead_id)
    await row.refresh_from_db(fields=["lead_id"])
    return bool(linked) or row.lead_id == lead_id


async def unlink(row: NoteRow) -> None:
    await NoteRow.filter(id=row.id).update(lead_id=None)
    row.lead_id = None


async def cards_of(row: NoteRow, *, live_only: bool = True) -> list[CardInstance]:
    qs = CardInstance.filter(kind__in=NOTE_CARDS, subject_id=row.id, tenant_id=row.tenant_id)
    return await (qs.filter(live=True) if live_only else qs).order_by("id")


async def summary(row: NoteRow, notice: str = "") -> Card:
    return voice_summary_card(to_value(row), await lead_of(row), notice=notice)


async def send_summary(services: Services, via: tuple[LoadedApp, str], user: User, row: NoteRow,
                       notice: str = "") -> None:
    await cardsvc.send_card(services, user, await summary(row, notice), kind=CardKind.VOICE_SUMMARY,
                            subject_id=row.id, version=row.version, via=via)


async def send_chooser(services: Services, via: tuple[LoadedApp, str], user: User, row: NoteRow,
                       lead_ids: tuple[int, ...]) -> None:
    leads = [await leadstore.load(lead_id, row.tenant_id) for lead_id in lead_ids[:MAX_CHOOSER_LEADS]]
    card = lead_chooser_card(to_value(row), leads)
    await cardsvc.send_card(services, user, card, kind=CardKind.LEAD_CHOOSER, subject_id=row.id,
                            version=row.version, via=via)


async def deliver(services: Services, via: tuple[LoadedApp, str], user: User, row: NoteRow,
                  sent_at: datetime) -> str:
    """Attach a stored note to its lead (or ask which) and show it to the rep; returns the outcome's label.
    Safe to run again: a retried job finishes what a crashed one left."""
    notice = ""
    if row.lead_id is None:
        choice = choose_lead(await active_leads(user, sent_at), sent_at)
        if choice.kind is ChoiceKind.ASK:
            await send_chooser(services, via, user, row, choice.candidates)
            return "pick_lead"
        if choice.lead_id is not None:
            await link(row, choice.lead_id)
        else:
            notice = NO_LEAD
    if row.lead_id is not None:
        refusal = await attach(services, row, user)
        if refusal is not None:
            log.info("voice note %d not attached to lead %s: %s", row.id, row.lead_id, refusal.code)
            await unlink(row)
            notice = f"纪要未能关联线索：{refusal.message}"
    await send_summary(services, via, user, row, notice)
    return "attached" if row.lead_id is not None else "no_lead"


async def redraw(services: Services, row: NoteRow, *, notice: str = "", clicked: CardInstance | None = None
                 ) -> None:
    """Show the note as it is now on its card: the clicked one when it is the note's, else its live ones."""
    card = await summary(row, notice)
    mine = clicked is not None and clicked.kind in NOTE_CARDS and clicked.subject_id == row.id and clicked.live
    for instance in [clicked] if mine else await cards_of(row):
        assert instance is not None
        if instance.kind == CardKind.LEAD_CHOOSER and row.lead_id is None:
            continue  # still waiting for the rep to pick a lead: the chooser stays
        if instance.kind != CardKind.VOICE_SUMMARY:
            # The chooser becomes the summary in place; a fresh card sent instead must be a summary too.
            instance.kind = str(CardKind.VOICE_SUMMARY)
            await CardInstance.filter(id=instance.id).update(kind=instance.kind)
        await cardsvc.update_card(services, instance, card, row.version)


async def bump(row: NoteRow, now: datetime, **changes: Any) -> bool:
    """Change the note and raise its version, so buttons on what was shown before are recognised as stale.
    False (nothing changed) when someone else changed the note since `row` was read."""
    done = await NoteRow.filter(id=row.id, version=row.version).update(
        version=row.version + 1, updated_at=now, **changes)
    if done:
        row.version += 1
        for name, value in changes.items():
            setattr(row, name, value)
    return bool(done)


async def tell(services: Services, app: LoadedApp, recipient: str, text: str) -> None:
    """A short text to a person; a failure is logged, not raised (it is never worth redoing the work for)."""
    try:
        await services.adapters.get(services, app).send_text(recipient, text)
    except PlatformError as e:
        log.warning("reply on app %d not delivered: %s", app.id, e)
