"""Which lead a voice note is about: pure, so the rule is tested by a table.

A chat platform's voice message cannot quote a card, so "the lead this message answers" is inferred:
  1. the rep has exactly one active lead: that one;
  2. several, but in the `TOUCH_WINDOW` before sending the note the rep acted on one of them (pressed a button
     on its card, or filed an earlier note on it): the one touched last — a rep typically marks the lead on its
     card right after the visit, then records the summary;
  3. otherwise ask with a chooser card, leads most recently touched or active first;
  4. no active lead: the note is kept unattached and the rep is told so.
The window is short on purpose: a note attached to the wrong lead would open that lead's 方案演示 gate.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

TOUCH_WINDOW = timedelta(minutes=10)
# A touch stamped a little after the message still counts: platform and database clocks are not the same clock.
CLOCK_SLACK = timedelta(seconds=30)
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ActiveLead:
    id: int
    last_activity_at: datetime | None = None
    touched_at: datetime | None = None  # the rep's own last action on it


class ChoiceKind(enum.StrEnum):
    ONLY = "only"
    TOUCHED = "touched"
    ASK = "ask"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class LeadChoice:
    kind: ChoiceKind
    lead_id: int | None = None
    candidates: tuple[int, ...] = ()  # ASK: the leads to offer, most likely first


def _recency(lead: ActiveLead) -> tuple[datetime, datetime, int]:
    return (lead.touched_at or _NEVER, lead.last_activity_at or _NEVER, lead.id)


def choose_lead(leads: Sequence[ActiveLead], sent_at: datetime, window: timedelta = TOUCH_WINDOW) -> LeadChoice:
    if not leads:
        return LeadChoice(ChoiceKind.NONE)
    if len(leads) == 1:
        return LeadChoice(ChoiceKind.ONLY, leads[0].id)
    recent = [
        lead for lead in leads
        if lead.touched_at is not None and sent_at - window <= lead.touched_at <= sent_at + CLOCK_SLACK
    ]
    if recent:
        return LeadChoice(ChoiceKind.TOUCHED, max(recent, key=_recency).id)
    ordered = sorted(leads, key=_recency, reverse=True)
    return LeadChoice(ChoiceKind.ASK, candidates=tuple(lead.id for lead in ordered))
