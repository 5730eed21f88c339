"""The buttons a viewer is offered: exactly the actions a click could carry out."""

from __future__ import annotations

import pytest
from wf_helpers import ADMIN, FOREIGN_ADMIN, MANAGER, OTHER_MANAGER, PEER, REP, lead_in

from bot.leads.actions import Advance, Claim, MarkLost, ReleaseToPool, Reopen
from bot.leads.types import Status, WorkflowSettings
from bot.leads.workflow import allowed_actions

S = Status
ADV = {s: Advance(s) for s in Status}
OFFERS = [
    (S.POOL, REP, (Claim(),)),
    (S.POOL, MANAGER, (Claim(), MarkLost(""))),
    (S.ASSIGNED, REP, (ADV[S.CONTACTED], ReleaseToPool(), MarkLost(""))),
    (S.ASSIGNED, MANAGER, (ADV[S.CONTACTED], Claim(), ReleaseToPool(), MarkLost(""))),
    (S.ASSIGNED, PEER, ()),
    (S.ASSIGNED, OTHER_MANAGER, ()),
    (S.ASSIGNED, FOREIGN_ADMIN, ()),
    (S.DEMO, REP, (ADV[S.NEGOTIATION], ReleaseToPool(), MarkLost(""))),
    (S.CONTRACT, ADMIN, (ADV[S.WON], Claim(), ReleaseToPool(), MarkLost(""))),
    (S.WON, REP, ()),
    (S.WON, MANAGER, (Reopen(),)),
    (S.LOST, ADMIN, (Reopen(),)),
]


@pytest.mark.parametrize("status,viewer,expected", OFFERS, ids=lambda v: getattr(v, "name", str(v)))
def test_offered_actions(status, viewer, expected):
    assert allowed_actions(lead_in(status), viewer) == expected


def test_gated_step_is_still_offered_so_the_click_can_say_what_is_missing():
    lead = lead_in(S.QUALIFIED, evidence=())
    assert Advance(S.DEMO) in allowed_actions(lead, REP)


def test_pool_claim_hidden_from_reps_when_switched_off():
    settings = WorkflowSettings(reps_may_claim_pool=False)
    assert allowed_actions(lead_in(S.POOL), REP, settings) == ()
