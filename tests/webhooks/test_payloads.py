"""Which event type a lead change is, and what its body says (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.leads.audit import AuditEvent
from bot.webhooks.payloads import (
    EventType,
    body_bytes,
    envelope,
    event_type_for,
    lead_change_data,
    lead_summary,
    wants,
)

AT = datetime(2026, 11, 23, 8, 0, 0, 123456, tzinfo=UTC)
LEAD = lead_summary({"id": 7, "external_id": "crm-7", "company": "华东机械", "status": "contacted",
                     "assignee_id": 3, "version": 4}, "王五")


def _event(action: str, *, before=None, after=None, evidence=()) -> AuditEvent:
    return AuditEvent(tenant_id=1, lead_id=7, at=AT, actor_id=3, actor_role="rep", source="card", action=action,
                      before=before or {}, after=after or {}, evidence=evidence, seq=5)


@pytest.mark.parametrize("action, evidence, expected", [
    ("create", (), EventType.LEAD_CREATED),
    ("assign", (), EventType.LEAD_ASSIGNED),
    ("claim", (), EventType.LEAD_ASSIGNED),
    ("release", (), EventType.LEAD_ASSIGNED),
    ("advance", (), EventType.LEAD_STATUS_CHANGED),
    ("mark_lost", (), EventType.LEAD_STATUS_CHANGED),
    ("reopen", (), EventType.LEAD_STATUS_CHANGED),
    ("update_fields", ("voice:42",), EventType.LEAD_UPDATED),
    ("attach_evidence", ("voice:42",), EventType.LEAD_VOICE_NOTE),
    ("attach_evidence", ("file:9",), EventType.LEAD_EVIDENCE_ADDED),
    ("something_new", (), EventType.LEAD_UPDATED),
])
def test_audit_actions_map_to_event_types(action, evidence, expected) -> None:
    assert event_type_for(_event(action, evidence=evidence)) is expected


@pytest.mark.parametrize("types, event_type, expected", [
    (["*"], "lead.created", True),
    (["lead.created"], "lead.created", True),
    (["lead.assigned"], "lead.created", False),
    ([], "lead.created", False),
    (["*"], "webhook.test", False),  # a test goes only where it is sent
])
def test_what_a_subscription_receives(types, event_type, expected) -> None:
    assert wants(types, event_type) is expected


def test_status_change_data_names_both_statuses_and_the_change() -> None:
    event = _event("advance", before={"status": "assigned"}, after={"status": "contacted"})
    data = lead_change_data(EventType.LEAD_STATUS_CHANGED, event, LEAD)
    assert (data["previous_status"], data["status"]) == ("assigned", "contacted")
    assert data["lead"]["assignee"] == {"id": 3, "name": "王五"}
    assert data["lead"]["status_label"] == "已联系"
    assert data["change"]["audit_seq"] == 5 and data["change"]["at"] == "2026-11-23T08:00:00.123Z"


def test_assignment_data_names_the_new_and_previous_assignee() -> None:
    event = _event("assign", before={"assignee_id": 2, "status": "assigned"}, after={"assignee_id": 3})
    data = lead_change_data(EventType.LEAD_ASSIGNED, event, LEAD)
    assert data["assignee"] == {"id": 3, "name": "王五"} and data["previous_assignee_id"] == 2


def test_voice_note_data_lists_the_notes() -> None:
    data = lead_change_data(EventType.LEAD_VOICE_NOTE, _event("attach_evidence", evidence=("voice:42",)), LEAD)
    assert data["voice_note_ids"] == [42]


def test_the_body_is_compact_utf8_json_the_same_every_time() -> None:
    payload = envelope("evt_1", EventType.LEAD_CREATED, AT, 1, 7, 1, {"lead": LEAD})
    raw = body_bytes(payload)
    assert "华东机械".encode() in raw and b"\\u" not in raw and b", " not in raw
    assert json.loads(raw) == payload and body_bytes(json.loads(raw)) == raw
    assert payload["created_at"] == "2026-11-23T08:00:00.123Z"
