"""Reading leads for people and integrations: one lead with its history, filtered lists, overdue checks.

Every query takes the tenant id: there is no way to read a lead without saying whose it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.leads import fields as heard
from bot.leads.schemas import EventOut, LeadOut
from bot.leads.types import Status
from storage.models import Deadline, Lead, LeadEvent

RESPONSE_LOCK = "response_lock"


async def deadlines_of(lead_ids: list[int]) -> dict[int, datetime]:
    """The response-lock due time of each lead that has a live one (pending, or fired and escalating)."""
    if not lead_ids:
        return {}
    rows = await Deadline.filter(lead_id__in=lead_ids, kind=RESPONSE_LOCK).exclude(state="cancelled").values(
        "lead_id", "due_at")
    return {r["lead_id"]: r["due_at"] for r in rows}


def to_out(row: Lead, due: datetime | None, now: datetime, events: list[EventOut] | None = None) -> LeadOut:
    status = Status(row.status)
    overdue = status is Status.ASSIGNED and due is not None and due <= now
    return LeadOut(
        id=row.id, tenant_id=row.tenant_id, external_id=row.external_id, company=row.company,
        contact_name=row.contact_name, phone=row.phone, email=row.email, source=row.source, region=row.region,
        industry=row.industry, **heard.out_values(row), tags=row.tags or [],
        intent=row.intent, priority=row.priority, status=row.status, status_label=status.label,
        assignee_id=row.assignee_id, decision_maker=row.decision_maker, contacts=row.contacts or [],
        evidence=row.evidence or [],
        lost_reason=row.lost_reason, version=row.version, created_at=row.created_at, assigned_at=row.assigned_at,
        contacted_at=row.contacted_at, closed_at=row.closed_at,
        response_deadline=due if status is Status.ASSIGNED else None, overdue=overdue, events=events,
    )


async def history(lead_id: int) -> list[EventOut]:
    rows = await LeadEvent.filter(lead_id=lead_id).order_by("seq").values(
        "seq", "at", "actor_id", "actor_role", "source", "action", "before", "after", "evidence", "reason")
    return [EventOut(**r) for r in rows]


async def one(tenant_id: int, lead_id: int, *, now: datetime, with_events: bool = True) -> LeadOut | None:
    row = await Lead.get_or_none(id=lead_id, tenant_id=tenant_id)
    if row is None:
        return None
    due = (await deadlines_of([row.id])).get(row.id)
    return to_out(row, due, now, await history(row.id) if with_events else None)


async def search(tenant_id: int, *, status: Status | None = None, assignee_id: int | None = None,
                 overdue: bool | None = None, limit: int = 100, after_id: int = 0,
                 now: datetime) -> list[LeadOut]:
    """`now` decides what is overdue."""
    filters: dict[str, Any] = {"tenant_id": tenant_id, "id__gt": after_id}
    if status is not None:
        filters["status"] = str(status)
    if assignee_id is not None:
        filters["assignee_id"] = assignee_id
    if overdue is not None:
        late = await Deadline.filter(tenant_id=tenant_id, kind=RESPONSE_LOCK, due_at__lte=now).exclude(
            state="cancelled").values_list("lead_id", flat=True)
        late_assigned = await Lead.filter(id__in=list(late), status=str(Status.ASSIGNED)).values_list("id",
                                                                                                       flat=True)
        filters["id__in" if overdue else "id__not_in"] = list(late_assigned)
    rows = await Lead.filter(**filters).order_by("id").limit(limit)
    due = await deadlines_of([r.id for r in rows])
    return [to_out(r, due.get(r.id), now) for r in rows]
