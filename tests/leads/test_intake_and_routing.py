"""Lead intake: idempotent on external id, routed by the tenant's ordered rules, left in the pool otherwise."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

from storage.models import Lead, LeadEvent, Outbox, RoutingRule


async def _post(client, headers, **fields):
    return await client.post("/api/leads", json={"company": "华东机械", **fields}, headers=headers)


async def _rule(tenant, **spec):
    name = spec.pop("name", "rule")
    position = spec.pop("position", 0)
    return await RoutingRule.create(tenant=tenant, name=name, position=position, spec=spec)


async def test_intake_is_idempotent_on_external_id(client, team) -> None:
    await _rule(team.tenant, regions=["华东"])
    r = await _post(client, team.headers, external_id="crm-1", region="华东", industry="制造", intent="high")
    assert r.status == 201
    first = await r.json()
    assert first["status"] == "assigned" and first["assignee_id"] in {u.id for u in team.reps}
    assert first["response_deadline"] is not None
    r = await _post(client, team.headers, external_id="crm-1", region="华东", company="改了名字")
    assert r.status == 200
    again = await r.json()
    assert again["id"] == first["id"] and again["company"] == "华东机械"
    assert await Lead.all().count() == 1
    # created + assigned: two audited events, and the rep's card and response lock as follow-ups
    assert await LeadEvent.filter(lead_id=first["id"]).count() == 2
    kinds = set(await Outbox.filter(lead_id=first["id"]).values_list("kind", flat=True))
    assert {"send_lead_card", "arm_lock", "render_cards"} <= kinds


async def test_unmatched_lead_stays_in_the_pool(client, team) -> None:
    await _rule(team.tenant, regions=["华南"])
    r = await _post(client, team.headers, region="华北")
    body = await r.json()
    assert (r.status, body["status"], body["assignee_id"], body["response_deadline"]) == (201, "pool", None, None)


async def test_least_loaded_then_round_robin(client, team) -> None:
    a, b = team.reps
    await _rule(team.tenant, name="load", position=0, industries=["制造"], strategy="least_loaded",
                rep_ids=[a.id, b.id])
    await _rule(team.tenant, name="rr", position=1, industries=["能源"], strategy="round_robin", rep_ids=[a.id, b.id])
    got = [(await (await _post(client, team.headers, industry="制造")).json())["assignee_id"] for _ in range(4)]
    assert sorted(got) == sorted([a.id, b.id, a.id, b.id])  # load evens out
    assert got[0] == a.id and got[1] == b.id
    rr = [(await (await _post(client, team.headers, industry="能源")).json())["assignee_id"] for _ in range(3)]
    assert rr == [a.id, b.id, a.id]
    assert (await RoutingRule.get(name="rr")).cursor == a.id


async def test_named_rep_budget_range_and_urgency(client, team) -> None:
    a, b = team.reps
    await _rule(team.tenant, name="big", position=0, budget_min=1_000_000, strategy="named", named_rep_id=b.id)
    await _rule(team.tenant, name="rest", position=1, strategy="named", named_rep_id=a.id)
    big = await (await _post(client, team.headers, budget_min=2_000_000, budget_max=3_000_000)).json()
    small = await (await _post(client, team.headers, budget_max=50_000, tags=["急"], intent="low")).json()
    assert (big["assignee_id"], small["assignee_id"]) == (b.id, a.id)
    assert small["priority"] == 2  # urgent
    # an urgent lead gets the shortest lock (30 working minutes), whatever its stated intent
    assigned = datetime.fromisoformat(small["assigned_at"])
    due = datetime.fromisoformat(small["response_deadline"])
    low = await (await _post(client, team.headers, budget_max=50_000, intent="low")).json()
    assert due - assigned <= datetime.fromisoformat(low["response_deadline"]) - datetime.fromisoformat(
        low["assigned_at"])


@pytest.mark.parametrize(("payload", "field"), [
    ({"company": ""}, ""),
    ({"phone": "12"}, "phone"),
    ({"budget_min": 10, "budget_max": 5}, ""),
    ({"intent": "urgent"}, "intent"),
    ({"tags": ["x" * 40]}, "tags.0"),
    ({"unknown": 1}, "unknown"),
])
async def test_invalid_lead_is_400_and_writes_nothing(client, team, payload, field) -> None:
    r = await client.post("/api/leads", json={"company": "华东机械", **payload}, headers=team.headers)
    assert r.status == 400
    assert ((await r.json()).get("field") or "").startswith(field)
    assert await Lead.all().count() == 0


async def test_lead_api_needs_a_token_and_keeps_tenants_apart(client, team, other_team, admin_headers) -> None:
    assert (await client.post("/api/leads", json={"company": "x"})).status == 401
    mine = await (await _post(client, team.headers)).json()
    assert (await client.get(f"/api/leads/{mine['id']}", headers=other_team.headers)).status == 404
    r = await client.post(f"/api/leads/{mine['id']}/actions", json={"action": "claim"}, headers=other_team.headers)
    assert r.status == 404
    assert await (await client.get("/api/leads", headers=other_team.headers)).json() == []
    # naming another tenant in the body does not help either
    r = await client.post("/api/leads", json={"company": "x", "tenant_id": team.tenant.id},
                          headers=other_team.headers)
    assert r.status == 404
    # the operator must say which tenant
    r = await client.post("/api/leads", json={"company": "x"}, headers=admin_headers)
    assert r.status == 400
    r = await client.get(f"/api/leads/{mine['id']}", params={"tenant_id": team.tenant.id}, headers=admin_headers)
    assert r.status == 200


async def test_a_routed_lead_names_its_rule_and_has_its_deadline_at_once(client, team) -> None:
    """Issue 23: the audit said reason "manual" for a lead the rules routed, and right after the POST a GET (and an
    export) showed response_deadline null until a follow-up ran. No follow-up runs in this test (no worker)."""
    rule = await _rule(team.tenant, name="华东制造", regions=["华东"])
    r = await _post(client, team.headers, external_id="crm-9", region="华东", industry="制造", intent="high")
    created = await r.json()
    assert created["status"] == "assigned" and created["response_deadline"] is not None
    assert not await Outbox.filter(lead_id=created["id"], done_at__isnull=False).exists()  # nothing ran after

    shown = await (await client.get(f"/api/leads/{created['id']}", headers=team.headers)).json()
    assert shown["response_deadline"] == created["response_deadline"]
    export = await (await client.get("/api/leads/export", params={"format": "csv"}, headers=team.headers)).text()
    [row] = [r for r in csv.DictReader(io.StringIO(export.lstrip("\ufeff"))) if r["id"] == str(created["id"])]
    assert row["response_deadline"]
    assigned = await LeadEvent.filter(lead_id=created["id"], action="assign").first()
    assert assigned.reason == f"routing: rule #{rule.id} 华东制造"


async def test_the_intake_answer_is_the_lead_as_stored(client, team) -> None:
    """The answer is made from what the create and the routing wrote (no read back): a GET right after shows the
    same lead, deadline included; so does the answer to the same external id again."""
    await _rule(team.tenant, name="华东", regions=["华东"])
    r = await _post(client, team.headers, external_id="crm-7", region="华东", industry="制造", tags=["急"],
                    intent="high", budget_min=100_000, budget_max=200_000)
    created = await r.json()
    assert r.status == 201 and created["status"] == "assigned" and created["response_deadline"]
    shown = await (await client.get(f"/api/leads/{created['id']}", headers=team.headers)).json()
    assert {k: v for k, v in shown.items() if k != "events"} == {k: v for k, v in created.items() if k != "events"}
    again = await (await _post(client, team.headers, external_id="crm-7", region="华东")).json()
    assert {k: v for k, v in again.items() if k != "events"} == {k: v for k, v in created.items() if k != "events"}
    pooled = await (await _post(client, team.headers, region="华北")).json()
    shown = await (await client.get(f"/api/leads/{pooled['id']}", headers=team.headers)).json()
    assert {k: v for k, v in shown.items() if k != "events"} == {k: v for k, v in pooled.items() if k != "events"}


async def test_an_intake_leaves_a_whole_audit_chain_routed_or_left_in_the_pool(client, team) -> None:
    """The create's chain head is written by the routing's update, or on its own when no rule takes the lead:
    either way `leadbot audit verify` finds the chain whole, and a later change appends to it."""
    from bot.leads import store as leadstore

    await _rule(team.tenant, regions=["华东"])
    routed = await (await _post(client, team.headers, region="华东", industry="制造")).json()
    pooled = await (await _post(client, team.headers, region="华北", industry="制造")).json()
    assert (routed["status"], pooled["status"]) == ("assigned", "pool")
    assert [(await Lead.get(id=lead["id"])).audit_seq for lead in (routed, pooled)] == [2, 1]
    assert await leadstore.verify_chains(team.tenant.id) == (2, [])
    r = await client.post(f"/api/leads/{pooled['id']}/actions", json={"action": "claim", "as_user_id": team.reps[0].id},
                          headers=team.headers)
    assert r.status == 200 and (await r.json())["lead"]["assignee_id"] == team.reps[0].id
    assert await leadstore.verify_chains(team.tenant.id) == (2, [])
