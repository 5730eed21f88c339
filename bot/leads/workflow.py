"""The lead status machine: a snapshot and an action in, a decision out. No I/O, no clock.

    decision = decide(lead, Advance(Status.CONTACTED), actor, now, settings=tenant_settings, source=EventSource.CARD)
    if decision.ok: store decision.lead and its Audit in one transaction, then carry out the other effects
    else: show decision.message (and decision.missing) on the clicker's card

Effects come in the order they must be carried out: `Audit` first (same transaction as the lead row, so a change
is never stored without its event), then response-lock changes, cards to send, notifications, and last
`RenderCards` (every live card of the lead, for everyone who holds one, not only the clicked card).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bot.leads import fields as heard
from bot.leads.actions import (
    Accepted,
    Action,
    Advance,
    ArmResponseLock,
    Assign,
    AttachEvidence,
    Audit,
    CancelResponseLock,
    Cause,
    Claim,
    Decision,
    Effect,
    MarkLost,
    Notify,
    NotifyKind,
    ReleaseToPool,
    RenderCards,
    Reopen,
    SendLeadCard,
    UpdateFields,
)
from bot.leads.audit import AuditEvent
from bot.leads.gates import (
    Missing,
    Refusal,
    RefusalCode,
    enforced_missing,
    evidence_missing,
    may_manage,
    may_work,
    refuse,
)
from bot.leads.types import (
    CLOSED,
    DEFAULT_SETTINGS,
    Actor,
    Contact,
    EventSource,
    Lead,
    Role,
    Status,
    StatusChange,
    WorkflowSettings,
    deadline_tier,
    next_stage,
)

__all__ = ["Accepted", "Decision", "Missing", "Refusal", "RefusalCode", "allowed_actions", "decide"]

# Went back this many times: the lead is flagged to its manager (issue 6).
FLAG_AFTER_BOUNCES = 2
MAX_REASON_CHARS = 200
# What an audit event records the before and after of (the columns extracted fields fill among them).
_AUDITED = (
    "status", "assignee_id", "priority", *heard.LEAD_COLUMNS, "decision_maker", "contacts", "lost_reason",
    "bounce_count",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Change:
    lead: Lead
    effects: tuple[Effect, ...] = ()
    reason: str = ""
    evidence: tuple[str, ...] = ()


_Outcome = _Change | Refusal


def decide(
    lead: Lead,
    action: Action,
    actor: Actor,
    now: datetime,
    *,
    settings: WorkflowSettings = DEFAULT_SETTINGS,
    source: EventSource = EventSource.CARD,
    seen_version: int | None = None,
) -> Decision:
    """Apply `action` by `actor` at `now` (timezone-aware). `seen_version` is the lead version the clicked card
    showed: a click on an older card is refused, since what the rep saw is no longer what is there."""
    if now.tzinfo is None:
        raise ValueError("decide() needs a timezone-aware `now`")
    if actor.tenant_id != lead.tenant_id:
        return refuse(RefusalCode.WRONG_TENANT)
    if seen_version is not None and seen_version != lead.version:
        return refuse(RefusalCode.STALE_CARD)
    handler = _HANDLERS.get(type(action))
    if handler is None:
        raise TypeError(f"decide() does not know {type(action).__name__}")
    outcome = handler(lead, action, actor, now, settings)
    if isinstance(outcome, Refusal):
        return outcome
    return _accept(lead, outcome, action, actor, now, source)


def _accept(lead: Lead, change: _Change, action: Action, actor: Actor, now: datetime, source: EventSource) -> Accepted:
    new = replace(change.lead, version=lead.version + 1)
    before, after = _diff(lead, new)
    event = AuditEvent(
        tenant_id=lead.tenant_id,
        lead_id=lead.id,
        at=now,
        actor_id=actor.user_id,
        actor_role=actor.role,
        source=source,
        action=action.name,
        before=before,
        after=after,
        evidence=change.evidence,
        reason=change.reason,
    )
    effects = (Audit(event), *change.effects, RenderCards(lead.id, new.version))
    return Accepted(lead=new, effects=effects)


def _diff(old: Lead, new: Lead) -> tuple[dict[str, Any], dict[str, Any]]:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name in _AUDITED:
        a, b = getattr(old, name), getattr(new, name)
        if a != b:
            before[name], after[name] = _audit_value(a), _audit_value(b)
    return before, after


def _audit_value(value: Any) -> Any:
    if isinstance(value, tuple) and value and isinstance(value[0], Contact):
        return [[c.name, c.title, c.decision_maker] for c in value]
    return value


def _moved(lead: Lead, to: Status, now: datetime, **changes: Any) -> Lead:
    return replace(lead, status=to, history=(*lead.history, StatusChange(lead.status, to, now)), **changes)


def _lock_effects(old: Lead, new: Lead, settings: WorkflowSettings) -> tuple[Effect, ...]:
    """Arm a fresh response lock whenever a lead lands on (or is re-handed while in) 已分配; cancel it on leaving."""
    version = old.version + 1
    handed = old.status is not Status.ASSIGNED or old.assignee_id != new.assignee_id
    if new.status is Status.ASSIGNED and new.assignee_id is not None and handed:
        tier = deadline_tier(new)
        minutes = settings.deadline_minutes_for(tier)
        return (ArmResponseLock(new.id, new.assignee_id, tier, minutes, fence=version),)
    if old.status is Status.ASSIGNED and new.status is not Status.ASSIGNED:
        return (CancelResponseLock(new.id, fence=version),)
    return ()


def _notify(user_id: int | None, actor: Actor, kind: NotifyKind, lead: Lead, text: str) -> tuple[Effect, ...]:
    if user_id is None or user_id == actor.user_id:
        return ()
    return (Notify(user_id, kind, lead.id, text),)


def _name(lead: Lead) -> str:
    return lead.company or lead.contact_name or f"线索 {lead.id}"


# --- one function per action ------------------------------------------------------------------------------


def _advance(lead: Lead, action: Advance, actor: Actor, now: datetime, settings: WorkflowSettings) -> _Outcome:
    if not may_work(lead, actor):
        return refuse(RefusalCode.NOT_ALLOWED)
    if lead.status in CLOSED:
        return refuse(RefusalCode.CLOSED)
    if action.to is lead.status:
        return refuse(RefusalCode.ALREADY, f"线索已是「{lead.status.label}」")
    if action.to is not next_stage(lead.status):
        return refuse(RefusalCode.ILLEGAL, f"「{lead.status.label}」不能直接变更为「{action.to.label}」")
    blocking = enforced_missing(lead, action.to, settings)
    if blocking:
        return refuse(RefusalCode.GATE, missing=blocking, target=action.to)
    stamps = dict.fromkeys(action.to.spec.stamps, now)
    new = _moved(lead, action.to, now, **stamps)
    effects = _lock_effects(lead, new, settings)
    skipped = evidence_missing(lead, action.to)
    if skipped:  # the tenant turned this gate off: the step goes through, the manager hears of it
        text = f"「{_name(lead)}」推进到「{action.to.label}」时缺少：" + "、".join(m.label for m in skipped)
        effects += _notify(lead.assignee_manager_id, actor, NotifyKind.NO_EVIDENCE, lead, text)
    if action.to is Status.WON:
        effects += _notify(lead.assignee_manager_id, actor, NotifyKind.WON, lead, f"「{_name(lead)}」赢单")
    return _Change(new, effects)


def _mark_lost(lead: Lead, action: MarkLost, actor: Actor, now: datetime, settings: WorkflowSettings) -> _Outcome:
    if not may_work(lead, actor):
        return refuse(RefusalCode.NOT_ALLOWED)
    if lead.status is Status.LOST:
        return refuse(RefusalCode.ALREADY, "线索已是「输单」")
    if lead.status is Status.WON:
        return refuse(RefusalCode.CLOSED)
    reason = action.reason.strip()[:MAX_REASON_CHARS]
    if not reason:
        return refuse(RefusalCode.REASON_REQUIRED)
    new = _moved(lead, Status.LOST, now, lost_reason=reason, closed_at=now)
    effects = _lock_effects(lead, new, settings)
    effects += _notify(lead.assignee_manager_id, actor, NotifyKind.LOST, lead, f"「{_name(lead)}」输单：{reason}")
    return _Change(new, effects, reason=reason)


def _reopen(lead: Lead, action: Reopen, actor: Actor, now: datetime, settings: WorkflowSettings) -> _Outcome:
    if not may_work(lead, actor):
        return refuse(RefusalCode.NOT_ALLOWED)
    if lead.status not in CLOSED:
        return refuse(RefusalCode.ILLEGAL, f"线索处于「{lead.status.label}」，无需重新打开")
    if not may_manage(lead, actor):
        return refuse(RefusalCode.NEEDS_MANAGER)
    restored = _status_before_closing(lead)
    fields: dict[str, Any] = dict(lost_reason=None, closed_at=None)
    if restored is Status.POOL:
        fields.update(assignee_id=None, assignee_name="", assignee_manager_id=None, assigned_at=None)
    new = _moved(lead, restored, now, **fields)
    effects = _lock_effects(lead, new, settings)
    effects += _notify(lead.assignee_id, actor, NotifyKind.REOPENED, lead, f"「{_name(lead)}」已重新打开")
    return _Change(new, effects, reason=action.reason.strip()[:MAX_REASON_CHARS])


def _status_before_closing(lead: Lead) -> Status:
    last = lead.history[-1] if lead.history else None
    before = last.from_status if last is not None and last.to_status is lead.status else None
    if before is None or before in CLOSED:
        before = Status.ASSIGNED
    # A lead lost straight from the pool (or whose assignee is gone) can only go back to the pool.
    if lead.assignee_id is None or before is Status.POOL:
        return Status.POOL
    return before


def _claim(lead: Lead, action: Claim, actor: Actor, now: datetime, settings: WorkflowSettings) -> _Outcome:
    if actor.user_id is None:
        return refuse(RefusalCode.NOT_ALLOWED, "系统不能认领线索")
    if lead.status in CLOSED:
        return refuse(RefusalCode.CLOSED)
    if lead.assignee_id == actor.user_id:
        return refuse(RefusalCode.ALREADY, "这条线索已由您负责")
    if lead.status is Status.POOL:
        if actor.role is Role.REP and not settings.reps_may_claim_pool:
            return refuse(RefusalCode.NOT_ALLOWED, "公海线索需由经理分配")
    elif not may_manage(lead, actor):
        return refuse(RefusalCode.NOT_ALLOWED, "只有负责人的经理或管理员可以接手这条线索")
    return _hand_over(lead, actor.user_id, actor.name, actor.manager_id, actor, now, settings, Cause.MANUAL)


def _assign(lead: Lead, action: Assign, actor: Actor, now: datetime, settings: WorkflowSettings) -> _Outcome:
    if not may_manage(lead, actor):
        if actor.role is Role.REP:
            return refuse(RefusalCode.NEEDS_MANAGER, "分配线索需要经理或管理员权限")
        return refuse(RefusalCode.NOT_ALLOWED)
    if lead.status in CLOSED:
        return refuse(RefusalCode.CLOSED)
    to = action.to
    if to.tenant_id != lead.tenant_id or not to.active:
        return refuse(RefusalCode.BAD_TARGET, f"「{to.name or to.id}」不可接收线索（已停用或不在本企业）")
    if to.id == lead.assignee_id:
        return refuse(RefusalCode.ALREADY, "线索已由该成员负责")
    return _hand_over(lead, to.id, to.name, to.manager_id, actor, now, settings, action.cause, rule=action.rule)


def _hand_over(
    lead: Lead,
    to_id: int,
    to_name: str,
    to_manager: int | None,
    actor: Actor,
    now: datetime,
    settings: WorkflowSettings,
    cause: Cause,
    *,
    rule: str = "",
) -> _Change:
    """Give the lead to a new assignee: from the pool it becomes 已分配, otherwise it keeps its stage."""
    fields: dict[str, Any] = dict(assignee_id=to_id, assignee_name=to_name, assignee_manager_id=to_manager)
    fields["assigned_at"] = now
    bounced = cause is Cause.ESCALATION and lead.assignee_id is not None
    if bounced:
        fields["bounce_count"] = lead.bounce_count + 1
    from_pool = lead.status is Status.POOL
    new = _moved(lead, Status.ASSIGNED, now, **fields) if from_pool else replace(lead, **fields)
    effects = (*_lock_effects(lead, new, settings), SendLeadCard(to_id, lead.id))
    if cause is not Cause.DEACTIVATION:
        text = f"「{_name(lead)}」已转交给{to_name or '其他成员'}"
        effects += _notify(lead.assignee_id, actor, NotifyKind.REASSIGNED_AWAY, lead, text)
    if bounced:
        effects += _flag(lead, new, actor)
    return _Change(new, effects, reason=f"{cause}: {rule}" if rule else str(cause))


def _flag(old: Lead, new: Lead, actor: Actor) -> tuple[Effect, ...]:
    if new.bounce_count < FLAG_AFTER_BOUNCES:
        return ()
    text = f"「{_name(old)}」已被退回 {new.bounce_count} 次，请关注"
    return _notify(old.assignee_manager_id, actor, NotifyKind.FLAGGED, old, text)


def _release(lead: Lead, action: ReleaseToPool, actor: Actor, now: datetime, settings: WorkflowSettings) -> _Outcome:
    if not may_work(lead, actor):
        return refuse(RefusalCode.NOT_ALLOWED)
    if action.cause is not Cause.MANUAL and not may_manage(lead, actor):
        return refuse(RefusalCode.NOT_ALLOWED, "只有系统或经理可以这样退回线索")
    if lead.status in CLOSED:
        return refuse(RefusalCode.CLOSED)
    if lead.status is Status.POOL:
        return refuse(RefusalCode.ALREADY, "线索已在公海")
    # A rep leaving the company is not the lead going back: only other releases count towards the flag.
    bounce = lead.bounce_count if action.cause is Cause.DEACTIVATION else lead.bounce_count + 1
    new = _moved(
        lead, Status.POOL, now, assignee_id=None, assignee_name="", assignee_manager_id=None, assigned_at=None,
        bounce_count=bounce,
    )  # fmt: skip
    effects = _lock_effects(lead, new, settings)
    if action.cause is not Cause.DEACTIVATION:
        text = f"「{_name(lead)}」已退回公海，等待分配"
        effects += _notify(lead.assignee_id, actor, NotifyKind.RETURNED_TO_POOL, lead, text)
        effects += _notify(lead.assignee_manager_id, actor, NotifyKind.RETURNED_TO_POOL, lead, text)
        effects += _flag(lead, new, actor)
    return _Change(new, effects, reason=str(action.cause))


def _attach(lead: Lead, action: AttachEvidence, actor: Actor, now: datetime, settings: WorkflowSettings) -> _Outcome:
    if not may_work(lead, actor):
        return refuse(RefusalCode.NOT_ALLOWED)
    ev = action.evidence
    # A retried voice job attaches the same note again: the second time changes nothing.
    if any(e.ref == ev.ref for e in lead.evidence):
        return refuse(RefusalCode.ALREADY, "该证据已记录")
    return _Change(replace(lead, evidence=(*lead.evidence, ev)), evidence=(ev.ref,))


def _update(lead: Lead, action: UpdateFields, actor: Actor, now: datetime, settings: WorkflowSettings) -> _Outcome:
    if not may_work(lead, actor):
        return refuse(RefusalCode.NOT_ALLOWED)
    changes = heard.changes_from(lead, action)
    if action.decision_maker:
        changes["decision_maker"] = action.decision_maker
    known = {(c.name, c.title) for c in lead.contacts}
    added = tuple(c for c in action.add_contacts if (c.name, c.title) not in known)
    if added:
        changes["contacts"] = (*lead.contacts, *added)
    new = replace(lead, **changes)
    if all(getattr(new, k) == getattr(lead, k) for k in changes):
        return refuse(RefusalCode.ALREADY, "没有需要更新的字段")
    return _Change(new, evidence=action.evidence)


_HANDLERS: dict[type, Any] = {
    Advance: _advance,
    MarkLost: _mark_lost,
    Reopen: _reopen,
    Claim: _claim,
    Assign: _assign,
    ReleaseToPool: _release,
    AttachEvidence: _attach,
    UpdateFields: _update,
}

# --- what the card offers -----------------------------------------------------------------------------------

_PROBE_TIME = datetime(2000, 1, 1, tzinfo=UTC)
# Refusals that still leave the button on the card: clicking it is how the rep learns what is missing.
_SHOWN_WHEN_REFUSED = frozenset({RefusalCode.GATE, RefusalCode.REASON_REQUIRED})


def allowed_actions(lead: Lead, actor: Actor, settings: WorkflowSettings = DEFAULT_SETTINGS) -> tuple[Action, ...]:
    """The actions to offer `actor` as buttons, in display order.

    Each candidate is tried through `decide`, so a button is shown exactly when a click could succeed: either it
    would be accepted now, or it is refused only for missing evidence (the card says what) or a missing loss
    reason (`MarkLost("")`: the card asks for the reason next).
    """
    candidates: list[Action] = []
    step = next_stage(lead.status)
    if step is not None:
        candidates.append(Advance(step))
    candidates += [Claim(), ReleaseToPool(), MarkLost(""), Reopen()]
    offered = []
    for action in candidates:
        decision = decide(lead, action, actor, _PROBE_TIME, settings=settings)
        if isinstance(decision, Accepted) or decision.code in _SHOWN_WHEN_REFUSED:
            offered.append(action)
    return tuple(offered)
