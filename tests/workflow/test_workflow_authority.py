"""Who may act: the assignee, their manager, an admin. Strangers and other tenants change nothing."""

from __future__ import annotations

import pytest
from wf_helpers import (
    ADMIN,
    FOREIGN_ADMIN,
    FOREIGN_VIEW,
    GONE_VIEW,
    MANAGER,
    NOW,
    OTHER_MANAGER,
    OUTSIDER,
    OUTSIDER_VIEW,
    PEER,
    REP,
    SYSTEM,
    lead_in,
)

from bot.leads.actions import Accepted, Advance, Assign, AttachEvidence, Claim, MarkLost, ReleaseToPool, Reopen
from bot.leads.gates import Refusal, RefusalCode
from bot.leads.types import Evidence, EvidenceKind, Status, WorkflowSettings
from bot.leads.workflow import decide

S = Status
R = RefusalCode
ACTIONS = [
    Advance(S.QUALIFIED),
    MarkLost("价格不合适"),
    ReleaseToPool(),
    AttachEvidence(Evidence("file:1", EvidenceKind.ATTACHMENT, NOW)),
]


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
@pytest.mark.parametrize(
    "actor,expected",
    [
        (REP, None),
        (MANAGER, None),
        (ADMIN, None),
        (SYSTEM, None),
        (PEER, R.NOT_ALLOWED),
        (OUTSIDER, R.NOT_ALLOWED),
        (OTHER_MANAGER, R.NOT_ALLOWED),
        (FOREIGN_ADMIN, R.WRONG_TENANT),
    ],
    ids=["assignee", "manager", "admin", "system", "peer", "outsider", "other-manager", "other-tenant"],
)
def test_who_may_act(action, actor, expected):
    lead = lead_in(S.CONTACTED)
    decision = decide(lead, action, actor, NOW)
    if expected is None:
        assert isinstance(decision, Accepted)
    else:
        assert isinstance(decision, Refusal)
        assert decision.code is expected


def test_a_strangers_click_explains_itself():
    decision = decide(lead_in(S.CONTACTED), Advance(S.QUALIFIED), PEER, NOW)
    assert isinstance(decision, Refusal)
    assert "负责人" in decision.message and "经理" in decision.message


def test_another_tenant_learns_nothing_about_the_lead():
    for status in Status:
        decision = decide(lead_in(status), Advance(S.QUALIFIED), FOREIGN_ADMIN, NOW)
        assert isinstance(decision, Refusal) and decision.code is R.WRONG_TENANT
        assert decision.message == "找不到这条线索"


@pytest.mark.parametrize(
    "actor,expected", [(REP, R.NEEDS_MANAGER), (MANAGER, None), (ADMIN, None), (OTHER_MANAGER, R.NOT_ALLOWED)]
)
def test_reopen_needs_the_manager(actor, expected):
    decision = decide(lead_in(S.WON), Reopen(), actor, NOW)
    assert (decision.code if isinstance(decision, Refusal) else None) is expected


@pytest.mark.parametrize(
    "actor,expected",
    [(REP, R.NEEDS_MANAGER), (PEER, R.NEEDS_MANAGER), (MANAGER, None), (OTHER_MANAGER, R.NOT_ALLOWED), (ADMIN, None)],
)
def test_reassign_needs_the_manager(actor, expected):
    decision = decide(lead_in(S.CONTACTED), Assign(OUTSIDER_VIEW), actor, NOW)
    assert (decision.code if isinstance(decision, Refusal) else None) is expected


@pytest.mark.parametrize("target", [GONE_VIEW, FOREIGN_VIEW], ids=["inactive", "other-tenant"])
def test_assign_refuses_a_target_who_cannot_take_it(target):
    decision = decide(lead_in(S.POOL), Assign(target), MANAGER, NOW)
    assert isinstance(decision, Refusal) and decision.code is R.BAD_TARGET


@pytest.mark.parametrize(
    "actor,expected",
    [(MANAGER, None), (ADMIN, None), (PEER, R.NOT_ALLOWED), (OTHER_MANAGER, R.NOT_ALLOWED), (REP, R.ALREADY)],
)
def test_take_over_is_for_the_managers(actor, expected):
    decision = decide(lead_in(S.ASSIGNED), Claim(), actor, NOW)
    assert (decision.code if isinstance(decision, Refusal) else None) is expected


def test_pool_claims_by_reps_can_be_switched_off():
    settings = WorkflowSettings(reps_may_claim_pool=False)
    assert isinstance(decide(lead_in(S.POOL), Claim(), PEER, NOW, settings=settings), Refusal)
    assert decide(lead_in(S.POOL), Claim(), MANAGER, NOW, settings=settings).ok


def test_pool_lead_is_managed_by_any_manager_not_by_reps():
    lead = lead_in(S.POOL)
    assert decide(lead, MarkLost("其他"), OTHER_MANAGER, NOW).ok
    refused = decide(lead, MarkLost("其他"), REP, NOW)
    assert isinstance(refused, Refusal) and refused.code is R.NOT_ALLOWED


def test_the_system_cannot_claim_for_itself():
    decision = decide(lead_in(S.POOL), Claim(), SYSTEM, NOW)
    assert isinstance(decision, Refusal) and decision.code is R.NOT_ALLOWED


def test_a_click_on_a_stale_card_is_refused():
    lead = lead_in(S.ASSIGNED)
    stale = decide(lead, Advance(S.CONTACTED), REP, NOW, seen_version=lead.version - 1)
    assert isinstance(stale, Refusal) and stale.code is R.STALE_CARD
    fresh = decide(lead, Advance(S.CONTACTED), REP, NOW, seen_version=lead.version)
    assert fresh.ok


def test_double_click_second_is_stale():
    lead = lead_in(S.ASSIGNED)
    first = decide(lead, Advance(S.CONTACTED), REP, NOW, seen_version=lead.version)
    assert isinstance(first, Accepted)
    second = decide(first.lead, Advance(S.CONTACTED), REP, NOW, seen_version=lead.version)
    assert isinstance(second, Refusal) and second.code is R.STALE_CARD


def test_naive_time_is_a_programming_error():
    with pytest.raises(ValueError):
        decide(lead_in(S.ASSIGNED), Advance(S.CONTACTED), REP, NOW.replace(tzinfo=None))
