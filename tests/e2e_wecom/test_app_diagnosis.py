"""Issue 19: `verify` means "works", not "got a token". Each fault an admin meets on the simulators (an untrusted
IP, people outside the visible range, a disabled app, no callback yet; DingTalk's missing permissions, robot code,
IP allow-list) fails the right check with the right next step; the app records its state, `/readyz` and the metrics
show it; a later "not live" answer to a send flips a verified app to failing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from bot.errors import PlatformError
from storage.models import App, Tenant
from tests.e2e_wecom.support import AGENT_ID, SECRET, register_wecom_app
from tests.sim.dingtalk import DingTalkSimulator
from tests.sim.wecom import WeComSimulator
from tests.support.people import make_user

DT_KEY, DT_SECRET = "dingdiagkey01", "dingtalk-diag-secret-0123"


@pytest.fixture
async def wecom_sim() -> AsyncIterator[WeComSimulator]:
    async with WeComSimulator() as sim:
        sim.add_app(AGENT_ID, SECRET, {"rep1", "mgr1"})
        yield sim


async def _wecom_app(services, sim, *users: str) -> int:
    tenant = await Tenant.create(name="诊断")
    for uid in users:
        await make_user(tenant=tenant, name=uid, wecom_userid=uid)
    return await register_wecom_app(services, tenant.id, corp_id=sim.corp_id, api_base=sim.url)


async def _verify(client, headers, app_id: int) -> dict:
    r = await client.post(f"/admin/apps/{app_id}/verify", headers=headers)
    assert r.status == 200
    return await r.json()


def _check(body: dict, name: str) -> dict:
    return next(c for c in body["checks"] if c["name"] == name)


async def test_an_app_that_works_passes_every_check(client, admin_headers, services, wecom_sim) -> None:
    app_id = await _wecom_app(services, wecom_sim, "rep1", "mgr1")
    body = await _verify(client, admin_headers, app_id)
    assert body["ok"] is True and body["state"] == "verified"
    assert {c["name"]: c["status"] for c in body["checks"]} == {
        "token": "ok", "trusted_ip": "ok", "agent": "ok", "visible_range": "ok",
        "last_callback": "warn", "callback_url": "ok"}  # no callback yet: a warning, not a failure
    assert f"https://leadbot.test/wecom/{app_id}/callback" in _check(body, "callback_url")["detail"]
    assert "never" in _check(body, "last_callback")["detail"] or "no callback" in _check(body, "last_callback")["detail"]
    row = await App.get(id=app_id)
    assert row.verified_at is not None and row.state == "verified"


async def test_an_untrusted_ip_fails_with_the_address_wecom_saw(client, admin_headers, services, wecom_sim) -> None:
    """The issue's case: the token works, every other call answers 60020. ok must be false."""
    app_id = await _wecom_app(services, wecom_sim, "rep1")
    wecom_sim.untrusted_ip = "203.0.113.77"
    body = await _verify(client, admin_headers, app_id)
    assert body["ok"] is False and body["state"] == "failing"
    assert _check(body, "token")["status"] == "ok"
    ip = _check(body, "trusted_ip")
    assert ip["status"] == "fail" and "203.0.113.77" in ip["detail"] and "60020" in ip["detail"]
    assert "应用管理" in ip["next_step"]["zh"] and "企业可信IP" in ip["next_step"]["zh"]
    assert "203.0.113.77" in ip["next_step"]["en"]
    assert "more info" not in str(body) and "hint" not in str(body)  # only the address is quoted
    row = await App.get(id=app_id)
    assert row.verified_at is None and row.state == "failing" and "203.0.113.77" in row.state_reason


async def test_mapped_people_outside_the_visible_range_are_named(client, admin_headers, services, wecom_sim) -> None:
    wecom_sim.apps[AGENT_ID].allow_users = {"rep1"}
    wecom_sim.apps[AGENT_ID].allow_parties = {2}
    wecom_sim.add_department(1, "公司")
    wecom_sim.add_department(2, "华东", 1)
    wecom_sim.add_department(3, "杭州", 2)
    wecom_sim.add_person("hz1", "杭州一", [3])
    app_id = await _wecom_app(services, wecom_sim, "rep1", "hz1", "outsider1", "outsider2")
    body = await _verify(client, admin_headers, app_id)
    vis = _check(body, "visible_range")
    assert body["ok"] is False and vis["status"] == "fail"
    assert "outsider1" in vis["detail"] and "outsider2" in vis["detail"]
    assert "hz1" not in vis["detail"] and "rep1" not in vis["detail"]  # a sub-department of a visible one is in
    assert "可见范围" in vis["next_step"]["zh"]


async def test_a_disabled_app_fails_the_agent_check(client, admin_headers, services, wecom_sim) -> None:
    wecom_sim.apps[AGENT_ID].close = 1
    body = await _verify(client, admin_headers, await _wecom_app(services, wecom_sim))
    assert body["ok"] is False and _check(body, "agent")["status"] == "fail"
    assert "启用" in _check(body, "agent")["next_step"]["zh"]


async def test_a_wrong_secret_fails_the_token_check_with_its_step(client, admin_headers, services,
                                                                 wecom_sim) -> None:
    tenant = await Tenant.create(name="错")
    app_id = await register_wecom_app(services, tenant.id, corp_id=wecom_sim.corp_id, api_base=wecom_sim.url,
                                      secret="not-the-secret-0")
    body = await _verify(client, admin_headers, app_id)
    (token,) = body["checks"]
    assert token["status"] == "fail" and "40001" in token["detail"] and "Secret" in token["next_step"]["en"]
    assert (await App.get(id=app_id)).state == "failing"


async def test_a_callback_is_reported_with_its_time(client, admin_headers, services, wecom_sim) -> None:
    from datetime import UTC, datetime

    app_id = await _wecom_app(services, wecom_sim, "rep1")
    await App.filter(id=app_id).update(last_callback_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    body = await _verify(client, admin_headers, app_id)
    assert _check(body, "last_callback") == {"name": "last_callback", "status": "ok",
                                             "detail": "last callback at 2026-12-01T09:30:00+00:00",
                                             "next_step": None}


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_later_60020_flips_a_verified_app_to_failing(client, admin_headers, services, wecom_sim) -> None:
    app_id = await _wecom_app(services, wecom_sim, "rep1")
    assert (await _verify(client, admin_headers, app_id))["ok"] is True
    before = _metric("leadbot_platform_errors_total", platform="wecom", errcode="60020")
    wecom_sim.untrusted_ip = "198.51.100.9"
    adapter = await services.adapter(app_id)
    with pytest.raises(PlatformError):
        await adapter.send_text("rep1", "你好")
    row = await App.get(id=app_id)
    assert row.state == "failing" and row.verified_at is None
    assert "60020" in row.state_reason and "198.51.100.9" in row.state_reason
    assert _metric("leadbot_platform_errors_total", platform="wecom", errcode="60020") == before + 1
    ready = await (await client.get("/readyz")).json()
    (shown,) = [a for a in ready["apps"] if a["id"] == app_id]
    assert shown["state"] == "failing" and "60020" in shown["state_reason"]
    await client.get("/metrics")
    assert _metric("leadbot_app_state", app=str(app_id), platform="wecom", state="failing") == 1
    assert _metric("leadbot_app_state", app=str(app_id), platform="wecom", state="verified") == 0


async def test_a_recipient_error_that_is_not_about_the_app_changes_nothing(client, admin_headers, services,
                                                                          wecom_sim) -> None:
    app_id = await _wecom_app(services, wecom_sim, "rep1")
    assert (await _verify(client, admin_headers, app_id))["ok"] is True
    with pytest.raises(PlatformError):
        await (await services.adapter(app_id)).send_text("nobody-here", "你好")  # 81013: that person, not the app
    assert (await App.get(id=app_id)).state == "verified"


async def test_registration_carries_the_callback_url_and_an_ordered_checklist(client, admin_headers,
                                                                             wecom_sim) -> None:
    tenant = await Tenant.create(name="注册")
    r = await client.post("/admin/apps", headers=admin_headers, json={
        "tenant_id": tenant.id, "platform": "wecom", "name": "销售助手", "api_base": wecom_sim.url,
        "credentials": {"corp_id": wecom_sim.corp_id, "agent_id": AGENT_ID, "secret": SECRET, "token": "tok123",
                        "encoding_aes_key": "a" * 43}})
    body = await r.json()
    assert r.status == 201 and body["state"] == "unverified"
    url = body["callback_urls"]["callback"]
    steps = [s["en"] for s in body["checklist"]]
    assert url in steps[0] and "EncodingAESKey" in steps[0]
    assert [i for i, s in enumerate(steps) if "企业可信IP" in s][0] > 0  # the trusted IP after the URL is saved
    assert any("ICP" in s for s in steps) and any("可见范围" in s for s in steps)
    shown = await (await client.get(f"/admin/apps/{body['id']}", headers=admin_headers)).json()
    assert shown["checklist"] is None  # only the registration answer carries it


# -- DingTalk ---------------------------------------------------------------------------------------------------


@pytest.fixture
async def dt_sim() -> AsyncIterator[DingTalkSimulator]:
    async with DingTalkSimulator() as sim:
        sim.add_app(DT_KEY, DT_SECRET, users=("staff1",))
        yield sim


async def _dt_app(client, headers, sim, **creds) -> int:
    tenant = await Tenant.create(name="钉钉诊断")
    r = await client.post("/admin/apps", headers=headers, json={
        "tenant_id": tenant.id, "platform": "dingtalk", "name": "钉钉", "api_base": sim.base_url,
        "credentials": {"app_key": DT_KEY, "app_secret": DT_SECRET, "card_template_id": "tpl.1", **creds}})
    assert r.status == 201
    body = await r.json()
    assert any("权限管理" in s["zh"] for s in body["checklist"])
    return body["id"]


async def test_a_dingtalk_app_with_every_permission_is_verified(client, admin_headers, dt_sim) -> None:
    app_id = await _dt_app(client, admin_headers, dt_sim)
    body = await _verify(client, admin_headers, app_id)
    assert body["ok"] is True, body
    statuses = {c["name"]: c["status"] for c in body["checks"]}
    assert statuses["card_api"] == statuses["robot"] == statuses["card_callback"] == "ok"
    assert _check(body, "card_callback")["detail"] == f"card callbacks registered at https://leadbot.test/dingtalk/{app_id}/card"


async def test_each_missing_dingtalk_permission_is_named(client, admin_headers, dt_sim) -> None:
    dt_sim.apps[DT_KEY].denied_scopes = {"Card.Instance.Write", "qyapi_get_member"}
    app_id = await _dt_app(client, admin_headers, dt_sim)
    body = await _verify(client, admin_headers, app_id)
    card = _check(body, "card_api")
    assert body["ok"] is False and card["status"] == "fail" and "Card.Instance.Write" in card["detail"]
    assert "Card.Instance.Write" in card["next_step"]["zh"] and "权限管理" in card["next_step"]["zh"]
    members = _check(body, "members")  # directory permissions matter to sync only: a warning
    assert members["status"] == "warn" and "qyapi_get_member" in members["detail"]
    assert _check(body, "directory")["status"] == "ok"
    assert (await App.get(id=app_id)).state == "failing"


async def test_a_wrong_robot_code_and_a_missing_template_fail(client, admin_headers, dt_sim) -> None:
    app_id = await _dt_app(client, admin_headers, dt_sim, robot_code="notourrobot", card_template_id=None)
    body = await _verify(client, admin_headers, app_id)
    assert _check(body, "robot")["status"] == "fail" and "robot code" in _check(body, "robot")["detail"]
    assert _check(body, "card_template")["status"] == "fail"


async def test_a_dingtalk_ip_refusal_names_the_address(client, admin_headers, dt_sim) -> None:
    dt_sim.untrusted_ip = "192.0.2.44"
    body = await _verify(client, admin_headers, await _dt_app(client, admin_headers, dt_sim))
    ips = [c for c in body["checks"] if c["name"] == "ip_allowlist"]
    assert body["ok"] is False and ips and "192.0.2.44" in ips[0]["detail"]
    assert "服务器出口IP" in ips[0]["next_step"]["zh"]


async def test_a_stream_app_without_a_connection_fails_the_stream_check(client, admin_headers, dt_sim) -> None:
    body = await _verify(client, admin_headers, await _dt_app(client, admin_headers, dt_sim, mode="stream"))
    assert _check(body, "stream")["status"] == "fail" and body["ok"] is False
    assert _check(body, "card_callback")["status"] == "ok"
