"""Routing rules: which rep a new lead goes to, and where a departing rep's leads go. Pure.

A tenant's rules are tried in order; the first enabled rule that matches the lead *and* has someone available
wins. A rule matches on region, industry, source, tags (any of) and a budget range (an empty condition matches
anything). Among the rule's reps it picks the one with the fewest open leads, the next in round-robin order (the
rule's cursor goes in and the new cursor comes out: the caller stores it), or a named rep. Leads no rule takes
stay in the pool for a manager. Urgency tags (急, 紧急, ...) raise the priority, and with it the response lock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from bot.leads.actions import Assign, Cause, Decision, ReleaseToPool
from bot.leads.types import (
    DEFAULT_SETTINGS,
    DEFAULT_URGENCY_TAGS,
    Actor,
    EventSource,
    IntentTier,
    Lead,
    Priority,
    Role,
    UserView,
    WorkflowSettings,
)
from bot.leads.workflow import decide


class Strategy(enum.StrEnum):
    LEAST_LOADED = "least_loaded"
    ROUND_ROBIN = "round_robin"
    NAMED = "named"


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """One rule. `rep_ids` empty means every active rep whose regions and industries cover the lead."""

    id: int
    name: str = ""
    regions: frozenset[str] = frozenset()
    industries: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    tags_any: frozenset[str] = frozenset()
    budget_min: int | None = None
    budget_max: int | None = None
    strategy: Strategy = Strategy.LEAST_LOADED
    rep_ids: tuple[int, ...] = ()
    named_rep_id: int | None = None
    # Round robin: the id of the rep who got this rule's last lead (ids, not positions, survive roster changes).
    cursor: int | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class RouteResult:
    """Where the lead goes. `assignee` None: it stays in the pool. `cursor` is the rule's new cursor (round robin)."""

    assignee: UserView | None
    priority: Priority
    rule_id: int | None = None
    cursor: int | None = None
    # Rules that matched but had nobody available (all inactive, named rep gone...): worth telling a manager.
    unstaffed: tuple[int, ...] = ()

    @property
    def reason(self) -> str:
        if self.assignee is None:
            return "no rule matched" if not self.unstaffed else f"rules {list(self.unstaffed)} had nobody available"
        return f"rule {self.rule_id}"


def priority_for(lead: Lead, urgency_tags: frozenset[str] = DEFAULT_URGENCY_TAGS) -> Priority:
    """Never lowers what the lead already has: urgency tags make it urgent, a high intent makes it high."""
    raised = lead.priority
    if urgency_tags.intersection(lead.tags):
        raised = max(raised, Priority.URGENT)
    if lead.intent is IntentTier.HIGH:
        raised = max(raised, Priority.HIGH)
    return Priority(raised)


def matches(rule: RoutingRule, lead: Lead) -> bool:
    if not rule.enabled:
        return False
    if rule.regions and lead.region not in rule.regions:
        return False
    if rule.industries and lead.industry not in rule.industries:
        return False
    if rule.sources and lead.source not in rule.sources:
        return False
    if rule.tags_any and not rule.tags_any.intersection(lead.tags):
        return False
    return _budget_fits(rule, lead)


def _budget_fits(rule: RoutingRule, lead: Lead) -> bool:
    """The lead's stated budget range overlaps the rule's; a rule with a budget condition skips unknown budgets."""
    if rule.budget_min is None and rule.budget_max is None:
        return True
    if not lead.budget_known:
        return False
    stated = [b for b in (lead.budget_min, lead.budget_max) if b is not None]
    if rule.budget_min is not None and max(stated) < rule.budget_min:
        return False
    return rule.budget_max is None or min(stated) <= rule.budget_max


def _available(rep: UserView, lead: Lead, exclude: frozenset[int]) -> bool:
    return rep.active and rep.tenant_id == lead.tenant_id and rep.id not in exclude


def candidates(
    rule: RoutingRule, lead: Lead, reps: Sequence[UserView], exclude: frozenset[int] = frozenset()
) -> list[UserView]:
    """The reps this rule may choose from, in the rule's order (or by id when the rule names nobody)."""
    by_id = {r.id: r for r in reps if _available(r, lead, exclude)}
    if rule.strategy is Strategy.NAMED:
        named = by_id.get(rule.named_rep_id) if rule.named_rep_id is not None else None
        return [named] if named is not None else []
    if rule.rep_ids:
        return [by_id[i] for i in rule.rep_ids if i in by_id]
    return sorted(
        (
            r
            for r in by_id.values()
            if r.role is Role.REP
            and (not r.regions or lead.region in r.regions)
            and (not r.industries or lead.industry in r.industries)
        ),
        key=lambda r: r.id,
    )


def _pick(rule: RoutingRule, pool: list[UserView]) -> UserView:
    if rule.strategy is Strategy.ROUND_ROBIN:
        ordered = sorted(pool, key=lambda r: r.id)
        after = [r for r in ordered if rule.cursor is not None and r.id > rule.cursor]
        return (after or ordered)[0]
    if rule.strategy is Strategy.LEAST_LOADED:
        # Ties go to the rep listed first, so an admin can order preference.
        return min(enumerate(pool), key=lambda ir: (ir[1].open_leads, ir[0]))[1]
    return pool[0]


def route(
    lead: Lead,
    rules: Sequence[RoutingRule],
    reps: Sequence[UserView],
    *,
    urgency_tags: frozenset[str] = DEFAULT_URGENCY_TAGS,
    exclude: Iterable[int] = (),
) -> RouteResult:
    """Choose the assignee for `lead`. `exclude`: reps not to choose (the one the escalation ladder takes it from)."""
    priority = priority_for(lead, urgency_tags)
    skip = frozenset(exclude)
    unstaffed: list[int] = []
    for rule in rules:
        if not matches(rule, lead):
            continue
        pool = candidates(rule, lead, reps, skip)
        if not pool:
            unstaffed.append(rule.id)
            continue
        chosen = _pick(rule, pool)
        cursor = chosen.id if rule.strategy is Strategy.ROUND_ROBIN else rule.cursor
        return RouteResult(chosen, priority, rule.id, cursor, tuple(unstaffed))
    return RouteResult(None, priority, unstaffed=tuple(unstaffed))


def route_and_assign(
    lead: Lead,
    rules: Sequence[RoutingRule],
    reps: Sequence[UserView],
    now: datetime,
    *,
    settings: WorkflowSettings = DEFAULT_SETTINGS,
    cause: Cause = Cause.ROUTING,
    source: EventSource = EventSource.SYSTEM,
) -> tuple[RouteResult, Decision | None]:
    """Route, then assign through the workflow as the system (intake, or the escalation ladder's reassign).

    The route's priority is applied first so the response lock gets the right tier. With nobody to route to the
    decision is None for a pool lead; an assigned lead (escalation) goes back to the pool instead.
    """
    result = route(lead, rules, reps, urgency_tags=settings.urgency_tags, exclude=_exclude(lead))
    lead = replace(lead, priority=result.priority)
    system = Actor.system(lead.tenant_id)
    if result.assignee is not None:
        chosen_by = next((f"rule #{r.id} {r.name}" for r in rules if r.id == result.rule_id), "")
        return result, decide(lead, Assign(result.assignee, cause, rule=chosen_by), system, now, settings=settings,
                              source=source)
    if lead.assignee_id is None:
        return result, None
    return result, decide(lead, ReleaseToPool(cause), system, now, settings=settings, source=source)


def _exclude(lead: Lead) -> tuple[int, ...]:
    return () if lead.assignee_id is None else (lead.assignee_id,)
