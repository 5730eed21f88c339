"""Registering a Feishu app through the admin API: the console checklist it answers with, and `verify` (token,
bot ability, resource permission, how Feishu reaches us) against the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.feishu.conftest import APP_ID, APP_SECRET, ENCRYPT_KEY, VERIFICATION_TOKEN
from tests.parity.support import create_tenant
from tests.sim.feishu import FeishuSimulator


@pytest.fixture
async def feishu() -> AsyncIterator[FeishuSimulator]:
    async with FeishuSimulator() as s:
        s.add_app(APP_ID, APP_SECRET)
        yield s


async def _register(client, admin_headers, api_base: str, *, tenant_name: str = "Acme 销售部", **creds) -> dict:
    tenant = await create_tenant(client, admin_headers, tenant_name)
    body = {"tenant_id": tenant, "name": "飞书销售", "platform": "feishu", "api_base": api_base,
            "credentials": {"app_id": APP_ID, "app_secret": APP_SECRET, "verification_token": VERIFICATION_TOKEN,
                            **creds}}
    r = await client.post("/admin/apps", json=body, headers=admin_headers)
    assert r.status == 201, await r.text()
    return await r.json()


async def test_registration_answers_with_the_console_steps(client, admin_headers, feishu) -> None:
    out = await _register(client, admin_headers, feishu.base_url, encrypt_key=ENCRYPT_KEY)
    assert out["platform"] == "feishu" and set(out["secrets_set"]) == {"app_secret", "verification_token",
                                                                       "encrypt_key"}
    assert "app_secret" not in out["public"] and out["public"]["app_id"] == APP_ID
    steps = " ".join(s["zh"] for s in out["checklist"])
    assert out["callback_urls"]["events"] in steps and out["callback_urls"]["card"] in steps
    assert "注意" not in steps  # an Encrypt Key is set: no warning about unsigned pushes

    plain = await _register(client, admin_headers, feishu.base_url, tenant_name="另一家", app_id="cli_another")
    assert plain["checklist"][0]["en"].startswith("Warning: without an Encrypt Key")


async def test_verify_checks_the_token_the_bot_and_how_feishu_reaches_us(client, admin_headers, feishu) -> None:
    app = await _register(client, admin_headers, feishu.base_url, encrypt_key=ENCRYPT_KEY)
    r = await client.post(f"/admin/apps/{app['id']}/verify", headers=admin_headers)
    assert r.status == 200, await r.text()
    checks = {c["name"]: c["status"] for c in (await r.json())["checks"]}
    assert checks == {"token": "ok", "bot": "ok", "resources": "ok", "last_callback": "warn", "events_url": "ok",
                      "card_url": "ok"}

    feishu.apps[APP_ID].bot_enabled = False
    r = await client.post(f"/admin/apps/{app['id']}/verify", headers=admin_headers)
    out = await r.json()
    assert not out["ok"] and {c["name"]: c["status"] for c in out["checks"]}["bot"] == "fail"


async def test_verify_with_a_wrong_secret_fails_at_the_token(client, admin_headers, feishu) -> None:
    feishu.apps[APP_ID].app_secret = "rotated"
    app = await _register(client, admin_headers, feishu.base_url)
    out = await (await client.post(f"/admin/apps/{app['id']}/verify", headers=admin_headers)).json()
    assert not out["ok"] and [c["name"] for c in out["checks"]] == ["token"]
    assert "10014" in out["detail"]


async def test_a_ws_app_without_a_holder_fails_the_connection_check(client, admin_headers, feishu) -> None:
    app = await _register(client, admin_headers, feishu.base_url, mode="ws")
    out = await (await client.post(f"/admin/apps/{app['id']}/verify", headers=admin_headers)).json()
    assert {c["name"]: c["status"] for c in out["checks"]}["long_connection"] == "fail"
