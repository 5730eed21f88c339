"""Issue 18, tenants fenced: a deactivated tenant's tokens stop working everywhere, one tenant's app registration
neither shows nor blocks another's, and a WeCom callback far outside the timestamp window is a replay."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client import REGISTRY

from storage.models import App, Tenant
from tests.e2e_wecom.support import AES_KEY, AGENT_ID, CALLBACK_TOKEN, SECRET, register_wecom_app
from tests.hostile.support import assert_serving, assert_unchanged, state
from tests.security.test_every_route_is_guarded import _make_tenant, concrete, guarded_routes, valid_body
from tests.sim.wecom import CallbackSender, WeComSimulator

TEXT = ("<xml><ToUserName>c</ToUserName><FromUserName>rep1</FromUserName><CreateTime>1700000000</CreateTime>"
        "<MsgType>text</MsgType><Content>hi</Content><MsgId>{}</MsgId><AgentID>1000002</AgentID></xml>")


# -- a deactivated tenant ----------------------------------------------------------------------------------------


async def test_a_deactivated_tenants_tokens_stop_working_everywhere(client, admin_headers, services) -> None:
    mine = await _make_tenant(client, admin_headers, "停用公司", "repoff")
    r = await client.patch(f"/admin/tenants/{mine['tenants']}", headers=admin_headers, json={"active": False})
    assert r.status == 200 and (await r.json())["active"] is False
    before = await state(services)
    answers = {}
    for scope in ("admin_token", "api_token"):
        for method, path in guarded_routes(client.app):
            r = await client.request(method, concrete(path, mine), json=valid_body(method, path, mine["tenants"]),
                                     headers={"Authorization": f"Bearer {mine[scope]}"})
            answers[(scope, method, path)] = (r.status, (await r.json())["error"])
    assert {k: v for k, v in answers.items() if v != (403, "tenant_inactive")} == {}
    await assert_unchanged(services, before)  # it minted no token, edited no app, took no lead
    # The operator brings it back, and its tokens work again.
    await client.patch(f"/admin/tenants/{mine['tenants']}", headers=admin_headers, json={"active": True})
    r = await client.get("/admin/apps", headers={"Authorization": f"Bearer {mine['admin_token']}"})
    assert r.status == 200 and [a["id"] for a in await r.json()] == [mine["apps"]]


async def test_a_deactivated_tenants_apps_take_no_callbacks(client, admin_headers, services) -> None:
    async with WeComSimulator() as sim, aiohttp.ClientSession() as session:
        tenant = await Tenant.create(name="停用")
        app_id = await register_wecom_app(services, tenant.id, corp_id=sim.corp_id, api_base=sim.url)
        sender = CallbackSender(session, token=CALLBACK_TOKEN, encoding_aes_key=AES_KEY, corp_id=sim.corp_id,
                                agent_id=AGENT_ID, simulator=sim)
        path = f"/wecom/{app_id}/callback"
        assert (await sender.deliver(str(client.make_url(path)), TEXT.format(1).encode())).statuses == [200]
        await client.patch(f"/admin/tenants/{tenant.id}", headers=admin_headers, json={"active": False})
        services.apps.forget(app_id)
        before = await state(services)
        params, body = sender.signed(TEXT.format(2).encode())
        r = await client.post(path, params=params, data=body)
        assert (r.status, (await r.json())["error"]) == (403, "disabled_app")
        await assert_unchanged(services, before)


# -- registering the same app in two tenants ---------------------------------------------------------------------


def _wecom(tenant_id: int, secret: str = SECRET) -> dict:
    return {"tenant_id": tenant_id, "platform": "wecom", "name": "销售助手", "credentials": {
        "corp_id": "wwsharedcorp01", "agent_id": 1000002, "secret": secret, "token": "tok3nShared",
        "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}}


async def test_registering_an_app_another_tenant_has_reveals_nothing_and_blocks_nothing(client,
                                                                                     admin_headers) -> None:
    first = await _make_tenant(client, admin_headers, "先到公司", "repfirst")
    second = await _make_tenant(client, admin_headers, "后到公司", "repsecond")
    # The first tenant (a squatter, say) registers the corp first; the real owner registers it all the same.
    squatter = {"Authorization": f"Bearer {first['admin_token']}"}
    owner = {"Authorization": f"Bearer {second['admin_token']}"}
    r = await client.post("/admin/apps", headers=squatter, json={**_wecom(first["tenants"], "not-the-secret")})
    assert r.status == 201
    r = await client.post("/admin/apps", headers=owner, json=_wecom(second["tenants"]))
    body = await r.json()
    assert r.status == 201 and body["tenant_id"] == second["tenants"], body
    assert "先到公司" not in await r.text()
    # A tenant's own second registration of it is the one duplicate there is.
    r = await client.post("/admin/apps", headers=owner, json=_wecom(second["tenants"]))
    assert (r.status, (await r.json())["error"]) == (409, "conflict")
    # Moving another app onto a corp another tenant registered is no conflict either.
    r = await client.patch(f"/admin/apps/{first['apps']}", headers=squatter, json={"credentials": {
        "corp_id": "wwsharedcorp01", "agent_id": 1000009}})
    assert r.status == 200
    r = await client.patch(f"/admin/apps/{second['apps']}", headers=owner, json={"credentials": {
        "corp_id": "wwsharedcorp01", "agent_id": 1000009}})
    assert r.status == 200
    shared = await App.filter(identity__contains=":wecom:wwsharedcorp01:").values_list("tenant_id", flat=True)
    assert sorted(shared) == sorted([first["tenants"]] * 2 + [second["tenants"]] * 2)


# -- WeCom callback timestamps -------------------------------------------------------------------------------------


def _metric(outcome: str) -> float:
    return REGISTRY.get_sample_value("leadbot_callbacks_total", {"platform": "wecom", "outcome": outcome}) or 0.0


@pytest.mark.parametrize("offset_s", [None, -3660, 3660, -30 * 86400])
async def test_a_wecom_callback_far_from_now_is_refused_as_a_replay(offset_s, client, services) -> None:
    async with WeComSimulator() as sim, aiohttp.ClientSession() as session:
        tenant = await Tenant.create(name="时间窗")
        app_id = await register_wecom_app(services, tenant.id, corp_id=sim.corp_id, api_base=sim.url)
        sender = CallbackSender(session, token=CALLBACK_TOKEN, encoding_aes_key=AES_KEY, corp_id=sim.corp_id,
                                agent_id=AGENT_ID, simulator=sim)
        path = f"/wecom/{app_id}/callback"
        xml = TEXT.format(9).encode()
        encrypt = sender.encrypt(xml)
        timestamp = "1" if offset_s is None else str(int(sender._signed_at()) + offset_s)
        params = {"msg_signature": sender.sign(timestamp, "42", encrypt), "timestamp": timestamp, "nonce": "42"}
        body = f"<xml><ToUserName>{sim.corp_id}</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        refused = _metric("stale_timestamp")
        before = await state(services)
        r = await client.post(path, params=params, data=body.encode())
        assert (r.status, (await r.json())["error"]) == (403, "stale_timestamp")
        assert _metric("stale_timestamp") == refused + 1
        await assert_unchanged(services, before)
        # The same message, signed now, is taken: the window, not the message, was the problem.
        assert (await sender.deliver(str(client.make_url(path)), xml)).statuses == [200]
        await assert_serving(client)
