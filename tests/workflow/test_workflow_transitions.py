"""Every legal and illegal transition of the status machine, as tables."""

from __future__ import annotations

import pytest
from wf_helpers import MANAGER, NOW, PEER_VIEW, REP, lead_in

from bot.leads.actions import Accepted, Advance, Assign, Claim, MarkLost, ReleaseToPool, Reopen
from bot.leads.gates import Refusal, RefusalCode
from bot.leads.types import Status
from bot.leads.workflow import decide

S = Status
R = RefusalCode

LEGAL_ADVANCES = {
    (S.ASSIGNED, S.CONTACTED),
    (S.CONTACTED, S.QUALIFIED),
    (S.QUALIFIED, S.DEMO),
    (S.DEMO, S.NEGOTIATION),
    (S.NEGOTIATION, S.CONTRACT),
    (S.CONTRACT, S.WON),
}


def _expected_advance(src: Status, dst: Status) -> Status | RefusalCode:
    if (src, dst) in LEGAL_ADVANCES:
        return dst
    if src in (S.WON, S.LOST):
        return R.CLOSED
    return R.ALREADY if src is dst else R.ILLEGAL


@pytest.mark.parametrize(
    "src,dst,expected",
    [(src, dst, _expected_advance(src, dst)) for src in Status for dst in Status],
    ids=lambda v: str(v),
)
def test_advance_moves_exactly_one_stage(src, dst, expected):
    decision = decide(lead_in(src), Advance(dst), MANAGER, NOW)
    _check(decision, expected)


@pytest.mark.parametrize("src,dst", sorted(LEGAL_ADVANCES))
def test_assignee_walks_the_pipeline(src, dst):
    lead = lead_in(src)
    decision = decide(lead, Advance(dst), REP, NOW)
    assert isinstance(decision, Accepted)
    assert decision.lead.status is dst
    assert decision.lead.version == lead.version + 1
    assert decision.lead.history[-1].from_status is src and decision.lead.history[-1].to_status is dst
    assert decision.lead.history[-1].at == NOW


# Each row: what MANAGER (the assignee's manager) gets for the action from each status.
OTHER_ACTIONS = {
    "mark_lost": (
        lambda: MarkLost("价格不合适"),
        {S.POOL: S.LOST, S.ASSIGNED: S.LOST, S.CONTACTED: S.LOST, S.QUALIFIED: S.LOST, S.DEMO: S.LOST,
         S.NEGOTIATION: S.LOST, S.CONTRACT: S.LOST, S.WON: R.CLOSED, S.LOST: R.ALREADY},
    ),
    "reopen": (
        lambda: Reopen(),
        {S.POOL: R.ILLEGAL, S.ASSIGNED: R.ILLEGAL, S.CONTACTED: R.ILLEGAL, S.QUALIFIED: R.ILLEGAL,
         S.DEMO: R.ILLEGAL, S.NEGOTIATION: R.ILLEGAL, S.CONTRACT: R.ILLEGAL, S.WON: S.CONTRACT,
         S.LOST: S.CONTACTED},
    ),
    "claim": (
        lambda: Claim(),
        {S.POOL: S.ASSIGNED, S.ASSIGNED: S.ASSIGNED, S.CONTACTED: S.CONTACTED, S.QUALIFIED: S.QUALIFIED,
         S.DEMO: S.DEMO, S.NEGOTIATION: S.NEGOTIATION, S.CONTRACT: S.CONTRACT, S.WON: R.CLOSED,
         S.LOST: R.CLOSED},
    ),
    "release": (
        lambda: ReleaseToPool(),
        {S.POOL: R.ALREADY, S.ASSIGNED: S.POOL, S.CONTACTED: S.POOL, S.QUALIFIED: S.POOL, S.DEMO: S.POOL,
         S.NEGOTIATION: S.POOL, S.CONTRACT: S.POOL, S.WON: R.CLOSED, S.LOST: R.CLOSED},
    ),
    "assign": (
        lambda: Assign(PEER_VIEW),
        {S.POOL: S.ASSIGNED, S.ASSIGNED: S.ASSIGNED, S.CONTACTED: S.CONTACTED, S.QUALIFIED: S.QUALIFIED,
         S.DEMO: S.DEMO, S.NEGOTIATION: S.NEGOTIATION, S.CONTRACT: S.CONTRACT, S.WON: R.CLOSED,
         S.LOST: R.CLOSED},
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    "make,src,expected",
    [
        pytest.param(make, src, expected, id=f"{name}-{src}")
        for name, (make, table) in OTHER_ACTIONS.items()
        for src, expected in table.items()
    ],
)
def test_other_actions_from_every_state(make, src, expected):
    _check(decide(lead_in(src), make(), MANAGER, NOW), expected)


def test_every_state_is_covered_by_each_table():
    for _, table in OTHER_ACTIONS.values():
        assert set(table) == set(Status)


@pytest.mark.parametrize("reason", ["", "   ", "\n"])
def test_lost_needs_a_reason(reason):
    decision = decide(lead_in(S.DEMO), MarkLost(reason), REP, NOW)
    assert isinstance(decision, Refusal) and decision.code is R.REASON_REQUIRED
    assert decision.message == "请选择输单原因"


def test_lost_keeps_the_reason_and_reopen_clears_it():
    lost = decide(lead_in(S.NEGOTIATION), MarkLost("  选择了竞品 "), REP, NOW)
    assert isinstance(lost, Accepted)
    assert lost.lead.lost_reason == "选择了竞品" and lost.lead.closed_at == NOW
    reopened = decide(lost.lead, Reopen(), MANAGER, NOW)
    assert isinstance(reopened, Accepted)
    assert reopened.lead.status is S.NEGOTIATION
    assert reopened.lead.lost_reason is None and reopened.lead.closed_at is None


@pytest.mark.parametrize(
    "lost_from,restored,assignee",
    [(S.POOL, S.POOL, None), (S.ASSIGNED, S.ASSIGNED, REP.user_id), (S.CONTRACT, S.CONTRACT, REP.user_id)],
)
def test_reopen_restores_the_stage_before_closing(lost_from, restored, assignee):
    decision = decide(lead_in(S.LOST, lost_from=lost_from), Reopen(), MANAGER, NOW)
    assert isinstance(decision, Accepted)
    assert decision.lead.status is restored
    assert decision.lead.assignee_id == assignee


def test_claim_from_the_pool_makes_the_claimer_assignee():
    decision = decide(lead_in(S.POOL), Claim(), REP, NOW)
    assert isinstance(decision, Accepted)
    lead = decision.lead
    assert (lead.status, lead.assignee_id, lead.assignee_manager_id) == (S.ASSIGNED, REP.user_id, REP.manager_id)
    assert lead.assigned_at == NOW


def test_release_clears_the_assignee():
    decision = decide(lead_in(S.QUALIFIED), ReleaseToPool(), REP, NOW)
    assert isinstance(decision, Accepted)
    assert decision.lead.assignee_id is None and decision.lead.assignee_manager_id is None


def _check(decision, expected):
    if isinstance(expected, Status):
        assert isinstance(decision, Accepted), decision
        assert decision.lead.status is expected
    else:
        assert isinstance(decision, Refusal), decision
        assert decision.code is expected
        assert decision.message  # always something to show on the card


def test_an_unknown_action_is_a_programming_error():
    with pytest.raises(TypeError):
        decide(lead_in(S.ASSIGNED), object(), REP, NOW)
