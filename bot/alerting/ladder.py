"""The escalation ladder, the stale-deal rule and the timers they ask for. Pure: no clock, no I/O.

When a response lock starts, the tenant's ladder is frozen onto the deadline as a `Plan`: each step with the time
it runs, the rep it is about and the manager to alert, so a later change of the tenant's settings (or of the
rep's manager) does not rewrite an escalation already under way. One job run executes one step; `run_at` tells
the runner when the next one is due, `is_moot` whether the lead still needs it, and `step_effects` what the step
does, as data (`AlertSpec`, `Handover`) for `bot.alerting.deadlines` to carry out.

Defaults (issue 6): at the deadline remind the rep; 30 min later alert the rep's manager with the lead's alert
card and 我来处理; 2 h after that reassign by the routing rules (or back to the pool when nobody fits) and tell
both reps. Delays count working time on the tenant's calendar, like the lock itself, unless the tenant says
otherwise: a manager alert due at 18:20 goes out at 09:20 on the next working day, not in the night.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from bot.calendar.worktime import WorkCalendar
from bot.leads import stages
from bot.leads.types import Lead, Status


class StepAction(enum.StrEnum):
    REMIND_REP = "remind_rep"
    ALERT_MANAGER = "alert_manager"
    REASSIGN = "reassign"  # by the routing rules; back to the pool when no rule has anyone else
    RELEASE = "release"  # straight back to the pool


# After one of these the lead has left the rep: a step after it could never apply.
HANDOVERS = frozenset({StepAction.REASSIGN, StepAction.RELEASE})


class AlertKind(enum.StrEnum):
    """Alerts this module raises; the workflow's `NotifyKind` values are alert kinds too."""

    LOCK_REMINDER = "lock_reminder"  # to the rep, at the deadline
    LOCK_BREACHED = "lock_breached"  # to the manager, with 我来处理
    STALE_DEAL = "stale_deal"  # to the manager: an open deal went quiet


# An alert's text says what happened and is the same on every channel (SMS and e-mail have no buttons); the chat
# card adds what its own buttons do, by kind (the e-mail offers its links instead, see `bot.alerting.notify.email`).
CHAT_ACTIONS: Mapping[str, str] = {
    AlertKind.LOCK_REMINDER: "联系后点「已联系」。",
    AlertKind.LOCK_BREACHED: "也可点「我来处理」接手。",
}
HEADLINES: Mapping[str, str] = {
    AlertKind.LOCK_REMINDER: "联系时限已到",
    AlertKind.LOCK_BREACHED: "超时未联系",
    AlertKind.STALE_DEAL: "商机停滞",
    "reassigned_away": "线索已转交",
    "returned_to_pool": "线索退回公海",
    "flagged": "线索多次退回",
    "won": "赢单",
    "lost": "输单",
    "reopened": "线索重新打开",
    "no_evidence": "缺少证据推进",
    "deactivated": "成员停用",
}
# Alerts that keep going down the channel chain until someone presses 知道了 (or the ack link): the ones asking
# a person to act. The others (won, lost...) are news: delivered once on the first channel that takes them.
DEFAULT_ACK_KINDS = (
    AlertKind.LOCK_REMINDER,
    AlertKind.LOCK_BREACHED,
    AlertKind.STALE_DEAL,
    "flagged",
    "no_evidence",
)
OPEN_DEAL = stages.OPEN_DEAL  # the stale-deal rule's stages (the stage table's `deal` column)


@dataclass(frozen=True, slots=True)
class Step:
    action: StepAction
    delay_minutes: int = 0  # after the previous step; the first step's is after the deadline


DEFAULT_STEPS: tuple[Step, ...] = (
    Step(StepAction.REMIND_REP, 0),
    Step(StepAction.ALERT_MANAGER, 30),
    Step(StepAction.REASSIGN, 120),
)


@dataclass(frozen=True, slots=True)
class EscalationSettings:
    steps: tuple[Step, ...] = DEFAULT_STEPS
    working_time: bool = True  # delays count working time on the tenant's calendar
    stale_after_hours: int = 72  # an open deal with no activity for this long alerts its manager; 0: never


# --- the frozen plan ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedStep:
    action: StepAction
    at: datetime


@dataclass(frozen=True, slots=True)
class Plan:
    """The ladder as frozen onto one deadline: who it is about, who hears of it, and when each step runs."""

    lead_id: int
    assignee_id: int
    manager_id: int | None
    due_at: datetime
    steps: tuple[PlannedStep, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "lead_id": self.lead_id,
            "assignee_id": self.assignee_id,
            "manager_id": self.manager_id,
            "due_at": self.due_at.isoformat(),
            "steps": [{"action": str(s.action), "at": s.at.isoformat()} for s in self.steps],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Plan:
        return cls(
            lead_id=int(d["lead_id"]),
            assignee_id=int(d["assignee_id"]),
            manager_id=d.get("manager_id"),
            due_at=datetime.fromisoformat(d["due_at"]),
            steps=tuple(PlannedStep(StepAction(s["action"]), datetime.fromisoformat(s["at"])) for s in d["steps"]),
        )


def effective_steps(steps: Sequence[Step]) -> tuple[Step, ...]:
    """The steps that can run: nothing after the first handover (the lead has left the rep by then)."""
    out: list[Step] = []
    for step in steps:
        out.append(step)
        if step.action in HANDOVERS:
            break
    return tuple(out)


def plan_ladder(
    settings: EscalationSettings,
    *,
    lead_id: int,
    assignee_id: int,
    manager_id: int | None,
    due_at: datetime,
    calendar: WorkCalendar,
) -> Plan:
    """Freeze the tenant's ladder for a lock due at `due_at`: each step's time follows the previous one's."""
    planned: list[PlannedStep] = []
    at = due_at
    for step in effective_steps(settings.steps):
        delay = timedelta(minutes=step.delay_minutes)
        at = calendar.add(at, delay) if settings.working_time else at + delay
        planned.append(PlannedStep(step.action, at))
    return Plan(lead_id, assignee_id, manager_id, due_at, tuple(planned))


def run_at(plan: Plan, step: int) -> datetime | None:
    """When step `step` runs, or None when the ladder has no such step (it is finished)."""
    return plan.steps[step].at if 0 <= step < len(plan.steps) else None


def is_moot(lead: Lead, plan: Plan) -> bool:
    """The lock no longer stands: the rep contacted the lead, or it left them (claimed, reassigned, closed)."""
    return lead.status is not Status.ASSIGNED or lead.assignee_id != plan.assignee_id


# --- what a step does ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """An alert to raise. `dedup_key` is stable per cause, so a retried job never raises it twice; `moot` names
    what makes it pointless to go on (`{"assignee_id": 3}`: the lead is no longer 已分配 to user 3)."""

    user_id: int
    kind: str
    headline: str
    text: str
    lead_id: int | None
    dedup_key: str
    moot: Mapping[str, Any] = field(default_factory=dict)
    # What a card builder for this kind needs (`bot.alerting.alerts.CARD_BUILDERS`), frozen onto the alert: the
    # digest's data.
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Handover:
    """Take the lead from the rep: by the routing rules (`to_pool` False) or back to the pool."""

    lead_id: int
    from_assignee_id: int
    to_pool: bool


StepEffect = AlertSpec | Handover


def _name(lead: Lead) -> str:
    return lead.company or lead.contact_name or f"线索 {lead.id}"


def _local(dt: datetime, tz: tzinfo) -> str:
    return dt.astimezone(tz).strftime("%m-%d %H:%M")


def step_effects(
    plan: Plan, step: int, *, deadline_id: int, fence: int, lead: Lead, tz: tzinfo
) -> tuple[StepEffect, ...]:
    """What step `step` of `plan` does for `lead` (already known not to be moot)."""
    action = plan.steps[step].action
    key = f"lock:{deadline_id}:{fence}:{step}"
    lock = {"assignee_id": plan.assignee_id}
    due = _local(plan.due_at, tz)
    rep = lead.assignee_name or "负责人"
    if action is StepAction.REMIND_REP:
        text = f"线索「{_name(lead)}」的联系时限（{due}）已到，请尽快联系客户。"
        return (AlertSpec(plan.assignee_id, AlertKind.LOCK_REMINDER, HEADLINES[AlertKind.LOCK_REMINDER], text,
                          lead.id, key, lock),)
    if action is StepAction.ALERT_MANAGER:
        if plan.manager_id is None:
            return ()
        text = f"{rep} 未在时限（{due}）内联系线索「{_name(lead)}」，请跟进。"
        return (AlertSpec(plan.manager_id, AlertKind.LOCK_BREACHED, HEADLINES[AlertKind.LOCK_BREACHED], text,
                          lead.id, key, lock),)
    return (Handover(lead.id, plan.assignee_id, to_pool=action is StepAction.RELEASE),)


# --- stale deals ----------------------------------------------------------------------------------------------


def stale_period(status: Status, last_activity: datetime | None, now: datetime, after: timedelta) -> int:
    """0 when the deal is not stale; n when it has been silent for n whole periods of `after` (one alert each)."""
    if status not in OPEN_DEAL or last_activity is None or after <= timedelta(0):
        return 0
    return max(0, int((now - last_activity) / after))


def stale_alert(lead: Lead, manager_id: int | None, last_activity: datetime | None, now: datetime,
                settings: EscalationSettings) -> AlertSpec | None:
    """The alert for a deal gone quiet, keyed so each period of silence alerts once (and new activity resets)."""
    after = timedelta(hours=settings.stale_after_hours)
    period = stale_period(lead.status, last_activity, now, after)
    if period == 0 or manager_id is None or last_activity is None:
        return None
    days = int((now - last_activity) / timedelta(days=1))
    rep = lead.assignee_name or "负责人"
    text = f"「{_name(lead)}」（{lead.status.label}，负责人 {rep}）已 {days} 天没有任何跟进记录，请关注。"
    key = f"stale:{lead.id}:{int(last_activity.timestamp())}:{period}"
    moot = {"last_activity": last_activity.isoformat()}
    return AlertSpec(manager_id, AlertKind.STALE_DEAL, HEADLINES[AlertKind.STALE_DEAL], text, lead.id, key, moot)


def needs_ack(kind: str, ack_kinds: Sequence[str] = DEFAULT_ACK_KINDS) -> bool:
    return kind in ack_kinds


# --- timers ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timer:
    """A job to run at a time. The id is deterministic: arming the same timer twice queues it once."""

    function: str
    job_id: str
    run_at: datetime
    kwargs: Mapping[str, Any]


def deadline_timer(deadline_id: int, fence: int, step: int, at: datetime) -> Timer:
    return Timer("fire_deadline", f"lb:deadline:{deadline_id}:{fence}:{step}", at,
                 {"deadline_id": deadline_id, "fence": fence, "step": step})


def alert_timer(alert_id: int, index: int, at: datetime) -> Timer:
    return Timer("advance_alert", f"lb:alert:{alert_id}:{index}", at, {"alert_id": alert_id, "index": index})
