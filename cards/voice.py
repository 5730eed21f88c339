"""Voice-note cards: the summary a rep confirms or corrects, and the chooser asking which lead a note is about."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.leads.types import Lead, VoiceNote
from cards.keys import ButtonKey, KeyAction
from cards.limits import clean, truncate
from cards.model import (
    MAX_BUTTON_CHARS,
    MAX_BUTTONS,
    Button,
    ButtonStyle,
    Card,
    CardKind,
    Field,
    Tone,
    budget_text,
    lead_title,
)
from speech.fields import FIELDS, FieldKind, FieldSpec

MAX_CHOOSER_LEADS = MAX_BUTTONS
MAX_CONTACT_PROMPTS = MAX_BUTTONS - 2  # room left beside 确认 and 更正


def field_text(spec: FieldSpec, value: Any) -> str:
    """An extracted field's value as a card shows it (by its kind), or the spec's word for nothing heard."""
    if not value:
        return spec.empty
    if spec.kind is FieldKind.MONEY_RANGE:
        return budget_text(value.min, value.max)
    if spec.kind is FieldKind.DATE:
        return value.isoformat()
    return "、".join(value)


def _extraction_fields(note: VoiceNote) -> tuple[Field, ...]:
    return tuple(Field(spec.label, field_text(spec, getattr(note.fields, spec.name))) for spec in FIELDS)


def unknown_titles(note: VoiceNote, lead: Lead | None) -> tuple[str, ...]:
    """Titles heard in the note that none of the lead's contacts holds: the decision chain may be incomplete."""
    on_file = lead.titles_on_file if lead is not None else frozenset()
    seen: list[str] = []
    for title in note.fields.titles:
        if title not in on_file and title not in seen:
            seen.append(title)
    return tuple(seen)


def voice_summary_card(note: VoiceNote, lead: Lead | None, *, notice: str = "") -> Card:
    """Transcript and extracted fields with 确认 / 更正, plus 添加<title> for each title not on file."""

    def key(kind: KeyAction, arg: str = "") -> ButtonKey:
        return ButtonKey(kind, note.id, note.version, arg)

    buttons: list[Button] = []
    if not note.confirmed:
        buttons.append(Button("确认", key(KeyAction.CONFIRM), ButtonStyle.PRIMARY))
    buttons.append(Button("更正", key(KeyAction.CORRECT)))
    titles = unknown_titles(note, lead)
    for title in titles[:MAX_CONTACT_PROMPTS]:
        buttons.append(Button(truncate(f"添加{title}", MAX_BUTTON_CHARS), key(KeyAction.ADD_CONTACT, title)))
    prompt = f"提到的{'、'.join(titles)}还不在联系人中，点击「添加」补全决策链" if titles else ""
    return Card(
        kind=CardKind.VOICE_SUMMARY,
        title="语音纪要" + (f"：{lead_title(lead)}" if lead is not None else ""),
        subtitle=f"时长 {note.duration_s:.0f} 秒",
        status="已确认" if note.confirmed else "待确认",
        fields=_extraction_fields(note),
        body=clean(note.transcript),
        missing=(prompt,) if prompt else (),
        notice=clean(notice),
        buttons=tuple(buttons),
        tone=Tone.SUCCESS if note.confirmed else Tone.INFO,
    )


def lead_chooser_card(note: VoiceNote, leads: Sequence[Lead]) -> Card:
    """A rep with several active leads sent a voice note: which lead is it about? One button per lead, for the
    first six of `leads` (give them most recently active first)."""
    shown = list(leads[:MAX_CHOOSER_LEADS])
    buttons = tuple(
        Button(
            truncate(f"{i}.{lead_title(lead)}", MAX_BUTTON_CHARS),
            ButtonKey(KeyAction.PICK, note.id, note.version, str(lead.id)),
        )
        for i, lead in enumerate(shown, 1)
    )
    fields = tuple(Field(str(i), f"{lead_title(lead)} · {lead.status.label}") for i, lead in enumerate(shown, 1))
    more = len(leads) - len(shown)
    return Card(
        kind=CardKind.LEAD_CHOOSER,
        title="这条语音纪要属于哪条线索？",
        subtitle=f"您有 {len(leads)} 条进行中的线索" + (f"，仅列出最近 {len(shown)} 条" if more > 0 else ""),
        status="待选择",
        fields=fields,
        body=clean(note.transcript),
        buttons=buttons,
    )
