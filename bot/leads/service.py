"""The lead workflow with its I/O: load, decide (pure), store atomically with its follow-ups, carry them out.

Every route into a lead change — a card click, a voice note, the lead API, the escalation ladder — comes through
`act`, so every change is audited, versioned and re-rendered on every card the same way. Follow-ups (cards, alerts,
timers) are written to the outbox in the change's transaction and carried out right after; see `bot.runtime.outbox`.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tortoise import connections
from tortoise.exceptions import DoesNotExist

from bot.admin.tenant_settings import TenantSettings
from bot.errors import Conflict
from bot.leads import routing
from bot.leads import store as leadstore
from bot.leads import types as lt
from bot.leads.actions import (
    Accepted,
    Action,
    ArmResponseLock,
    Assign,
    Audit,
    CancelResponseLock,
    Cause,
    Decision,
    Effect,
    Notify,
    ReleaseToPool,
    RenderCards,
    SendLeadCard,
)
from bot.leads.audit import AuditEvent
from bot.leads.stages import HELD
from bot.leads.workflow import decide
from bot.runtime import outbox, tenant_cache
from bot.runtime.logs import bind
from bot.runtime.services import Services
from storage import db
from storage.models import Lead as LeadRow
from storage.models import RoutingRule as RuleRow
from storage.models import Tenant, User

log = logging.getLogger(__name__)

MAX_STALE_RETRIES = 5


class LeadConflict(Conflict):
    """The lead kept changing under us; the caller may try again (the API answers 409)."""


def actor_for(user: User) -> lt.Actor:
    return lt.Actor(user_id=user.id, tenant_id=user.tenant_id, role=lt.Role(str(user.role)),
                    manager_id=user.manager_id, name=user.name)


def user_view(user: User, open_leads: int = 0) -> lt.UserView:
    return lt.UserView(
        id=user.id, tenant_id=user.tenant_id, role=lt.Role(str(user.role)), name=user.name,
        manager_id=user.manager_id, regions=frozenset([user.region] if user.region else []),
        industries=frozenset(user.industries or ()), active=user.active, open_leads=open_leads,
    )


async def tenant_settings(tenant_id: int) -> TenantSettings:
    known = outbox.known()
    tenant = (known.tenants.get(tenant_id) if known else None) or await Tenant.get(id=tenant_id)
    return TenantSettings.of_row(tenant)


async def _tenant(tenant_id: int) -> Tenant:
    """`Tenant.get`, parameterised (`storage.db.fetch`): every change reads its tenant's settings."""
    found = await db.fetch(Tenant, 'SELECT * FROM "tenants" WHERE "id" = ?', [tenant_id])
    if not found:
        raise DoesNotExist(Tenant)
    return found[0]


def _effect_rows(effects: Sequence[Effect], at: datetime) -> list[tuple[str, dict[str, Any]]]:
    """Follow-ups as outbox rows, in the order the workflow gave them (audit events are stored separately)."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for e in effects:
        if isinstance(e, ArmResponseLock):
            rows.append(("arm_lock", {"lead_id": e.lead_id, "assignee_id": e.assignee_id, "minutes": e.minutes,
                                      "fence": e.fence, "tier": str(e.tier) if e.tier else None,
                                      "at": at.isoformat()}))
        elif isinstance(e, CancelResponseLock):
            rows.append(("cancel_lock", {"lead_id": e.lead_id, "fence": e.fence, "at": at.isoformat()}))
        elif isinstance(e, SendLeadCard):
            rows.append(("send_lead_card", {"lead_id": e.lead_id, "user_id": e.user_id}))
        elif isinstance(e, Notify):
            rows.append(("notify", {"lead_id": e.lead_id, "user_id": e.user_id, "kind": str(e.kind),
                                    "text": e.text, "at": at.isoformat()}))
        elif isinstance(e, RenderCards):
            rows.append(("render_cards", {"lead_id": e.lead_id, "version": e.version}))
        elif not isinstance(e, Audit):
            raise TypeError(f"no outbox row for {type(e).__name__}")
    return rows


@dataclass(frozen=True, slots=True)
class ActionResult:
    decision: Decision
    outbox_ids: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return self.decision.ok


async def store(decision: Accepted, expected_version: int, now: datetime,
                extra: Sequence[tuple[str, dict[str, Any]]] = (), claim: leadstore.Claim | None = None) -> list[int]:
    events = [e.event for e in decision.of_type(Audit)]  # type: ignore[attr-defined]
    rows = _effect_rows(decision.effects, now) + list(extra)
    return await leadstore.save(decision.lead, expected_version, events, rows, now=now, claim=claim)


async def act(
    services: Services,
    lead_id: int,
    action: Action,
    actor: lt.Actor,
    *,
    source: lt.EventSource,
    seen_version: int | None = None,
    inline: bool = True,
    now: datetime | None = None,
) -> ActionResult:
    """Apply `action` to a lead of `actor`'s tenant. A refusal changes nothing and is returned, not raised.

    With `inline`, follow-ups run before returning (a worker answering a click); otherwise a job runs them (a web
    handler must answer fast and never wait on a platform).
    """
    bind(tenant=actor.tenant_id, lead=lead_id)
    known = outbox.known()
    tenant = (known.tenants.get(actor.tenant_id) if known else None) or await _tenant(actor.tenant_id)
    if known is not None:  # the change's hooks (the board's calendar) read the tenant the decision was made with
        known.tenants[tenant.id] = tenant
    settings = TenantSettings.of_row(tenant).workflow.to_value()
    for _ in range(MAX_STALE_RETRIES):
        with leadstore.remembering_chains():  # the save appends to the audit chain as loaded, not read again
            lead = await leadstore.load(lead_id, actor.tenant_id, users=known.users.values() if known else ())
            at = now or services.clock.now()
            decision = decide(lead, action, actor, at, settings=settings, source=source, seen_version=seen_version)
            if not decision.ok:
                return ActionResult(decision)
            # Run here, the follow-ups are stored claimed by this worker: no claim of them after the commit.
            claim = leadstore.Claim(*outbox.claim_mark(services.clock.now())) if inline else None
            try:
                ids = await store(decision, lead.version, at, claim=claim)
            except leadstore.StaleLead:
                continue  # someone else changed it: decide again on the new state (a stale card is then refused)
        with outbox.knowing() as k:
            # The follow-ups run here draw the lead as stored, with the tenant read above. The assignee's name on
            # the lead is the loaded one: only while the change kept the assignee.
            k.tenants[tenant.id] = tenant
            if decision.lead.assignee_id == lead.assignee_id:
                k.leads[lead_id] = decision.lead
            await follow_up(services, ids, inline=inline, claimed=claim.rows if claim is not None else None)
        log.info("lead %d: %s by %s via %s -> %s v%d", lead_id, action.name, actor.user_id or "system", source,
                 decision.lead.status, decision.lead.version)
        return ActionResult(decision, tuple(ids))
    raise LeadConflict(f"lead {lead_id} kept changing; try again")


async def follow_up(services: Services, ids: Sequence[int], *, inline: bool,
                    claimed: Mapping[int, Any] | None = None) -> None:
    """Carry out the follow-ups `ids` now (`inline`; `claimed`: as stored with `leadstore.Claim`), or queue them."""
    if not ids:
        return
    if inline:
        await outbox.run(services, ids, claimed)
    else:
        await services.queue.enqueue("process_outbox", job_id=f"outbox:{ids[0]}", ids=list(ids))


# Intake


def _view_of(row: dict[str, Any]) -> lt.UserView:
    """`user_view` of a `_REPS_SQL` row: intake reads every active user of the tenant per lead, and building model
    instances (a dozen columns, two timestamps parsed) cost more than the routing itself."""
    industries = row["industries"]
    return _view(row["id"], row["tenant_id"], str(row["role"]), row["name"], row["manager_id"], row["region"],
                 industries if isinstance(industries, str) else json.dumps(industries), bool(row["active"]),
                 row["open_leads"])


# Keyed by every value of the row: a view made before for the same values is the same view (of the 50 reps a tenant's
# intake reads per lead, one rep's count moved since the last lead). Nothing here can be stale.
@functools.lru_cache(maxsize=4096)
def _view(user_id: int, tenant_id: int, role: str, name: str, manager_id: int | None, region: str | None,
          industries: str, active: bool, open_leads: int) -> lt.UserView:
    return lt.UserView(
        id=user_id, tenant_id=tenant_id, role=lt.Role(role), name=name, manager_id=manager_id,
        regions=frozenset([region] if region else []), industries=frozenset(json.loads(industries) or ()),
        active=active, open_leads=open_leads,
    )


# Each active user with their open leads as kept by `bot.leads.open_counts` (one row per rep, however many open
# leads the tenant has: counting them here cost a scan of the tenant's open leads per new lead), in one round trip.
_REPS_SQL = (
    'SELECT u."id", u."tenant_id", u."role", u."name", u."manager_id", u."region", u."industries", u."active", '
    'COALESCE(r."open_leads", 0) AS "open_leads" FROM "users" u LEFT JOIN "rep_loads" r ON r."user_id" = u."id" '
    'WHERE u."tenant_id" = {p} AND u."active" ORDER BY u."id"'
)


async def reps_of(tenant_id: int) -> list[lt.UserView]:
    conn = connections.get("default")
    sql = _REPS_SQL.format(p="$1" if conn.capabilities.dialect == "postgres" else "?")
    return [_view_of(r) for r in await conn.execute_query_dict(sql, [tenant_id])]


def _rule_value(row: RuleRow) -> routing.RoutingRule:
    spec = row.spec or {}
    return routing.RoutingRule(
        id=row.id, name=row.name, enabled=row.enabled, cursor=row.cursor,
        regions=frozenset(spec.get("regions", ())), industries=frozenset(spec.get("industries", ())),
        sources=frozenset(spec.get("sources", ())), tags_any=frozenset(spec.get("tags_any", ())),
        budget_min=spec.get("budget_min"), budget_max=spec.get("budget_max"),
        strategy=routing.Strategy(spec.get("strategy", "least_loaded")), rep_ids=tuple(spec.get("rep_ids", ())),
        named_rep_id=spec.get("named_rep_id"),
    )


async def rules_of(tenant_id: int) -> list[routing.RoutingRule]:
    """The tenant's rules in order; within an API request, as kept under the tenant's version (`tenant_cache`)."""
    return list(await tenant_cache.kept(tenant_id, "routing_rules", lambda: _read_rules(tenant_id)))


async def _read_rules(tenant_id: int) -> tuple[routing.RoutingRule, ...]:
    # Parameterised (`storage.db.fetch`): every intake reads them, and the ORM's query builder cost more CPU than
    # the read.
    return tuple(_rule_value(r) for r in await db.fetch(
        RuleRow, 'SELECT * FROM "routing_rules" WHERE "tenant_id" = ? ORDER BY "position", "id"', [tenant_id]))


async def route_lead(services: Services, lead_id: int, tenant_id: int, *, cause: Cause = Cause.ROUTING,
                     inline: bool = False, now: datetime | None = None) -> ActionResult | None:
    """Assign a lead by the tenant's routing rules (or leave it in the pool). None when nothing changed."""
    settings = (await tenant_settings(tenant_id)).workflow.to_value()
    for _ in range(MAX_STALE_RETRIES):
        lead = await leadstore.load(lead_id, tenant_id)
        moved: list[int] = []
        try:
            # One transaction: a round-robin rule's row stays locked from reading its turn until the assignment
            # that took it is stored.
            async with leadstore.one_transaction():
                result = await _route(lead, settings, await rules_of(tenant_id), now or services.clock.now(), cause,
                                      moved)
        except leadstore.StaleLead:
            continue
        if moved:  # processes keeping the rules read the cursor again
            await tenant_cache.changed(services.redis, tenant_id)
        if result is not None:
            await follow_up(services, result.outbox_ids, inline=inline)
        return result
    raise LeadConflict(f"lead {lead_id} kept changing; try again")


async def _route(lead: lt.Lead, settings: lt.WorkflowSettings, rules: Sequence[routing.RoutingRule], at: datetime,
                 cause: Cause, moved: list[int]) -> ActionResult | None:
    """Route `lead` and store the assignment (the caller carries out its follow-ups once committed). None when
    nothing changed; raises `leadstore.StaleLead` when the lead changed since it was loaded. A rule's round-robin
    cursor moved: the rule's id is added to `moved` (the caller changes the tenant's version once committed).

    Runs in the caller's transaction (`leadstore.one_transaction`): when a round-robin rule routes the lead, its row
    is locked and its cursor read again before the turn is given (see `_locked_cursor`)."""
    reps = await reps_of(lead.tenant_id)
    result, decision = routing.route_and_assign(lead, rules, reps, at, settings=settings, cause=cause)
    # The round-robin rule that routed the lead, if one did: its turn is read again under its row's lock.
    turn_rule = next((r for r in rules if r.id == result.rule_id and r.strategy is routing.Strategy.ROUND_ROBIN),
                     None)
    turn_before = None
    if turn_rule is not None:
        turn_before = await _locked_cursor(turn_rule.id)
        if turn_before != turn_rule.cursor:  # another intake took a turn since these rules were read: pick after it
            rules = [replace(r, cursor=turn_before) if r.id == turn_rule.id else r for r in rules]
            result, decision = routing.route_and_assign(lead, rules, reps, at, settings=settings, cause=cause)
    if decision is None or not decision.ok:
        if result.unstaffed:
            log.warning("lead %d stays in the pool: %s", lead.id, result.reason)
        return None if decision is None else ActionResult(decision)
    if (known := outbox.known()) is not None:
        # What the change's own follow-up writers see of it (the response lock: the new holder's manager).
        known.leads[lead.id] = decision.lead
    try:
        ids = await store(decision, lead.version, at)
    except leadstore.StaleLead:
        if known is not None:
            known.leads.pop(lead.id, None)  # not stored: its version may be another change's
        raise
    if turn_rule is not None and result.cursor != turn_before:
        await db.changed('UPDATE "routing_rules" SET "cursor" = ? WHERE "id" = ?', [result.cursor, turn_rule.id])
        moved.append(turn_rule.id)
    return ActionResult(decision, tuple(ids))


async def _locked_cursor(rule_id: int) -> int | None:
    """A round-robin rule's cursor as stored now, its row locked until the caller's transaction ends.

    The rules routing reads may be older than the cursor (kept by this process under the tenant's version, or read
    before another intake committed): two intakes would then give the same rep the same turn. On PostgreSQL the
    row lock makes a concurrent intake of the same rule wait here until this one has stored its turn, then read it;
    waiting rather than comparing and retrying, which starved under many concurrent intakes. SQLite has no row
    locks: a process's transactions run one at a time on its one connection, and a second process's intake waits
    for the database's write lock."""
    lock = " FOR UPDATE" if db.dialect() == "postgres" else ""
    rows = await connections.get("default").execute_query_dict(
        db.numbered(f'SELECT "cursor" FROM "routing_rules" WHERE "id" = ?{lock}'), [rule_id])
    return rows[0]["cursor"] if rows else None


def created_event(tenant_id: int, values: dict[str, Any], actor: lt.Actor, source: lt.EventSource,
                  at: datetime) -> AuditEvent:
    shown = {k: values[k] for k in ("external_id", "company", "source", "region", "industry", "tags", "intent",
                                    "budget_min", "budget_max") if values.get(k) not in (None, "", [])}
    return AuditEvent(tenant_id=tenant_id, lead_id=0, at=at, actor_id=actor.user_id, actor_role=actor.role,
                      source=source, action="create", before={}, after={"status": "pool", **shown})


class Intake(NamedTuple):
    row: LeadRow  # as stored
    created: bool  # False: the lead of that external id, as it was
    due: datetime | None  # created: the response lock's due time (None: not assigned); otherwise not known


async def create_lead(services: Services, tenant_id: int, values: dict[str, Any], actor: lt.Actor, *,
                      source: lt.EventSource = lt.EventSource.API,
                      inline: bool = False) -> tuple[LeadRow, bool]:
    """Create a lead and route it; the same external id again returns the existing lead (False: not created)."""
    done = await take_in(services, tenant_id, values, actor, source=source, inline=inline)
    return done.row, done.created


async def take_in(services: Services, tenant_id: int, values: dict[str, Any], actor: lt.Actor, *,
                  source: lt.EventSource = lt.EventSource.API, inline: bool = False,
                  tenant: Tenant | None = None) -> Intake:
    """`create_lead`, with the new lead's response deadline. `tenant`: its row as the caller just read it (the
    lead API, checking it is active), saving reads of it.

    The external id is checked before and enforced by a unique index: two concurrent intakes of the same CRM
    record create one lead.
    """
    with outbox.knowing() as known:
        # The tenant's row, read once for this intake: its settings, the board's calendar, the response lock's.
        known.tenants[tenant_id] = tenant if tenant is not None and tenant.id == tenant_id else (
            known.tenants.get(tenant_id) or await Tenant.get(id=tenant_id))
        return await _create_lead(services, tenant_id, values, actor, source=source, inline=inline)


async def _create_lead(services: Services, tenant_id: int, values: dict[str, Any], actor: lt.Actor, *,
                       source: lt.EventSource, inline: bool) -> Intake:
    external_id = values.get("external_id")
    if external_id:
        existing = await LeadRow.get_or_none(tenant_id=tenant_id, external_id=external_id)
        if existing is not None:
            return Intake(existing, False, None)
    at = services.clock.now()
    from tortoise.exceptions import IntegrityError

    settings = (await tenant_settings(tenant_id)).workflow.to_value()
    rules = await rules_of(tenant_id)
    moved: list[int] = []
    try:
        # Created and routed in one transaction: a lead is never seen (nor left, by a crash) unrouted in the pool
        # when a rule takes it, and the follow-ups are queued once, after the commit.
        with leadstore.remembering_chains():  # the routing's save appends to the chain the create just wrote
            async with leadstore.one_transaction():
                # The create's audit chain head is written by the routing's update (or below, when not routed).
                row, _ = await leadstore.create({**values, "tenant_id": tenant_id, "status": "pool"},
                                                created_event(tenant_id, values, actor, source, at), chain_later=True)
                routed = await _route(leadstore.to_snapshot(row), settings, rules, at, Cause.ROUTING, moved)
                due = None
                if routed is None or not routed.ok:
                    await leadstore.write_chain(row)  # left in the pool: no save wrote the chain
                else:
                    leadstore.stored_row(row, routed.decision.lead, at)  # `row` as stored, not read back
                    armed = (leadstore.transaction_memo() or {}).get(("response_lock", row.id))
                    due = armed.astimezone(UTC) if armed is not None else None  # as stored (UTC), not read back
    except IntegrityError:
        if external_id:  # a concurrent intake of the same external id won the race
            return Intake(await LeadRow.get(tenant_id=tenant_id, external_id=external_id), False, None)
        raise
    if moved:  # committed: processes keeping the rules read the round-robin cursor again
        await tenant_cache.changed(services.redis, tenant_id)
    if routed is not None:
        await follow_up(services, routed.outbox_ids, inline=inline)
    return Intake(row, True, due)


async def deactivate_rep(services: Services, user: User, successor: User | None, *, inline: bool = False) -> int:
    """Hand every open lead of a departing rep to `successor` (or back to the pool), then tell their managers.

    Each lead moves through `act`, so every move is audited and re-rendered like any other change. Returns how
    many leads moved.
    """
    system = lt.Actor.system(user.tenant_id)
    action: Action = (Assign(user_view(successor), Cause.DEACTIVATION) if successor is not None
                      else ReleaseToPool(Cause.DEACTIVATION))
    open_statuses = [str(s) for s in HELD]
    lead_ids = await LeadRow.filter(tenant_id=user.tenant_id, assignee_id=user.id, status__in=open_statuses
                                    ).order_by("id").values_list("id", flat=True)
    moved = 0
    for lead_id in lead_ids:
        if (await act(services, lead_id, action, system, source=lt.EventSource.API, inline=inline)).ok:
            moved += 1
    if lead_ids and user.manager_id:
        where = f"转交给{successor.name}" if successor is not None else "退回公海"
        text = f"{user.name} 已停用：{moved} 条进行中的线索已{where}"
        if moved < len(lead_ids):
            text += f"，{len(lead_ids) - moved} 条未能处理，请手动分配"
        now = services.clock.now()
        ids = await leadstore.outbox_rows(user.tenant_id, None, [("notify", {
            "lead_id": None, "user_id": user.manager_id, "kind": "deactivated", "text": text,
            "at": now.isoformat()})], now=now)
        await follow_up(services, ids, inline=inline)
    log.info("user %d deactivated: %d of %d open leads moved", user.id, moved, len(lead_ids))
    return moved
