"""What a decision asks the I/O layer to do: audit, response locks, cards, notifications."""

from __future__ import annotations

from dataclasses import replace

import pytest
from wf_helpers import MANAGER, NOW, OUTSIDER_VIEW, PEER_VIEW, REP, SYSTEM, lead_in

from bot.leads.actions import (
    Accepted,
    Advance,
    ArmResponseLock,
    Assign,
    Audit,
    CancelResponseLock,
    Cause,
    Claim,
    MarkLost,
    Notify,
    NotifyKind,
    ReleaseToPool,
    RenderCards,
    Reopen,
    SendLeadCard,
    UpdateFields,
)
from bot.leads.types import Budget, Contact, EventSource, IntentTier, Priority, Status, WorkflowSettings
from bot.leads.workflow import decide

S = Status


def accepted(*args, **kwargs) -> Accepted:
    decision = decide(*args, **kwargs)
    assert isinstance(decision, Accepted), decision
    return decision


@pytest.mark.parametrize(
    "intent,priority,minutes,tier",
    [
        (IntentTier.HIGH, Priority.NORMAL, 30, IntentTier.HIGH),
        (IntentTier.MEDIUM, Priority.NORMAL, 120, IntentTier.MEDIUM),
        (IntentTier.LOW, Priority.NORMAL, 24 * 60, IntentTier.LOW),
        (None, Priority.NORMAL, 4 * 60, None),
        (IntentTier.LOW, Priority.URGENT, 30, IntentTier.HIGH),  # 急 shortens the lock
    ],
)
def test_assignment_arms_the_response_lock_by_tier(intent, priority, minutes, tier):
    lead = lead_in(S.POOL, intent=intent, priority=priority)
    decision = accepted(lead, Assign(PEER_VIEW), MANAGER, NOW)
    (lock,) = decision.of_type(ArmResponseLock)
    assert (lock.lead_id, lock.assignee_id, lock.minutes, lock.tier) == (lead.id, PEER_VIEW.id, minutes, tier)
    assert lock.fence == decision.lead.version


def test_tenant_deadlines_override_the_defaults():
    settings = WorkflowSettings(deadline_minutes={IntentTier.HIGH: 15}, default_deadline_minutes=60)
    high = accepted(lead_in(S.POOL, intent=IntentTier.HIGH), Claim(), REP, NOW, settings=settings)
    medium = accepted(lead_in(S.POOL, intent=IntentTier.MEDIUM), Claim(), REP, NOW, settings=settings)
    assert high.of_type(ArmResponseLock)[0].minutes == 15
    assert medium.of_type(ArmResponseLock)[0].minutes == 60


def test_contacted_cancels_the_lock_and_stamps_the_time():
    decision = accepted(lead_in(S.ASSIGNED), Advance(S.CONTACTED), REP, NOW)
    assert decision.of_type(CancelResponseLock) == (CancelResponseLock(7, fence=decision.lead.version),)
    assert not decision.of_type(ArmResponseLock)
    assert decision.lead.contacted_at == NOW


def test_reassignment_while_assigned_restarts_the_lock():
    decision = accepted(lead_in(S.ASSIGNED), Assign(PEER_VIEW), MANAGER, NOW)
    (lock,) = decision.of_type(ArmResponseLock)
    assert lock.assignee_id == PEER_VIEW.id
    assert decision.of_type(SendLeadCard) == (SendLeadCard(PEER_VIEW.id, 7),)
    away = [n for n in decision.of_type(Notify) if n.kind is NotifyKind.REASSIGNED_AWAY]
    assert [n.user_id for n in away] == [REP.user_id]


def test_reassignment_after_contact_needs_no_lock():
    decision = accepted(lead_in(S.DEMO), Assign(PEER_VIEW), MANAGER, NOW)
    assert not decision.of_type(ArmResponseLock) and not decision.of_type(CancelResponseLock)
    assert decision.lead.status is S.DEMO


@pytest.mark.parametrize(
    "status,action,actor",
    [
        (S.ASSIGNED, MarkLost("联系不上"), REP),
        (S.ASSIGNED, ReleaseToPool(), REP),
    ],
)
def test_leaving_assigned_any_way_cancels_the_lock(status, action, actor):
    assert accepted(lead_in(status), action, actor, NOW).of_type(CancelResponseLock)


def test_every_change_is_audited_first_and_rerenders_every_card_last():
    lead = lead_in(S.CONTACTED)
    decision = accepted(lead, Advance(S.QUALIFIED), REP, NOW, source=EventSource.VOICE)
    first, last = decision.effects[0], decision.effects[-1]
    assert isinstance(first, Audit) and isinstance(last, RenderCards)
    assert last == RenderCards(lead.id, lead.version + 1)
    event = first.event
    assert (event.tenant_id, event.lead_id, event.actor_id, event.actor_role) == (1, 7, REP.user_id, "rep")
    assert (event.source, event.action) == ("voice", "advance")
    assert event.before == {"status": "contacted"} and event.after == {"status": "qualified"}


def test_audit_names_evidence_and_reason():
    decision = accepted(
        lead_in(S.DEMO, budget_min=None, budget_max=None),
        UpdateFields(budget=Budget(500_000, 600_000), evidence=("voice:3",)),
        REP,
        NOW,
    )
    event = decision.effects[0].event
    assert event.evidence == ("voice:3",)
    assert event.after == {"budget_min": 500_000, "budget_max": 600_000}
    lost = accepted(lead_in(S.DEMO), MarkLost("选择了竞品"), REP, NOW).effects[0].event
    assert lost.reason == "选择了竞品"


def test_win_tells_the_manager_but_not_when_the_manager_clicked():
    by_rep = accepted(lead_in(S.CONTRACT), Advance(S.WON), REP, NOW)
    assert [(n.user_id, n.kind) for n in by_rep.of_type(Notify)] == [(MANAGER.user_id, NotifyKind.WON)]
    by_manager = accepted(lead_in(S.CONTRACT), Advance(S.WON), MANAGER, NOW)
    assert not by_manager.of_type(Notify)


def test_loss_tells_the_manager_the_reason():
    (notice,) = accepted(lead_in(S.NEGOTIATION), MarkLost("预算取消"), REP, NOW).of_type(Notify)
    assert notice.kind is NotifyKind.LOST and "预算取消" in notice.text


def test_reopen_tells_the_rep():
    (notice,) = accepted(lead_in(S.LOST), Reopen(), MANAGER, NOW).of_type(Notify)
    assert (notice.user_id, notice.kind) == (REP.user_id, NotifyKind.REOPENED)


def test_reopen_to_assigned_arms_a_fresh_lock():
    decision = accepted(lead_in(S.LOST, lost_from=S.ASSIGNED), Reopen(), MANAGER, NOW)
    assert decision.of_type(ArmResponseLock)


def test_release_tells_the_manager_and_counts_a_bounce():
    decision = accepted(lead_in(S.CONTACTED), ReleaseToPool(), REP, NOW)
    assert decision.lead.bounce_count == 1
    kinds = {(n.user_id, n.kind) for n in decision.of_type(Notify)}
    assert kinds == {(MANAGER.user_id, NotifyKind.RETURNED_TO_POOL)}


def test_second_bounce_flags_the_lead():
    once = accepted(lead_in(S.ASSIGNED), ReleaseToPool(Cause.ESCALATION), SYSTEM, NOW)
    assert NotifyKind.FLAGGED not in {n.kind for n in once.of_type(Notify)}
    again = accepted(replace(lead_in(S.ASSIGNED), bounce_count=1), Assign(PEER_VIEW, Cause.ESCALATION), SYSTEM, NOW)
    assert again.lead.bounce_count == 2
    flagged = [n for n in again.of_type(Notify) if n.kind is NotifyKind.FLAGGED]
    assert [n.user_id for n in flagged] == [MANAGER.user_id]


def test_manual_reassignment_is_not_a_bounce():
    assert accepted(lead_in(S.ASSIGNED), Assign(OUTSIDER_VIEW), MANAGER, NOW).lead.bounce_count == 0


def test_deactivation_moves_are_not_bounces_and_do_not_notify_per_lead():
    decision = accepted(lead_in(S.CONTACTED), ReleaseToPool(Cause.DEACTIVATION), MANAGER, NOW)
    assert decision.lead.bounce_count == 0
    assert not decision.of_type(Notify)


def test_contacts_are_added_once_and_competitors_merged():
    lead = lead_in(S.QUALIFIED, contacts=(Contact("陈总", "总经理", True),), competitors=("华为",))
    contacts = (Contact("陈总", "总经理", True), Contact("李工", "技术总监"))
    decision = accepted(lead, UpdateFields(add_contacts=contacts, competitors=("华为", "金蝶")), REP, NOW)
    assert [c.name for c in decision.lead.contacts] == ["陈总", "李工"]
    assert decision.lead.competitors == ("华为", "金蝶")
    assert not decide(decision.lead, UpdateFields(competitors=("金蝶",)), REP, NOW).ok
