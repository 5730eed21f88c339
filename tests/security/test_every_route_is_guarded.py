"""Every admin and lead route, enumerated from the app's router (a route added tomorrow is covered tomorrow):
refused without a valid bearer token, refused to a lead-API token where it is an admin route, and never letting one
tenant's token read or change another tenant's apps, users, rules, tokens, webhooks or leads."""

from __future__ import annotations

import re

import pytest
from aiohttp import web

from tests.hostile.support import assert_unchanged, state

PUBLIC = {("GET", "/admin/openapi.json")}  # the API's description, the same for everyone
GUARDED_PREFIXES = ("/admin/", "/api/")


def guarded_routes(app: web.Application) -> list[tuple[str, str]]:
    routes = {(r.method, r.resource.canonical) for r in app.router.routes()
              if r.resource is not None and r.method != "HEAD"
              and r.resource.canonical.startswith(GUARDED_PREFIXES)}
    return sorted(routes - PUBLIC)


def concrete(path: str, ids: dict[str, int]) -> str:
    """`path` with its `{id}` replaced by the id of the object its prefix names."""
    if "{" not in path:
        return path
    kind = path.split("/")[2]
    assert kind in ids, f"{path}: which object does its id name? Add it to the tenants fixture."
    return re.sub(r"\{\w+\}", str(ids[kind]), path)


async def _make_tenant(client, h, name: str, platform_id: str) -> dict[str, int]:
    async def post(path: str, body: dict) -> dict:
        r = await client.post(path, json=body, headers=h)
        assert r.status in (200, 201), await r.text()
        return await r.json()

    tenant = await post("/admin/tenants", {"name": name})
    tid = tenant["id"]
    app = await post("/admin/apps", {"tenant_id": tid, "platform": "wecom", "name": "助手", "credentials": {
        "corp_id": f"ww{platform_id}", "agent_id": 1000002, "secret": "s" * 20, "token": "tok3nGuard",
        "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}})
    user = await post("/admin/users", {"tenant_id": tid, "name": "张三", "wecom_userid": platform_id,
                                       "phone": "13800138000"})
    rule = await post(f"/admin/tenants/{tid}/rules", {"name": "all", "strategy": "named", "named_rep_id": user["id"]})
    lead = await post("/api/leads", {"tenant_id": tid, "company": f"{name}的客户", "external_id": f"{name}-1"})
    hook = await post("/admin/webhooks", {"tenant_id": tid, "url": "http://127.0.0.1:9/h", "event_types": ["*"]})
    admin_token = await post(f"/admin/tenants/{tid}/tokens", {"name": "admin", "scope": "admin"})
    api_token = await post(f"/admin/tenants/{tid}/tokens", {"name": "crm", "scope": "api"})
    return {"tenants": tid, "apps": app["id"], "users": user["id"], "rules": rule["id"], "leads": lead["id"],
            "webhooks": hook["id"], "tokens": api_token["id"], "admin_token": admin_token["token"],
            "api_token": api_token["token"],
            "holidays": 2027}  # a year: official holiday schedules are the country's, not a tenant's


@pytest.fixture
async def tenants(client, admin_headers) -> tuple[dict, dict]:
    return (await _make_tenant(client, admin_headers, "甲公司", "repa"),
            await _make_tenant(client, admin_headers, "乙公司", "repb"))


async def test_the_enumeration_finds_the_api(client) -> None:
    routes = guarded_routes(client.app)
    assert len(routes) > 40
    assert {("POST", "/api/leads"), ("GET", "/api/leads/{id}/deliveries"), ("PATCH", "/admin/apps/{id}")} <= set(routes)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Bearer wrong-token"},
                                     {"Authorization": "Basic dGVzdDp0ZXN0"}, {"Authorization": "bearer  "}],
                         ids=["none", "empty", "unknown", "basic", "blank"])
async def test_every_route_refuses_without_a_valid_token(headers, client, tenants, services) -> None:
    a, _ = tenants
    before = await state(services)
    answers = {}
    for method, path in guarded_routes(client.app):
        r = await client.request(method, concrete(path, a), json={}, headers=headers)
        answers[(method, path)] = (r.status, (await r.json()).get("error") if r.content_type.endswith("json") else "")
    assert {k: v for k, v in answers.items() if v != (401, "unauthorized")} == {}
    await assert_unchanged(services, before)


async def test_a_revoked_token_is_refused_everywhere(client, tenants, admin_headers, services) -> None:
    a, _ = tenants
    r = await client.post(f"/admin/tokens/{a['tokens']}/revoke", headers=admin_headers)
    assert r.status == 200
    before = await state(services)
    for method, path in guarded_routes(client.app):
        r = await client.request(method, concrete(path, a), json={},
                                 headers={"Authorization": f"Bearer {a['api_token']}"})
        assert r.status == 401, (method, path)
    await assert_unchanged(services, before)


async def test_a_lead_api_token_is_refused_on_every_admin_route(client, tenants, services) -> None:
    a, _ = tenants
    before = await state(services)
    for method, path in guarded_routes(client.app):
        if not path.startswith("/admin/"):
            continue
        r = await client.request(method, concrete(path, a), json={},
                                 headers={"Authorization": f"Bearer {a['api_token']}"})
        assert (r.status, (await r.json())["error"]) == (403, "forbidden"), (method, path)
    await assert_unchanged(services, before)


def valid_body(method: str, path: str, tenant_id: int) -> dict:
    """A body that passes validation, so what refuses is the tenant check and not a missing field."""
    bodies = {
        ("POST", "/admin/apps"): {"platform": "wecom", "name": "hijack", "credentials": {
            "corp_id": "wwhijack", "agent_id": 1000009, "secret": "s" * 20, "token": "tok3nHijack",
            "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}},
        ("POST", "/admin/users"): {"name": "hijack"},
        ("POST", "/api/leads"): {"company": "hijack", "external_id": "hijack"},
        ("POST", "/admin/webhooks"): {"url": "http://127.0.0.1:9/x", "event_types": ["*"]},
        ("POST", "/admin/tenants"): {"name": "hijack"},
    }
    body = bodies.get((method, path), {"name": "hijack"})
    return {**body, "tenant_id": tenant_id} if (method, path) != ("POST", "/admin/tenants") else body


@pytest.mark.parametrize("scope", ["admin_token", "api_token"])
async def test_one_tenants_token_never_reads_or_changes_anothers_objects(scope: str, client, tenants,
                                                                         services) -> None:
    a, b = tenants
    theirs = {"Authorization": f"Bearer {b[scope]}"}
    before = await state(services)
    leaks = {}
    for method, path in guarded_routes(client.app):
        url = concrete(path, a)
        r = await client.request(method, url, json=valid_body(method, path, a["tenants"]),
                                 params={"tenant_id": str(a["tenants"])}, headers=theirs)
        text = await r.text()
        if "{" in path:
            # Another tenant's object answers exactly as a missing one (or, for the operator's own routes, 403).
            ok = r.status in (404, 403) or (scope == "api_token" and path.startswith("/admin/") and r.status == 403)
        else:
            # A collection: refused for tenant A, or answered with B's own data only.
            ok = r.status in (403, 404) or (r.status < 300 and "甲公司" not in text and "repa" not in text)
        if not ok:
            leaks[(method, path)] = (r.status, text[:200])
    assert leaks == {}
    await assert_unchanged(services, before)
