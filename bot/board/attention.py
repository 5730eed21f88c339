"""Which of a team's open leads most need their manager, and why. Pure: no clock, no I/O.

Three reasons, most pressing first: a lead sitting in 已分配 past its response deadline or for 24 h (nobody has
called the client: every hour costs), a lead that keeps bouncing between reps (flagged after two), an open deal
that has gone quiet for the tenant's stale limit. Within a reason, urgent leads first, then the longest waiting.
The digest shows the first three; the board's overdue list is every lead of the first reason.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.alerting.ladder import OPEN_DEAL
from bot.leads.types import Status
from bot.leads.workflow import FLAG_AFTER_BOUNCES

UNTOUCHED_AFTER = timedelta(hours=24)


class Need(enum.IntEnum):
    OVERDUE = 0
    BOUNCING = 1
    STALE = 2


@dataclass(frozen=True, slots=True)
class OpenLead:
    id: int
    title: str
    status: Status
    version: int
    assignee_id: int | None
    assignee_name: str = ""
    priority: int = 0
    bounce_count: int = 0
    assigned_at: datetime | None = None
    last_activity_at: datetime | None = None
    due_at: datetime | None = None  # the response lock's deadline, while one stands


@dataclass(frozen=True, slots=True)
class Attention:
    lead: OpenLead
    need: Need
    since: datetime  # what the wait is counted from
    reason: str


def _hours(delta: timedelta) -> str:
    hours = int(delta / timedelta(hours=1))
    return f"{hours // 24} 天" if hours >= 48 else f"{hours} 小时"


def assess(lead: OpenLead, now: datetime, stale_after: timedelta) -> Attention | None:
    if lead.status is Status.ASSIGNED and lead.assigned_at is not None:
        late = lead.due_at is not None and lead.due_at <= now
        if late or now - lead.assigned_at >= UNTOUCHED_AFTER:
            why = f"已分配 {_hours(now - lead.assigned_at)}未联系" + ("，已过联系时限" if late else "")
            return Attention(lead, Need.OVERDUE, lead.assigned_at, why)
    if lead.bounce_count >= FLAG_AFTER_BOUNCES and lead.status.is_open:
        return Attention(lead, Need.BOUNCING, lead.assigned_at or now, f"已退回 {lead.bounce_count} 次")
    quiet_since = lead.last_activity_at
    if (lead.status in OPEN_DEAL and quiet_since is not None and stale_after > timedelta(0)
            and now - quiet_since >= stale_after):
        return Attention(lead, Need.STALE, quiet_since, f"{_hours(now - quiet_since)}无跟进")
    return None


def ranked(leads: Iterable[OpenLead], now: datetime, stale_after: timedelta) -> list[Attention]:
    """Every lead that needs attention, most pressing first."""
    found = [a for a in (assess(lead, now, stale_after) for lead in leads) if a is not None]
    return sorted(found, key=lambda a: (a.need, -a.lead.priority, a.since, a.lead.id))


def overdue(leads: Iterable[OpenLead], now: datetime) -> list[Attention]:
    return [a for a in ranked(leads, now, timedelta(0)) if a.need is Need.OVERDUE]
