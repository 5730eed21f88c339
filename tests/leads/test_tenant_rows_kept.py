"""A process keeps a tenant's token, tenant, routing rules and webhook subscriptions between API requests while the
tenant's version in Redis stays the same (`bot.runtime.tenant_cache`). A change made in another process (its write,
then `tenant_cache.changed`, as every writer does) is seen by the next request here, and so is a change made through
this process's own routes."""

from __future__ import annotations

from bot.runtime import tenant_cache
from storage.models import ApiToken, RoutingRule, Tenant, WebhookEvent


async def _post(client, headers, **fields):
    r = await client.post("/api/leads", json={"company": "华东机械", "region": "华东", "industry": "制造", **fields},
                          headers=headers)
    return r.status, await r.json()


async def _named(tenant, rep):
    return await RoutingRule.create(tenant=tenant, name="named", position=0,
                                    spec={"strategy": "named", "named_rep_id": rep.id})


async def test_a_rule_changed_in_another_process_routes_the_next_lead(client, team, services) -> None:
    a, b = team.reps
    rule = await _named(team.tenant, a)
    for _ in range(2):  # the first request reads the token and rules; the second may use them as kept
        status, lead = await _post(client, team.headers)
        assert (status, lead["assignee_id"]) == (201, a.id)
    # Another process changes the rule: its write, then the tenant's version.
    await RoutingRule.filter(id=rule.id).update(spec={"strategy": "named", "named_rep_id": b.id})
    await tenant_cache.changed(services.redis, team.tenant.id)
    status, lead = await _post(client, team.headers)
    assert (status, lead["assignee_id"]) == (201, b.id)


async def test_a_token_revoked_or_a_tenant_deactivated_in_another_process_is_refused_at_the_next_request(
        client, team, services) -> None:
    for _ in range(2):
        assert (await _post(client, team.headers))[0] == 201
    await Tenant.filter(id=team.tenant.id).update(active=False)
    await tenant_cache.changed(services.redis, team.tenant.id)
    status, body = await _post(client, team.headers)
    assert (status, body["error"]) == (403, "tenant_inactive")
    await Tenant.filter(id=team.tenant.id).update(active=True)
    await tenant_cache.changed(services.redis, team.tenant.id)
    assert (await _post(client, team.headers))[0] == 201
    await ApiToken.filter(tenant_id=team.tenant.id).update(revoked_at=services.clock.now())
    await tenant_cache.changed(services.redis, team.tenant.id)
    assert (await _post(client, team.headers))[0] == 401


async def test_a_subscription_added_in_another_process_gets_the_next_leads_events(client, team, services) -> None:
    from bot.webhooks import subscriptions
    from bot.webhooks.schemas import SubscriptionIn

    await _named(team.tenant, team.reps[0])
    status, before = await _post(client, team.headers)
    assert status == 201 and not await WebhookEvent.filter(lead_id=before["id"]).exists()  # no subscription yet
    await subscriptions.create(services.box, services.settings, team.tenant.id,
                               SubscriptionIn(url="https://crm.example.com/hook", event_types=["*"]))
    await tenant_cache.changed(services.redis, team.tenant.id)
    status, after = await _post(client, team.headers)
    assert status == 201 and await WebhookEvent.filter(lead_id=after["id"]).exists()


async def test_changes_through_the_admin_routes_are_seen_by_the_next_request(client, team, admin_headers) -> None:
    a, b = team.reps
    rule = await _named(team.tenant, a)
    for _ in range(2):
        assert (await _post(client, team.headers))[1]["assignee_id"] == a.id
    r = await client.put(f"/admin/rules/{rule.id}", json={"name": "named", "strategy": "named", "named_rep_id": b.id},
                         headers=admin_headers)
    assert r.status == 200
    assert (await _post(client, team.headers))[1]["assignee_id"] == b.id
    token = await ApiToken.get(tenant_id=team.tenant.id)
    r = await client.post(f"/admin/tokens/{token.id}/revoke", headers=admin_headers)
    assert r.status == 200
    assert (await _post(client, team.headers))[0] == 401


async def _round_robin(tenant, reps, **spec):
    return await RoutingRule.create(tenant=tenant, name="rr", position=0,
                                    spec={"strategy": "round_robin", "rep_ids": [r.id for r in reps], **spec})


async def test_a_round_robin_turn_taken_in_another_process_is_not_given_again(client, team, services) -> None:
    a, b = team.reps
    rule = await _round_robin(team.tenant, team.reps, industries=["能源"])
    status, first = await _post(client, team.headers, industry="能源")
    assert (status, first["assignee_id"]) == (201, a.id)
    # A lead no rule takes: this request reads the rules (cursor at a) and keeps them under the current version.
    assert (await _post(client, team.headers, industry="零售"))[1]["assignee_id"] is None
    # Another process's intake gives b its turn and has committed, but has not changed the version yet.
    await RoutingRule.filter(id=rule.id).update(cursor=b.id)
    status, lead = await _post(client, team.headers, industry="能源")
    assert (status, lead["assignee_id"]) == (201, a.id)  # after b's turn, a's; not b's turn a second time
    assert (await RoutingRule.get(id=rule.id)).cursor == a.id
    # Nothing of the attempt on the stale cursor was kept: one lead, one creation and one assignment event.
    from storage.models import Lead, LeadEvent

    assert await Lead.filter(tenant_id=team.tenant.id).count() == 3
    assert await LeadEvent.filter(lead_id=lead["id"]).count() == 2


async def test_concurrent_intakes_under_round_robin_each_take_their_own_turn(client, services) -> None:
    import asyncio

    from tests.leads.conftest import make_team

    team = await make_team("rr", reps=4)
    await _round_robin(team.tenant, team.reps)
    assert (await _post(client, team.headers))[0] == 201  # rules read and kept; the cursor at the first rep
    results = await asyncio.gather(*(_post(client, team.headers) for _ in range(3)))
    assert [status for status, _ in results] == [201, 201, 201]
    # The first lead took rep 1's turn; the three at once took reps 2, 3 and 4, one each.
    assert sorted(lead["assignee_id"] for _, lead in results) == [r.id for r in team.reps[1:]]
