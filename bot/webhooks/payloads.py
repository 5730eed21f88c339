"""What a webhook says: event types, the audit action each lead change maps to, and the JSON body. Pure functions.

A body is an envelope around event-specific `data`:

    {"id": "evt_…", "type": "lead.status_changed", "created_at": "2026-11-23T08:00:00.000Z",
     "tenant_id": 1, "lead_id": 42, "seq": 7, "data": {...}}

`id` is stable across retries and redeliveries (receivers de-duplicate on it); `seq` rises with every event of one
lead, so a receiver can ignore an event older than one it has already applied. A lead's data carries a summary of
the lead after the change, never its contact details: the CRM has them, and a webhook URL is one more place to leak.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bot.leads.audit import AuditEvent, to_plain
from bot.leads.types import Status


class EventType(enum.StrEnum):
    LEAD_CREATED = "lead.created"
    LEAD_ASSIGNED = "lead.assigned"
    LEAD_STATUS_CHANGED = "lead.status_changed"
    LEAD_UPDATED = "lead.updated"
    LEAD_VOICE_NOTE = "lead.voice_note"
    LEAD_EVIDENCE_ADDED = "lead.evidence_added"
    LEAD_ESCALATED = "lead.escalated"
    ALERT_DELIVERY_FAILED = "alert.delivery_failed"
    # Sent on request to one subscription (`leadbot webhooks test`); nobody subscribes to it.
    TEST = "webhook.test"


ALL = "*"
SUBSCRIBABLE: tuple[str, ...] = tuple(t.value for t in EventType if t is not EventType.TEST)

_BY_ACTION: Mapping[str, EventType] = {
    "create": EventType.LEAD_CREATED,
    "assign": EventType.LEAD_ASSIGNED,
    "claim": EventType.LEAD_ASSIGNED,
    "release": EventType.LEAD_ASSIGNED,
    "advance": EventType.LEAD_STATUS_CHANGED,
    "mark_lost": EventType.LEAD_STATUS_CHANGED,
    "reopen": EventType.LEAD_STATUS_CHANGED,
    "update_fields": EventType.LEAD_UPDATED,
}
VOICE_REF_PREFIX = "voice:"


def event_type_for(event: AuditEvent) -> EventType:
    """The webhook event type of one audited lead change (an action nobody mapped yet is a `lead.updated`)."""
    if event.action == "attach_evidence":
        voice = any(ref.startswith(VOICE_REF_PREFIX) for ref in event.evidence)
        return EventType.LEAD_VOICE_NOTE if voice else EventType.LEAD_EVIDENCE_ADDED
    return _BY_ACTION.get(event.action, EventType.LEAD_UPDATED)


def wants(event_types: Iterable[str], event_type: str) -> bool:
    """Whether a subscription listing `event_types` receives `event_type` (tests go only where they are sent)."""
    if event_type == EventType.TEST:
        return False
    types = set(event_types)
    return ALL in types or event_type in types


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def time_text(dt: datetime) -> str:
    """UTC at millisecond precision with a Z, the one time spelling of every body."""
    dt = dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def lead_summary(row: Mapping[str, Any], assignee_name: str | None) -> dict[str, Any]:
    """The lead after the change, from its row's values (`id, external_id, company, status, assignee_id, version`)."""
    status = Status(row["status"])
    assignee_id = row.get("assignee_id")
    return {
        "id": row["id"],
        "external_id": row.get("external_id"),
        "company": row.get("company") or "",
        "status": status.value,
        "status_label": status.label,
        "assignee": None if assignee_id is None else {"id": assignee_id, "name": assignee_name or ""},
        "version": row.get("version", 0),
    }


def _change(event: AuditEvent) -> dict[str, Any]:
    return {
        "action": event.action,
        "at": time_text(event.at),
        "actor": {"id": event.actor_id, "role": event.actor_role},
        "source": event.source,
        "audit_seq": event.seq,
        "before": dict(event.before),
        "after": dict(event.after),
        "reason": event.reason,
        "evidence": list(event.evidence),
    }


def lead_change_data(event_type: EventType, event: AuditEvent, lead: Mapping[str, Any]) -> dict[str, Any]:
    """`data` of an event made by a lead change: the type's headline fields, the lead, and the audited change."""
    data: dict[str, Any] = {}
    if event_type is EventType.LEAD_ASSIGNED:
        data["assignee"] = lead["assignee"]
        data["previous_assignee_id"] = event.before.get("assignee_id")
    elif event_type is EventType.LEAD_STATUS_CHANGED:
        data["status"] = event.after.get("status", lead["status"])
        data["previous_status"] = event.before.get("status")
    elif event_type is EventType.LEAD_VOICE_NOTE:
        data["voice_note_ids"] = [int(ref[len(VOICE_REF_PREFIX):]) for ref in event.evidence
                                  if ref.startswith(VOICE_REF_PREFIX) and ref[len(VOICE_REF_PREFIX):].isdigit()]
    data["lead"] = dict(lead)
    data["change"] = _change(event)
    return data


def envelope(event_id: str, event_type: str, created_at: datetime, tenant_id: int, lead_id: int | None,
             seq: int | None, data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": str(event_type),
        "created_at": time_text(created_at),
        "tenant_id": tenant_id,
        "lead_id": lead_id,
        "seq": seq,
        "data": to_plain(dict(data)),
    }


def body_bytes(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent and signed: compact UTF-8 JSON (Chinese stays readable, not \\u-escaped)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
