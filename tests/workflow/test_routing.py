"""Routing rules: by load, round robin, named rep; unmatched leads stay in the pool; urgency raises priority."""

from __future__ import annotations

import pytest
from wf_helpers import NOW, TENANT, lead_in

from bot.leads.actions import Accepted, ArmResponseLock, Cause
from bot.leads.routing import RoutingRule, Strategy, matches, priority_for, route, route_and_assign
from bot.leads.types import IntentTier, Lead, Priority, Role, Status, UserView

A = UserView(1, TENANT, Role.REP, "甲", manager_id=10, regions=frozenset({"华东"}), open_leads=5)
B = UserView(2, TENANT, Role.REP, "乙", manager_id=10, regions=frozenset({"华东"}), open_leads=2)
C = UserView(3, TENANT, Role.REP, "丙", manager_id=11, regions=frozenset({"华南"}), open_leads=0)
D = UserView(4, TENANT, Role.REP, "丁", manager_id=10, industries=frozenset({"制造"}), open_leads=1)
OFF = UserView(5, TENANT, Role.REP, "戊", manager_id=10, active=False, open_leads=0)
MGR = UserView(10, TENANT, Role.MANAGER, "经理", open_leads=0)
ALIEN = UserView(6, 2, Role.REP, "别家", open_leads=0)
TEAM = [A, B, C, D, OFF, MGR, ALIEN]


def new_lead(**kw) -> Lead:
    return Lead(id=1, tenant_id=TENANT, company="宁波精工", **kw)


@pytest.mark.parametrize(
    "rule,lead,expected",
    [
        (RoutingRule(1), new_lead(), True),
        (RoutingRule(1, regions=frozenset({"华东"})), new_lead(region="华东"), True),
        (RoutingRule(1, regions=frozenset({"华东"})), new_lead(region="华南"), False),
        (RoutingRule(1, industries=frozenset({"制造"})), new_lead(industry="制造"), True),
        (RoutingRule(1, industries=frozenset({"制造"})), new_lead(industry="零售"), False),
        (RoutingRule(1, sources=frozenset({"展会"})), new_lead(source="展会"), True),
        (RoutingRule(1, sources=frozenset({"展会"})), new_lead(source="直播"), False),
        (RoutingRule(1, tags_any=frozenset({"招标中", "预算已批"})), new_lead(tags=("预算已批",)), True),
        (RoutingRule(1, tags_any=frozenset({"招标中"})), new_lead(tags=("急",)), False),
        (RoutingRule(1, budget_min=1_000_000), new_lead(budget_min=800_000, budget_max=1_200_000), True),
        (RoutingRule(1, budget_min=1_000_000), new_lead(budget_min=200_000, budget_max=500_000), False),
        (RoutingRule(1, budget_max=500_000), new_lead(budget_min=800_000, budget_max=None), False),
        (RoutingRule(1, budget_max=500_000), new_lead(budget_min=None, budget_max=300_000), True),
        (RoutingRule(1, budget_min=1), new_lead(), False),  # a budget rule skips unknown budgets
        (RoutingRule(1, enabled=False), new_lead(), False),
    ],
)
def test_rule_conditions(rule, lead, expected):
    assert matches(rule, lead) is expected


def test_fewest_open_leads_wins():
    result = route(new_lead(region="华东"), [RoutingRule(1, rep_ids=(1, 2))], TEAM)
    assert result.assignee == B and result.rule_id == 1


def test_load_ties_go_to_the_rep_listed_first():
    even = [A, UserView(2, TENANT, Role.REP, "乙", open_leads=5)]
    assert route(new_lead(), [RoutingRule(1, rep_ids=(2, 1))], even).assignee.id == 2


def test_without_a_list_the_rule_uses_reps_covering_region_and_industry():
    result = route(new_lead(region="华南", industry="零售"), [RoutingRule(1)], TEAM)
    assert result.assignee == C  # A, B cover only 华东; D only 制造; OFF inactive; MGR no rep; ALIEN other tenant


def test_round_robin_follows_the_cursor_and_wraps():
    rule = RoutingRule(1, strategy=Strategy.ROUND_ROBIN, rep_ids=(3, 1, 2))
    chosen = []
    for _ in range(4):
        result = route(new_lead(), [rule], TEAM)
        chosen.append(result.assignee.id)
        rule = RoutingRule(1, strategy=Strategy.ROUND_ROBIN, rep_ids=(3, 1, 2), cursor=result.cursor)
    assert chosen == [1, 2, 3, 1]


def test_round_robin_survives_the_cursor_rep_leaving():
    rule = RoutingRule(1, strategy=Strategy.ROUND_ROBIN, rep_ids=(1, 2, 3), cursor=2)
    roster = [A, C]  # rep 2 is gone
    assert route(new_lead(), [rule], roster).assignee.id == 3


def test_named_rep():
    rule = RoutingRule(1, strategy=Strategy.NAMED, named_rep_id=4)
    assert route(new_lead(), [rule], TEAM).assignee == D


def test_rules_are_tried_in_order_and_unstaffed_rules_fall_through():
    rules = [
        RoutingRule(1, strategy=Strategy.NAMED, named_rep_id=5),  # named rep inactive
        RoutingRule(2, regions=frozenset({"华北"}), rep_ids=(1,)),  # does not match
        RoutingRule(3, rep_ids=(1, 2)),
    ]
    result = route(new_lead(region="华东"), rules, TEAM)
    assert (result.rule_id, result.assignee, result.unstaffed) == (3, B, (1,))


@pytest.mark.parametrize(
    "rules",
    [[], [RoutingRule(1, regions=frozenset({"西北"}))], [RoutingRule(1, rep_ids=(5, 6))]],
    ids=["no-rules", "no-match", "nobody-available"],
)
def test_unmatched_leads_stay_in_the_pool(rules):
    result = route(new_lead(region="华东"), rules, TEAM)
    assert result.assignee is None and result.rule_id is None


def test_other_tenants_reps_are_never_chosen():
    result = route(new_lead(), [RoutingRule(1, strategy=Strategy.NAMED, named_rep_id=6)], TEAM)
    assert result.assignee is None


@pytest.mark.parametrize(
    "tags,intent,before,expected",
    [
        ((), None, Priority.NORMAL, Priority.NORMAL),
        (("急",), None, Priority.NORMAL, Priority.URGENT),
        (("招标中", "预算已批"), IntentTier.LOW, Priority.NORMAL, Priority.URGENT),
        ((), IntentTier.HIGH, Priority.NORMAL, Priority.HIGH),
        (("急",), IntentTier.HIGH, Priority.NORMAL, Priority.URGENT),
        ((), IntentTier.LOW, Priority.URGENT, Priority.URGENT),  # never lowered
    ],
)
def test_priority(tags, intent, before, expected):
    assert priority_for(new_lead(tags=tags, intent=intent, priority=before)) is expected


def test_route_and_assign_applies_priority_before_arming_the_lock():
    lead = new_lead(tags=("急",), intent=IntentTier.LOW)
    _, decision = route_and_assign(lead, [RoutingRule(1, rep_ids=(2,))], TEAM, NOW)
    assert isinstance(decision, Accepted)
    assert decision.lead.priority is Priority.URGENT and decision.lead.assignee_id == 2
    (lock,) = decision.of_type(ArmResponseLock)
    assert lock.minutes == 30


def test_route_and_assign_leaves_an_unmatched_pool_lead_alone():
    result, decision = route_and_assign(new_lead(), [], TEAM, NOW)
    assert result.assignee is None and decision is None


def test_escalation_reroutes_away_from_the_silent_rep():
    lead = lead_in(Status.ASSIGNED)  # held by rep 1
    result, decision = route_and_assign(lead, [RoutingRule(1, rep_ids=(1, 2))], TEAM, NOW, cause=Cause.ESCALATION)
    assert result.assignee == B
    assert isinstance(decision, Accepted) and decision.lead.bounce_count == 1


def test_escalation_with_nobody_else_returns_the_lead_to_the_pool():
    lead = lead_in(Status.ASSIGNED)
    _, decision = route_and_assign(lead, [RoutingRule(1, rep_ids=(1,))], TEAM, NOW, cause=Cause.ESCALATION)
    assert isinstance(decision, Accepted) and decision.lead.status is Status.POOL
