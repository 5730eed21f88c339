"""/admin/webhooks: add, list, show, change, disable/enable, test, attempts, deliveries, redeliver, rotate — and one
tenant never sees another's subscriptions."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.leads import service as leadservice
from bot.leads import types as lt
from bot.runtime.appkeys import SERVICES
from bot.webhooks import dispatcher
from bot.webhooks.record import SECRET_PURPOSE
from bot.webhooks.signing import WebhookSignatureError, verify
from handlers.auth import token_digest
from storage.models import ApiToken, Tenant, TokenScope, WebhookDelivery, WebhookSubscription
from tests.webhooks.conftest import FAST


async def _token(tenant: Tenant, scope: TokenScope) -> dict[str, str]:
    token = f"lbt_{tenant.name}_{scope.value}"
    await ApiToken.create(tenant=tenant, name=scope.value, scope=scope, token_sha256=token_digest(token))
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def tenants(services):
    a, b = await Tenant.create(name="acme"), await Tenant.create(name="globex")
    return a, b, await _token(a, TokenScope.ADMIN), await _token(b, TokenScope.ADMIN)


async def _add(client, headers, url, **extra) -> dict:
    r = await client.post("/admin/webhooks", headers=headers, json={"url": url, "event_types": ["*"], **extra})
    assert r.status == 201, await r.text()
    return await r.json()


async def test_the_secret_is_shown_once_and_kept_sealed(client, services, tenants, receiver) -> None:
    a, _, a_headers, _ = tenants
    created = await _add(client, a_headers, receiver.url, description="CRM")
    secret = created["secret"]
    assert secret.startswith("whsec_") and created["tenant_id"] == a.id and created["enabled"]
    r = await client.get(f"/admin/webhooks/{created['id']}", headers=a_headers)
    assert "secret" not in await r.json()
    row = await WebhookSubscription.get(id=created["id"])
    assert secret not in row.secret_sealed and services.box.open(row.secret_sealed, SECRET_PURPOSE) == secret

    # the test endpoint sends a signed ping the CRM checks with that secret
    receiver.secret = secret
    r = await client.post(f"/admin/webhooks/{created['id']}/test", headers=a_headers)
    body = await r.json()
    assert r.status == 200 and body["ok"] and body["status_code"] == 200
    assert receiver.received[0].signed and receiver.received[0].event_id == body["event_id"]

    # rotating gives a new secret, shown once; the next request is signed with it
    r = await client.post(f"/admin/webhooks/{created['id']}/rotate-secret", headers=a_headers)
    new = (await r.json())["secret"]
    assert new != secret
    receiver.secret = new
    await client.post(f"/admin/webhooks/{created['id']}/test", headers=a_headers)
    last = receiver.received[-1]
    assert last.signed
    with pytest.raises(WebhookSignatureError):
        verify(secret, last.signature_header, last.raw, now=time.time())


async def test_one_tenant_never_sees_anothers_subscriptions(client, admin_headers, tenants, receiver) -> None:
    a, b, a_headers, b_headers = tenants
    mine = await _add(client, a_headers, receiver.url)
    theirs = await _add(client, b_headers, receiver.url)
    r = await client.get("/admin/webhooks", headers=b_headers)
    assert [s["id"] for s in await r.json()] == [theirs["id"]]
    r = await client.get(f"/admin/webhooks?tenant_id={a.id}", headers=b_headers)
    assert await r.json() == []
    for method, path, body in [
        ("GET", "", None), ("PATCH", "", {"description": "x"}), ("POST", "/disable", None),
        ("POST", "/enable", None), ("POST", "/test", None), ("POST", "/rotate-secret", None),
        ("GET", "/attempts", None), ("GET", "/deliveries", None),
        ("POST", "/redeliver", {"since": "2026-01-01T00:00:00+08:00"}),
    ]:
        r = await client.request(method, f"/admin/webhooks/{mine['id']}{path}", headers=b_headers, json=body)
        assert r.status == 404, (method, path, r.status)
    assert receiver.received == []  # B's test call did not reach A's receiver
    # a tenant admin cannot create for another tenant; the operator must name one
    r = await client.post("/admin/webhooks", headers=b_headers,
                          json={"tenant_id": a.id, "url": receiver.url, "event_types": ["*"]})
    assert r.status == 404
    r = await client.post("/admin/webhooks", headers=admin_headers, json={"url": receiver.url, "event_types": ["*"]})
    assert r.status == 400
    r = await client.get("/admin/webhooks", headers=admin_headers)
    assert {s["id"] for s in await r.json()} == {mine["id"], theirs["id"]}
    # an api-scope token may not manage webhooks at all
    r = await client.get("/admin/webhooks", headers=await _token(a, TokenScope.API))
    assert r.status == 403


async def test_change_disable_enable_and_validation(client, tenants, receiver) -> None:
    _, _, a_headers, _ = tenants
    sub = await _add(client, a_headers, receiver.url)
    r = await client.patch(f"/admin/webhooks/{sub['id']}", headers=a_headers,
                           json={"event_types": ["lead.status_changed", "lead.assigned"]})
    assert (await r.json())["event_types"] == ["lead.assigned", "lead.status_changed"]
    r = await client.post(f"/admin/webhooks/{sub['id']}/disable", headers=a_headers)
    assert (await r.json())["enabled"] is False
    r = await client.get("/admin/webhooks?enabled=false", headers=a_headers)
    assert [s["id"] for s in await r.json()] == [sub["id"]]
    r = await client.post(f"/admin/webhooks/{sub['id']}/enable", headers=a_headers)
    assert (await r.json())["enabled"] is True
    for bad in ({"url": receiver.url, "event_types": ["lead.exploded"]},
                {"url": receiver.url, "event_types": []},
                {"url": "ftp://example.com/", "event_types": ["*"]},
                {"url": receiver.url, "event_types": ["*"], "secret": "mine"}):
        r = await client.post("/admin/webhooks", headers=a_headers, json=bad)
        assert r.status == 400, bad
    r = await client.post(f"/admin/webhooks/{sub['id']}/redeliver", headers=a_headers, json={})
    assert r.status == 400


async def test_attempts_deliveries_and_redelivery_through_the_api(client, tenants, receiver) -> None:
    a, _, a_headers, _ = tenants
    receiver.answer = lambda r: 500
    sub = await _add(client, a_headers, receiver.url)
    receiver.secret = sub["secret"]
    services = client.app[SERVICES]
    actor = lt.Actor(user_id=None, tenant_id=a.id, role=lt.Role.SYSTEM, name="api")
    await leadservice.create_lead(services, a.id, {"company": "华东机械"}, actor)
    # its retry window is over: the one attempt below parks it as dead
    await WebhookDelivery.all().update(window_started_at=datetime.now(UTC) - timedelta(days=2))
    async with dispatcher.Dispatcher(services, policy=FAST) as d:
        await d.run_until_idle()
    r = await client.get(f"/admin/webhooks/{sub['id']}/attempts", headers=a_headers)
    attempts = await r.json()
    assert [(x["event_type"], x["outcome"], x["status_code"]) for x in attempts] == [
        ("lead.created", "http_error", 500)]
    assert attempts[0]["url"] == receiver.url and attempts[0]["latency_ms"] > 0
    r = await client.get(f"/admin/webhooks/{sub['id']}/deliveries?state=dead", headers=a_headers)
    dead = await r.json()
    assert [(x["event_type"], x["attempts"], x["last_status"]) for x in dead] == [("lead.created", 1, 500)]

    # the receiver is fixed: replay the dead event by id, then the whole morning
    receiver.answer = lambda r: 200
    r = await client.post(f"/admin/webhooks/{sub['id']}/redeliver", headers=a_headers,
                          json={"event_id": dead[0]["event_id"]})
    assert (await r.json())["queued"] == 1
    async with dispatcher.Dispatcher(services, policy=FAST) as d:
        await d.run_until_idle()
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    r = await client.post(f"/admin/webhooks/{sub['id']}/redeliver", headers=a_headers, json={"since": since})
    assert (await r.json())["queued"] == 1  # the delivered one goes again: a replay resends whatever happened
    async with dispatcher.Dispatcher(services, policy=FAST) as d:
        await d.run_until_idle()
    assert [(r.event_id, r.status) for r in receiver.received] == [(dead[0]["event_id"], s) for s in (500, 200, 200)]
    r = await client.post(f"/admin/webhooks/{sub['id']}/redeliver", headers=a_headers, json={"event_id": "evt_x"})
    assert r.status == 404
    r = await client.post(f"/admin/webhooks/{sub['id']}/redeliver", headers=a_headers,
                          json={"since": "2026-01-01T00:00:00"})
    assert r.status == 400  # a time without an offset is ambiguous
