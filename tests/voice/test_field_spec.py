"""The extracted-field table (speech.fields.FIELDS) drives every place a field shows up: JSON, the voice card,
corrections, the confirm step, the lead's columns in the API, the export and the audit trail, and the scorer."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta, timezone

import pytest

from bot.leads import fields as heard
from bot.leads.actions import UpdateFields, confirm_note
from bot.leads.exports import HEADERS
from bot.leads.schemas import LeadOut
from bot.leads.types import Lead, Status, VoiceNote
from bot.leads.workflow import decide
from bot.voice.revise import apply_correction, changed_labels, found_any, names_a_field
from cards.voice import voice_summary_card
from speech import scoring
from speech.fields import FIELDS, LEAD_COLUMNS, Budget, FieldKind, Fields
from storage.models import Lead as LeadRow
from tests.workflow.wf_helpers import REP, lead_in

CST = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 20, 10, 0, tzinfo=CST)
SAMPLE = {FieldKind.MONEY_RANGE: Budget(800_000, 1_000_000), FieldKind.DATE: date(2026, 12, 3),
          FieldKind.TEXTS: ("甲", "乙")}  # fmt: skip
IDS = [spec.name for spec in FIELDS]


def _heard(spec_name: str) -> Fields:
    spec = next(s for s in FIELDS if s.name == spec_name)
    return Fields(**{spec.name: SAMPLE[spec.kind]})


def _note(fields: Fields) -> VoiceNote:
    return VoiceNote(id=42, tenant_id=1, lead_id=7, transcript="……", fields=fields, duration_s=30.0, at=AT)


def test_the_json_contract_keys_in_order() -> None:
    # DESIGN.md: what `leadbot extract --json`, the summary card and the lead's record carry.
    assert list(Fields().to_json()) == ["budget", "tender_date", "competitors", "concerns", "titles", "keywords"]
    assert [s.name for s in FIELDS] == [f.name for f in dataclasses.fields(Fields)]


@pytest.mark.parametrize("name", IDS)
def test_each_field_round_trips_and_shows_on_the_voice_card(name: str) -> None:
    spec = next(s for s in FIELDS if s.name == name)
    fields = _heard(name)
    assert Fields.from_json(fields.to_json()) == fields
    shown = {f.name: f.value for f in voice_summary_card(_note(fields), None).fields}
    assert spec.label in shown and shown[spec.label] != spec.empty
    assert {f.name: f.value for f in voice_summary_card(_note(Fields()), None).fields}[spec.label] == spec.empty


@pytest.mark.parametrize("name", [s.name for s in FIELDS if s.correctable])
def test_each_correctable_field_is_named_replaced_and_reported(name: str) -> None:
    spec = next(s for s in FIELDS if s.name == name)
    assert spec.cues and all(names_a_field(f"{cue}有变化") for cue in spec.cues)
    typed = _heard(name)
    assert found_any(typed)
    after = apply_correction(Fields(), typed)
    assert getattr(after, name) == getattr(typed, name)
    assert changed_labels(Fields(), after) == (spec.label,)


@pytest.mark.parametrize("name", [s.name for s in heard.TO_LEAD])
def test_each_field_going_onto_the_lead_is_confirmed_stored_and_audited(name: str) -> None:
    spec = next(s for s in FIELDS if s.name == name)
    update = confirm_note(_note(_heard(name)))
    assert isinstance(update, UpdateFields) and getattr(update, name) == SAMPLE[spec.kind]
    decision = decide(lead_in(Status.CONTACTED, evidence_ok=False), update, REP, AT)
    assert decision.ok
    audit = decision.effects[0].event  # type: ignore[union-attr]
    assert set(spec.lead_columns) <= set(audit.after)


def test_every_lead_column_of_a_field_is_in_the_row_the_snapshot_the_api_and_the_export() -> None:
    lead_attrs = {f.name for f in dataclasses.fields(Lead)}
    schema = LeadOut.model_json_schema()["properties"]
    for column in LEAD_COLUMNS:
        assert column in LeadRow._meta.fields_map
        assert column in lead_attrs
        assert column in schema
        assert column in HEADERS


def test_the_scorer_counts_the_annotated_fields() -> None:
    assert scoring.FIELDS == tuple(s.name for s in FIELDS if s.scored) == (
        "budget", "tender_date", "competitors", "concerns", "titles")
