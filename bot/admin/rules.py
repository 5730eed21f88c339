"""A tenant's routing rules as stored rows: add, replace, delete, reorder, and "which rep would get this lead?".

Shared by the admin API, the CLI and the console, so a rule is checked one way wherever it comes from. The
choosing itself is `bot.leads.routing` (pure); a trial run here routes a sample lead without storing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.errors import InvalidField, NotFound
from bot.leads import routing
from bot.leads import service as leadservice
from bot.leads import types as lt
from bot.leads.schemas import RuleIn
from storage.models import RoutingRule, Tenant, User


async def check_reps(tenant_id: int, data: RuleIn) -> None:
    """Every rep a rule names is a user of this tenant."""
    ids = set(data.rep_ids) | ({data.named_rep_id} if data.named_rep_id else set())
    found = set(await User.filter(tenant_id=tenant_id, id__in=list(ids)).values_list("id", flat=True))
    missing = sorted(ids - found)
    if missing:
        raise InvalidField("rep_ids", f"no user {missing[0]} in this tenant")


async def create_rule(tenant_id: int, data: RuleIn) -> RoutingRule:
    if not await Tenant.exists(id=tenant_id):
        raise NotFound(f"tenant {tenant_id} not found")
    await check_reps(tenant_id, data)
    return await RoutingRule.create(tenant_id=tenant_id, name=data.name, position=data.position,
                                    enabled=data.enabled, spec=data.spec())


async def replace_rule(row: RoutingRule, data: RuleIn) -> RoutingRule:
    await check_reps(row.tenant_id, data)
    row.name, row.position, row.enabled, row.spec = data.name, data.position, data.enabled, data.spec()
    await row.save()
    return row


async def ordered(tenant_id: int) -> list[RoutingRule]:
    """The rules in the order they are tried."""
    return await RoutingRule.filter(tenant_id=tenant_id).order_by("position", "id")


async def move(tenant_id: int, rule_id: int, by: int) -> list[RoutingRule]:
    """Move a rule `by` places (-1: tried one earlier) and renumber them all 10, 20, 30…: the order shown is then
    the order stored, whatever positions the API had given."""
    rows = await ordered(tenant_id)
    index = next((i for i, r in enumerate(rows) if r.id == rule_id), None)
    if index is None:
        raise NotFound(f"rule {rule_id} not found")
    target = max(0, min(len(rows) - 1, index + by))
    rows.insert(target, rows.pop(index))
    for place, row in enumerate(rows, start=1):
        if row.position != place * 10:
            row.position = place * 10
            await row.save(update_fields=["position", "updated_at"])
    return rows


@dataclass(frozen=True, slots=True)
class Trial:
    """Where a sample lead would go: the rule that took it and the rep, or the pool and why."""

    rule: RoutingRule | None
    rep: User | None
    priority: lt.Priority
    reason: str


async def trial(tenant_id: int, sample: dict[str, Any]) -> Trial:
    """Route a sample lead (region, industry, source, tags, budget) by the tenant's rules as they stand, with the
    reps' current loads; nothing is stored and no rule's round-robin cursor moves."""
    lead = lt.Lead(id=0, tenant_id=tenant_id, region=sample.get("region") or "",
                   industry=sample.get("industry") or "", source=sample.get("source") or "",
                   tags=tuple(sample.get("tags") or ()), budget_min=sample.get("budget_min"),
                   budget_max=sample.get("budget_max"))
    settings = (await leadservice.tenant_settings(tenant_id)).workflow
    result = routing.route(lead, await leadservice.rules_of(tenant_id), await leadservice.reps_of(tenant_id),
                           urgency_tags=frozenset(settings.urgency_tags))
    rule = await RoutingRule.get_or_none(id=result.rule_id) if result.rule_id is not None else None
    rep = await User.get_or_none(id=result.assignee.id) if result.assignee is not None else None
    return Trial(rule, rep, result.priority, result.reason)
