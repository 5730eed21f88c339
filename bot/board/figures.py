"""The board's figures, computed from a tenant's recorded history. Pure: inputs in, numbers out; no clock, no I/O.

Inputs are what the database already records (`bot.board.queries` loads them): the audit events of the leads, the
evidence on each lead, the escalation alerts, voice notes and alert deliveries. They are first turned into facts,
each with a time and the person it counts for, and the facts are then counted over any window and scope, so the
digest, the page and its charts (one window per day) share one definition of every figure:

- *untouched past 24 h*: a lead waited 24 h with a rep who had it in 已分配 without marking it contacted; counted
  when the 24 h mark passed, for that rep.
- *time to first contact*: from a rep getting a lead in 已分配 to that rep marking it 已联系, in the tenant's
  working time (the clock the response lock runs on); counted when contact was made. Median and p90 (nearest rank).
- *response-lock breaches*: locks whose deadline passed and whose ladder ran (one per lock, whatever its steps);
  *escalations by step*: each step run (remind_rep, alert_manager, reassign, release).
- *stage changes without evidence* (虚假更新率): advances past 已联系 with no voice summary or attachment logged
  on the lead since it entered the stage it left, out of all such advances; counted for whoever advanced it.
- *conversion*: of the leads first contacted in the window, the share that has reached 方案演示, and 赢单, by now.
- *voice summaries*: notes recorded, and per rep of the scope.
- *alerts that needed the fallback*: alerts (other than digests) that were tried on SMS or e-mail.
"""

from __future__ import annotations

import bisect
import enum
import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from bot.calendar.worktime import WorkCalendar
from bot.leads.stages import CHECKABLE
from bot.leads.types import PIPELINE, Status

UNTOUCHED_AFTER = timedelta(hours=24)
# Advances into these stages need something a manager can check; marking a lead 已联系 (a phone call) does not.
EVIDENCED_STAGES = CHECKABLE
EVIDENCE_KINDS = frozenset({"voice_summary", "attachment"})
ESCALATION_STEPS = ("remind_rep", "alert_manager", "reassign", "release")


# --- inputs ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Person:
    id: int
    name: str
    role: str  # rep | manager | admin
    manager_id: int | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class EventIn:
    """One audit event (`storage.models.LeadEvent`), as far as the figures need it."""

    lead_id: int
    seq: int
    at: datetime
    actor_id: int | None
    action: str
    before: Mapping[str, object] = field(default_factory=dict)
    after: Mapping[str, object] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True, slots=True)
class EvidenceIn:
    kind: str
    at: datetime


@dataclass(frozen=True, slots=True)
class LeadIn:
    id: int
    status: Status
    evidence: tuple[EvidenceIn, ...] = ()


@dataclass(frozen=True, slots=True)
class StepIn:
    """An escalation step that ran: `lock` names the response lock (deadline and fence), None for a handover."""

    lead_id: int
    rep_id: int | None
    action: str
    at: datetime
    lock: str | None = None


@dataclass(frozen=True, slots=True)
class NoteIn:
    user_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class AlertIn:
    user_id: int
    at: datetime
    fallback: bool  # tried on SMS or e-mail


@dataclass(frozen=True, slots=True)
class Inputs:
    people: tuple[Person, ...] = ()
    leads: tuple[LeadIn, ...] = ()
    events: tuple[EventIn, ...] = ()
    steps: tuple[StepIn, ...] = ()
    notes: tuple[NoteIn, ...] = ()
    alerts: tuple[AlertIn, ...] = ()


# --- facts -----------------------------------------------------------------------------------------------------


class FactKind(enum.StrEnum):
    UNTOUCHED = "untouched"
    CONTACT = "contact"  # value: working minutes to first contact
    BREACH = "breach"
    STEP = "step"  # tag: the step's action
    ADVANCE = "advance"  # value: 1 without evidence, 0 with
    COHORT = "cohort"  # a first contact; tag: "" / "demo" / "won" (reached later), one fact per stage reached
    NOTE = "note"
    ALERT = "alert"  # value: 1 when it needed the fallback


@dataclass(frozen=True, slots=True)
class Fact:
    kind: FactKind
    at: datetime
    person_id: int | None
    value: float = 0.0
    tag: str = ""


@dataclass(slots=True)
class _Cycle:
    """A lead held in 已分配 by one rep, from when they got it until contact, handover or now."""

    rep_id: int
    start: datetime
    end: datetime | None = None
    contacted: bool = False


_STATUSES: Mapping[object, Status] = {str(s): s for s in Status}
_RANKS: Mapping[Status | None, int] = {s: i for i, s in enumerate(PIPELINE)}


def _status(value: object) -> Status | None:
    return _STATUSES.get(value)


def _rank(status: Status | None) -> int:
    return _RANKS.get(status, -1)


def lead_facts(events: Sequence[EventIn], lead: LeadIn | None, now: datetime, calendar: WorkCalendar) -> list[Fact]:
    """Walk one lead's events in order, keeping its stage and holder, and note every fact they make (an untouched
    lead's fact only once its time, up to `now`, has come)."""
    facts: list[Fact] = []
    status: Status | None = None
    assignee: int | None = None
    since: datetime | None = None  # when the lead entered `status` (None: before what was loaded)
    cycle: _Cycle | None = None
    cycles: list[_Cycle] = []
    first_contact: tuple[datetime, int | None] | None = None
    reached = _rank(lead.status) if lead is not None else -1
    evidence = lead.evidence if lead is not None else ()
    for ev in events:
        if status is None:
            status = _status(ev.before.get("status"))
            assignee = ev.before.get("assignee_id", assignee)  # type: ignore[assignment]
        new_status = _status(ev.after.get("status")) or status
        new_assignee = ev.after["assignee_id"] if "assignee_id" in ev.after else assignee
        reached = max(reached, _rank(new_status))
        if status is Status.ASSIGNED and cycle is not None and (
                new_status is not Status.ASSIGNED or new_assignee != assignee):
            cycle.end, cycle.contacted = ev.at, new_status is Status.CONTACTED
            if cycle.contacted and first_contact is None:
                first_contact = (ev.at, cycle.rep_id)
            cycle = None
        if new_status is Status.ASSIGNED and isinstance(new_assignee, int) and (
                status is not Status.ASSIGNED or new_assignee != assignee):
            cycle = _Cycle(new_assignee, ev.at)
            cycles.append(cycle)
        if ev.action == "advance" and new_status in EVIDENCED_STAGES and new_status is not status:
            backed = any(e.kind in EVIDENCE_KINDS and (since is None or e.at >= since) and e.at <= ev.at
                         for e in evidence)
            facts.append(Fact(FactKind.ADVANCE, ev.at, ev.actor_id, 0.0 if backed else 1.0))
        if ev.reason == "escalation" and ev.action in ("assign", "release"):
            step = "reassign" if ev.action == "assign" else "release"
            facts.append(Fact(FactKind.STEP, ev.at, _int(ev.before.get("assignee_id", assignee)), tag=step))
        if new_status is not status:
            since = ev.at
        status, assignee = new_status, new_assignee  # type: ignore[assignment]
    for c in cycles:
        mark = c.start + UNTOUCHED_AFTER
        if mark <= now and (c.end is None or c.end > mark):
            facts.append(Fact(FactKind.UNTOUCHED, mark, c.rep_id))
        if c.contacted and c.end is not None:
            minutes = calendar.working_time_between(c.start, c.end) / timedelta(minutes=1)
            facts.append(Fact(FactKind.CONTACT, c.end, c.rep_id, minutes))
    if first_contact is not None:
        at, rep = first_contact
        facts.append(Fact(FactKind.COHORT, at, rep))
        if reached >= _rank(Status.DEMO):
            facts.append(Fact(FactKind.COHORT, at, rep, tag="demo"))
        if reached >= _rank(Status.WON):
            facts.append(Fact(FactKind.COHORT, at, rep, tag="won"))
    return facts


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def facts_of(inputs: Inputs, now: datetime, calendar: WorkCalendar) -> list[Fact]:
    """Every fact in the inputs that happened by `now`, each with the person it counts for."""
    leads = {lead.id: lead for lead in inputs.leads}
    by_lead: dict[int, list[EventIn]] = {}
    for ev in inputs.events:
        by_lead.setdefault(ev.lead_id, []).append(ev)
    facts: list[Fact] = []
    for lead_id, events in by_lead.items():
        events.sort(key=lambda e: e.seq)
        facts += lead_facts(events, leads.get(lead_id), now, calendar)
    locks: dict[str, StepIn] = {}
    for s in inputs.steps:
        facts.append(Fact(FactKind.STEP, s.at, s.rep_id, tag=s.action))
        if s.lock is not None and (s.lock not in locks or s.at < locks[s.lock].at):
            locks[s.lock] = s
    facts += [Fact(FactKind.BREACH, s.at, s.rep_id) for s in locks.values()]
    facts += [Fact(FactKind.NOTE, n.at, n.user_id) for n in inputs.notes]
    facts += [Fact(FactKind.ALERT, a.at, a.user_id, 1.0 if a.fallback else 0.0) for a in inputs.alerts]
    return [f for f in facts if f.at <= now]


class FactIndex:
    """Facts ordered by time, so a window's facts are one slice (the page asks for 17 windows of one scope)."""

    def __init__(self, facts: Iterable[Fact]) -> None:
        self.facts = sorted(facts, key=lambda f: f.at)
        self.times = [f.at for f in self.facts]

    def within(self, window: Window) -> list[Fact]:
        return self.facts[bisect.bisect_left(self.times, window.start):bisect.bisect_right(self.times, window.end)]

    def only(self, scope: Scope) -> FactIndex:
        return self if scope.members is None else FactIndex(f for f in self.facts if scope.holds(f.person_id))


# --- scopes and windows ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose figures: the tenant (everyone, and the system), a manager's team (them and their reps), one rep."""

    kind: str  # tenant | team | rep
    id: int | None
    name: str
    members: frozenset[int] | None  # None: everyone
    reps: int  # how many reps it has, for per-rep figures

    def holds(self, person_id: int | None) -> bool:
        return self.members is None or person_id in self.members


def tenant_scope(people: Iterable[Person], name: str = "全公司") -> Scope:
    return Scope("tenant", None, name, None, sum(1 for p in people if p.role == "rep" and p.active))


def team_scope(manager: Person, people: Iterable[Person]) -> Scope:
    reps = [p for p in people if p.manager_id == manager.id]
    return Scope("team", manager.id, manager.name, frozenset({manager.id, *(p.id for p in reps)}),
                 sum(1 for p in reps if p.active and p.role == "rep"))


def rep_scope(rep: Person) -> Scope:
    return Scope("rep", rep.id, rep.name, frozenset({rep.id}), 1)


@dataclass(frozen=True, slots=True)
class Window:
    name: str  # today | 7d | 30d | a date for chart points
    start: datetime
    end: datetime

    @property
    def days(self) -> float:
        """Its length in days, at least one (so "per day" figures of a morning are not blown up)."""
        return max(1.0, (self.end - self.start) / timedelta(days=1))


WINDOW_LABELS = {"today": "今天", "7d": "近 7 天", "30d": "近 30 天"}


def windows(now: datetime, tz: tzinfo) -> tuple[Window, ...]:
    """Today (since midnight in the tenant's zone), the last 7 days and the last 30 days, all ending at `now`."""
    midnight = datetime.combine(now.astimezone(tz).date(), time(0), tz)
    return (Window("today", midnight, now), Window("7d", now - timedelta(days=7), now),
            Window("30d", now - timedelta(days=30), now))


def daily_windows(now: datetime, tz: tzinfo, days: int) -> tuple[Window, ...]:
    """One window per calendar day in the tenant's zone, the last one being today (up to `now`)."""
    today = now.astimezone(tz).date()
    out = []
    for back in range(days - 1, -1, -1):
        d: date = today - timedelta(days=back)
        start = datetime.combine(d, time(0), tz)
        out.append(Window(d.isoformat(), start, min(now, start + timedelta(days=1))))
    return tuple(out)


# --- figures ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Figures:
    untouched_24h: int = 0
    first_contacts: int = 0
    ttfc_median_min: float | None = None
    ttfc_p90_min: float | None = None
    lock_breaches: int = 0
    escalations: Mapping[str, int] = field(default_factory=dict)
    advances: int = 0
    unevidenced: int = 0
    contacted: int = 0
    to_demo: int = 0
    to_won: int = 0
    voice_notes: int = 0
    reps: int = 0
    alerts: int = 0
    fallback_alerts: int = 0

    @property
    def unevidenced_rate(self) -> float | None:
        return self.unevidenced / self.advances if self.advances else None

    @property
    def conv_demo(self) -> float | None:
        return self.to_demo / self.contacted if self.contacted else None

    @property
    def conv_won(self) -> float | None:
        return self.to_won / self.contacted if self.contacted else None

    @property
    def voice_per_rep(self) -> float | None:
        return self.voice_notes / self.reps if self.reps else None

    @property
    def fallback_rate(self) -> float | None:
        return self.fallback_alerts / self.alerts if self.alerts else None


def p90(values: Sequence[float]) -> float | None:
    """Nearest-rank 90th percentile: the smallest value at or above 90 % of the values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


# How many facts of each (kind, tag), and the sum of their values: what `figures` makes of a window's facts, and what
# `bot.board.sums` counts in SQL from the facts kept in the database.
Counts = dict[tuple[str, str], tuple[int, float]]


@dataclass(frozen=True, slots=True)
class Contacts:
    """A window's times to first contact, in working minutes: how many, their median and their p90."""

    n: int = 0
    median_min: float | None = None
    p90_min: float | None = None

    @classmethod
    def of(cls, minutes: Sequence[float]) -> Contacts:
        return cls(len(minutes), statistics.median(minutes) if minutes else None, p90(minutes))


def tally(facts: Iterable[Fact], scope: Scope, window: Window) -> tuple[Counts, list[float]]:
    """The facts of `scope` that happened in `window` (start inclusive, end inclusive: `now` counts), counted, and
    the working minutes of its first contacts."""
    counts: Counts = {}
    minutes: list[float] = []
    for f in facts:
        if not (window.start <= f.at <= window.end) or not scope.holds(f.person_id):
            continue
        key = (str(f.kind), f.tag)
        n, total = counts.get(key, (0, 0.0))
        counts[key] = (n + 1, total + f.value)
        if f.kind is FactKind.CONTACT:
            minutes.append(f.value)
    return counts, minutes


def merged(*parts: Counts) -> Counts:
    out: Counts = {}
    for part in parts:
        for key, (n, total) in part.items():
            had_n, had_total = out.get(key, (0, 0.0))
            out[key] = (had_n + n, had_total + total)
    return out


def summed(counts: Counts, contacts: Contacts, scope: Scope) -> Figures:
    """The figures of a window from its counts (a step's tag is its action; a cohort fact's, the stage reached)."""
    def n(kind: FactKind, tag: str = "") -> int:
        return counts.get((str(kind), tag), (0, 0.0))[0]

    def total(kind: FactKind) -> int:
        return round(counts.get((str(kind), ""), (0, 0.0))[1])

    return Figures(
        untouched_24h=n(FactKind.UNTOUCHED),
        first_contacts=contacts.n,
        ttfc_median_min=contacts.median_min,
        ttfc_p90_min=contacts.p90_min,
        lock_breaches=n(FactKind.BREACH),
        escalations={s: n(FactKind.STEP, s) for s in ESCALATION_STEPS},
        advances=n(FactKind.ADVANCE),
        unevidenced=total(FactKind.ADVANCE),
        contacted=n(FactKind.COHORT),
        to_demo=n(FactKind.COHORT, "demo"),
        to_won=n(FactKind.COHORT, "won"),
        voice_notes=n(FactKind.NOTE),
        reps=scope.reps,
        alerts=n(FactKind.ALERT),
        fallback_alerts=total(FactKind.ALERT),
    )


def figures(facts: Iterable[Fact], scope: Scope, window: Window) -> Figures:
    """Count the facts of `scope` that happened in `window` (start inclusive, end inclusive: `now` counts)."""
    counts, minutes = tally(facts, scope, window)
    return summed(counts, Contacts.of(minutes), scope)


# --- red / yellow / green --------------------------------------------------------------------------------------


class Colour(enum.StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"
    NONE = "none"  # nothing to judge (no contacts, no advances...)


@dataclass(frozen=True, slots=True)
class Judged:
    """How one figure is judged: what value is read, whether more is worse, and whether it is a per-day count."""

    label: str
    read: Callable[[Figures], float | None]
    higher_is_worse: bool = True
    per_day: bool = False


JUDGED: Mapping[str, Judged] = {
    "untouched_24h": Judged("超24小时未联系", lambda f: f.untouched_24h, per_day=True),
    "ttfc_median_min": Judged("首次联系中位数(分钟)", lambda f: f.ttfc_median_min),
    "ttfc_p90_min": Judged("首次联系P90(分钟)", lambda f: f.ttfc_p90_min),
    "lock_breaches": Judged("超时未联系", lambda f: f.lock_breaches, per_day=True),
    "unevidenced_rate": Judged("无证据推进率", lambda f: f.unevidenced_rate),
    "conv_demo": Judged("已联系→方案演示", lambda f: f.conv_demo, higher_is_worse=False),
    "conv_won": Judged("已联系→赢单", lambda f: f.conv_won, higher_is_worse=False),
    "voice_per_rep": Judged("人均语音纪要", lambda f: f.voice_per_rep, higher_is_worse=False, per_day=True),
    "fallback_rate": Judged("需短信/邮件补发", lambda f: f.fallback_rate),
}


@dataclass(frozen=True, slots=True)
class Threshold:
    """`yellow` and `red` bounds: reached (or, for figures where more is better, fallen to) means that colour."""

    yellow: float
    red: float


def colour(name: str, value: float | None, threshold: Threshold, window: Window) -> Colour:
    judged = JUDGED[name]
    if value is None:
        return Colour.NONE
    v = value / window.days if judged.per_day else value
    if judged.higher_is_worse:
        return Colour.RED if v >= threshold.red else Colour.YELLOW if v >= threshold.yellow else Colour.GREEN
    return Colour.RED if v <= threshold.red else Colour.YELLOW if v <= threshold.yellow else Colour.GREEN


def colours(figs: Figures, thresholds: Mapping[str, Threshold], window: Window) -> dict[str, Colour]:
    return {name: colour(name, j.read(figs), thresholds[name], window) for name, j in JUDGED.items()
            if name in thresholds}
