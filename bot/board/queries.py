"""Loading one tenant's board inputs: a handful of queries, each scoped to the tenant and bounded in time.

Nothing here computes a figure (`bot.board.figures` does); this only turns rows into its input values. Queries
read `.values()` (no model instances) and never loop per lead: the page and the digest of a tenant with tens of
thousands of leads run the same seven queries. Events are read from before the oldest window (`LOOKBACK`) so that
a lead assigned before the window and contacted in it is measured from its assignment.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.alerting.ladder import AlertKind
from bot.board.attention import OpenLead
from bot.board.figures import AlertIn, EventIn, EvidenceIn, Inputs, LeadIn, NoteIn, Person, StepIn
from bot.leads.stages import HELD
from bot.leads.types import Lead, Status
from cards.model import lead_title
from storage.models import Alert, Deadline, Delivery, LeadEvent, User, VoiceNote
from storage.models import Lead as LeadRow

DIGEST_KIND = "board_digest"
HISTORY = timedelta(days=30)
LOOKBACK = timedelta(days=30)
# Audit actions that can change a lead's stage or holder: the only events the figures read.
STAGE_ACTIONS = ("create", "assign", "claim", "advance", "mark_lost", "reopen", "release")
STEP_OF_ALERT = {str(AlertKind.LOCK_REMINDER): "remind_rep", str(AlertKind.LOCK_BREACHED): "alert_manager"}
OPEN_HELD = [str(s) for s in HELD]


def _dt(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def people(tenant_id: int) -> tuple[Person, ...]:
    rows = await User.filter(tenant_id=tenant_id).order_by("id").values("id", "name", "role", "manager_id", "active")
    return tuple(Person(r["id"], r["name"], str(r["role"]), r["manager_id"], bool(r["active"])) for r in rows)


async def load_inputs(tenant_id: int, now: datetime, *, history: timedelta = HISTORY) -> Inputs:
    since = now - history
    events_since = since - LOOKBACK
    event_rows = await LeadEvent.filter(tenant_id=tenant_id, at__gte=events_since, at__lte=now,
                                        action__in=STAGE_ACTIONS).values(
        "lead_id", "seq", "at", "actor_id", "action", "before", "after", "reason")
    # A lead with an event since then was saved since then: no list of ids to send back to the database.
    lead_rows = await LeadRow.filter(tenant_id=tenant_id, updated_at__gte=events_since).values(
        "id", "status", "evidence")
    step_rows = await Alert.filter(tenant_id=tenant_id, kind__in=list(STEP_OF_ALERT), created_at__gte=since).values(
        "lead_id", "user_id", "kind", "dedup_key", "plan", "created_at")
    note_rows = await VoiceNote.filter(tenant_id=tenant_id, created_at__gte=since).values("user_id", "created_at")
    alert_rows = await Alert.filter(tenant_id=tenant_id, created_at__gte=since).exclude(kind=DIGEST_KIND).values(
        "id", "user_id", "created_at")
    fell_back = set(await Delivery.filter(tenant_id=tenant_id, channel__in=["sms", "email"], at__gte=since)
                    .values_list("alert_id", flat=True))
    return Inputs(
        people=await people(tenant_id),
        leads=tuple(_lead_in(r) for r in lead_rows),
        events=tuple(EventIn(r["lead_id"], r["seq"], _dt(r["at"]), r["actor_id"], r["action"],
                             _json(r["before"]) or {}, _json(r["after"]) or {}, r["reason"] or "")
                     for r in event_rows),
        steps=tuple(_step_in(r) for r in step_rows),
        notes=tuple(NoteIn(r["user_id"], _dt(r["created_at"])) for r in note_rows),
        alerts=tuple(AlertIn(r["user_id"], _dt(r["created_at"]), r["id"] in fell_back) for r in alert_rows),
    )


def _lead_in(row: dict[str, Any]) -> LeadIn:
    evidence = tuple(EvidenceIn(str(e["kind"]), _dt(e["at"])) for e in _json(row["evidence"]) or () if e.get("at"))
    return LeadIn(row["id"], Status(row["status"]), evidence)


def _step_in(row: dict[str, Any]) -> StepIn:
    # lock_breached goes to the manager; the rep it is about is frozen in the alert's moot condition.
    moot = (_json(row["plan"]) or {}).get("moot") or {}
    rep = row["user_id"] if row["kind"] == str(AlertKind.LOCK_REMINDER) else moot.get("assignee_id")
    lock = str(row["dedup_key"]).rsplit(":", 1)[0]  # lock:<deadline>:<fence>:<step> -> one lock
    return StepIn(row["lead_id"], rep, STEP_OF_ALERT[row["kind"]], _dt(row["created_at"]), lock)


async def open_leads(tenant_id: int, assignee_ids: set[int] | None = None) -> list[OpenLead]:
    """The tenant's leads held by someone and not closed (of `assignee_ids` only, when given), with lock times."""
    query = LeadRow.filter(tenant_id=tenant_id, status__in=OPEN_HELD)
    if assignee_ids is not None:
        query = query.filter(assignee_id__in=sorted(assignee_ids))
    rows = await query.values("id", "company", "contact_name", "status", "version", "assignee_id", "priority",
                              "bounce_count", "assigned_at", "last_activity_at")
    due = {r["lead_id"]: _dt(r["due_at"]) for r in await Deadline.filter(
        tenant_id=tenant_id, kind="response_lock", lead__status=str(Status.ASSIGNED)).exclude(
        state="cancelled").values("lead_id", "due_at")}
    names = dict(await User.filter(tenant_id=tenant_id).values_list("id", "name"))
    return [OpenLead(
        id=r["id"], title=_title(r), status=Status(r["status"]), version=r["version"], assignee_id=r["assignee_id"],
        assignee_name=names.get(r["assignee_id"], ""), priority=r["priority"], bounce_count=r["bounce_count"],
        assigned_at=_dt(r["assigned_at"]) if r["assigned_at"] else None,
        last_activity_at=_dt(r["last_activity_at"]) if r["last_activity_at"] else None,
        due_at=due.get(r["id"])) for r in rows]


def _title(row: dict[str, Any]) -> str:
    return lead_title(Lead(id=row["id"], tenant_id=0, company=row["company"] or "",
                           contact_name=row["contact_name"] or ""))
