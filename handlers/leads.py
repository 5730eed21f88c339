"""`/api/leads`: intake, queries and card-button actions for CRMs and scripts (bearer token, tenant-scoped).

A tenant token (scope `api` or `admin`) works on its own tenant; the operator token names the tenant. A lead of
another tenant answers 404. Handlers validate and shape answers; `bot.leads.service` does the work.
"""

from __future__ import annotations

from aiohttp import web

from bot.admin.schemas import BIG_ID_MAX, ROW_ID_MAX
from bot.leads import queries as leadqueries
from bot.leads import service as leadservice
from bot.leads import types as lt
from bot.leads.actions import Action, Advance, Assign, Claim, MarkLost, ReleaseToPool, Reopen, UpdateFields
from bot.leads.gates import Refusal, RefusalCode
from bot.leads.schemas import ActionIn, ActionOut, LeadIn, LeadOut, LeadQuery
from bot.leads.types import Budget
from bot.runtime.appkeys import SERVICES
from handlers.auth import Principal, authenticate
from handlers.http import HttpProblem, json_out, positive_id, query_model, read_model
from handlers.openapi import ApiRoutes
from storage.models import Tenant, TokenScope, User

API = ApiRoutes()

_REFUSAL_STATUS = {
    RefusalCode.NOT_ALLOWED: 403,
    RefusalCode.NEEDS_MANAGER: 403,
    RefusalCode.WRONG_TENANT: 404,
}


def _lead_id(request: web.Request) -> int:
    return positive_id(request.match_info["id"], "id", BIG_ID_MAX)


async def _principal(request: web.Request) -> Principal:
    return await authenticate(request, need=TokenScope.API)


async def _tenant_id(principal: Principal, requested: int | None) -> int:
    return (await _tenant(principal, requested)).id


async def _tenant(principal: Principal, requested: int | None) -> Tenant:
    tenant_id = principal.tenant_for(requested)
    if principal.tenant is not None and principal.tenant.id == tenant_id:
        return principal.tenant  # read with the token, for this request, and active (else refused there)
    tenant = await Tenant.get_or_none(id=tenant_id, active=True)
    if tenant is None:
        raise HttpProblem(404, "not_found", f"tenant {tenant_id} not found")
    return tenant


def _tenant_param(request: web.Request) -> int | None:
    raw = request.query.get("tenant_id")
    if raw is None:
        return None
    return positive_id(raw, "tenant_id", ROW_ID_MAX)


@API.route("POST", "/api/leads", summary="Take in a lead (idempotent on external_id) and route it", tags=("leads",),
           body=LeadIn, ok=201, response=LeadOut, errors=(401, 403, 404, 409))
async def create_lead(request: web.Request) -> web.Response:
    principal = await _principal(request)
    data = await read_model(request, LeadIn)
    tenant = await _tenant(principal, data.tenant_id)
    tenant_id = tenant.id
    services = request.app[SERVICES]
    actor = lt.Actor(user_id=None, tenant_id=tenant_id, role=lt.Role.SYSTEM, name="api")
    row, created, due = await leadservice.take_in(services, tenant_id, data.values(), actor, tenant=tenant)
    # The deadline is written with the assignment (one transaction): what this answer shows, every reader sees.
    # `row` is as stored (as the routing saved it, or the existing lead of that external id): not read again;
    # the deadline of a new lead is the one its routing armed.
    if not created:
        due = (await leadqueries.deadlines_of([row.id])).get(row.id)
    return json_out(leadqueries.to_out(row, due, services.clock.now()), 201 if created else 200)


@API.route("GET", "/api/leads", summary="List leads (filters: status, assignee, overdue)", tags=("leads",),
           query=LeadQuery, response=LeadOut, many=True)
async def list_leads(request: web.Request) -> web.Response:
    principal = await _principal(request)
    q = query_model(request, LeadQuery)
    tenant_id = await _tenant_id(principal, q.tenant_id)
    leads = await leadqueries.search(tenant_id, status=q.status, assignee_id=q.assignee_id, overdue=q.overdue,
                                     limit=q.limit, after_id=q.after_id, now=request.app[SERVICES].clock.now())
    return json_out(leads)


@API.route("GET", "/api/leads/{id}", summary="A lead with its fields and its event history", tags=("leads",),
           response=LeadOut)
async def show_lead(request: web.Request) -> web.Response:
    principal = await _principal(request)
    tenant_id = await _tenant_id(principal, _tenant_param(request) if principal.is_operator else None)
    lead = await leadqueries.one(tenant_id, _lead_id(request), now=request.app[SERVICES].clock.now())
    if lead is None:
        raise HttpProblem(404, "not_found", "lead not found")
    return json_out(lead)


async def _actor(tenant_id: int, as_user_id: int | None) -> lt.Actor:
    if as_user_id is None:
        return lt.Actor(user_id=None, tenant_id=tenant_id, role=lt.Role.SYSTEM, name="api")
    user = await User.get_or_none(id=as_user_id, tenant_id=tenant_id, active=True)
    if user is None:
        raise HttpProblem(400, "invalid", f"no active user {as_user_id} in this tenant", field="as_user_id")
    return leadservice.actor_for(user)


async def _action(tenant_id: int, data: ActionIn) -> Action:
    if data.action == "advance":
        return Advance(data.to)
    if data.action == "mark_lost":
        return MarkLost(data.reason)
    if data.action == "reopen":
        return Reopen(data.reason)
    if data.action == "claim":
        return Claim()
    if data.action == "release":
        return ReleaseToPool()
    if data.action == "assign":
        user = await User.get_or_none(id=data.assignee_id, tenant_id=tenant_id)
        if user is None:
            raise HttpProblem(400, "invalid", f"no user {data.assignee_id} in this tenant", field="assignee_id")
        return Assign(leadservice.user_view(user))
    budget = None
    if data.budget_min is not None or data.budget_max is not None:
        low = data.budget_min if data.budget_min is not None else data.budget_max
        high = data.budget_max if data.budget_max is not None else data.budget_min
        budget = Budget(min(low, high), max(low, high))
    return UpdateFields(budget=budget, tender_date=data.tender_date, decision_maker=data.decision_maker)


@API.route("POST", "/api/leads/{id}/actions", summary="Do what a card button does (advance, lose, claim, …)",
           tags=("leads",), body=ActionIn, response=ActionOut, errors=(401, 403, 409))
async def act_on_lead(request: web.Request) -> web.Response:
    principal = await _principal(request)
    tenant_id = await _tenant_id(principal, _tenant_param(request) if principal.is_operator else None)
    lead_id = _lead_id(request)
    if await leadqueries.one(tenant_id, lead_id, now=request.app[SERVICES].clock.now(), with_events=False) is None:
        raise HttpProblem(404, "not_found", "lead not found")
    data = await read_model(request, ActionIn)
    actor = await _actor(tenant_id, data.as_user_id)
    outcome = await leadservice.act(request.app[SERVICES], lead_id, await _action(tenant_id, data), actor,
                                    source=lt.EventSource.API, seen_version=data.expected_version, inline=False)
    lead = await leadqueries.one(tenant_id, lead_id, now=request.app[SERVICES].clock.now(), with_events=False)
    if outcome.ok:
        return json_out(ActionOut(ok=True, lead=lead))
    refusal = outcome.decision
    assert isinstance(refusal, Refusal)
    body = ActionOut(ok=False, code=str(refusal.code), message=refusal.message,
                     missing=[m.label for m in refusal.missing], lead=lead)
    return json_out(body, _REFUSAL_STATUS.get(refusal.code, 409))

