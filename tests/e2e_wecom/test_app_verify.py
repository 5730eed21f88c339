"""App verification for both platforms: the admin route and the CLI ask the platform (its simulator) for a token."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator

import pytest

from bot.runtime.config import Settings
from storage.models import App, Tenant
from tests.conftest import MASTER_KEY
from tests.e2e_wecom.support import AGENT_ID, SECRET, register_wecom_app
from tests.sim.dingtalk import DingTalkSimulator
from tests.sim.wecom import WeComSimulator

DT_KEY, DT_SECRET = "dingverifykey01", "dingtalk-verify-secret-0123"


@pytest.fixture
async def wecom_sim() -> AsyncIterator[WeComSimulator]:
    async with WeComSimulator() as sim:
        sim.add_app(AGENT_ID, SECRET, {"rep1"})
        yield sim


@pytest.fixture
async def dingtalk_sim() -> AsyncIterator[DingTalkSimulator]:
    async with DingTalkSimulator() as sim:
        sim.add_app(DT_KEY, DT_SECRET)
        yield sim


async def _tenant(name: str = "验证") -> int:
    return (await Tenant.create(name=name)).id


async def _dingtalk_app(client, headers, tenant_id: int, base_url: str, secret: str) -> int:
    r = await client.post("/admin/apps", headers=headers, json={
        "tenant_id": tenant_id, "platform": "dingtalk", "name": "钉钉", "api_base": base_url,
        "credentials": {"app_key": DT_KEY, "app_secret": secret, "card_template_id": "tpl.verify"}})
    assert r.status == 201
    return (await r.json())["id"]


async def _verify(client, headers, app_id: int) -> tuple[int, dict]:
    r = await client.post(f"/admin/apps/{app_id}/verify", headers=headers)
    return r.status, await r.json()


async def test_a_wecom_app_with_good_credentials_is_verified(client, admin_headers, services, wecom_sim) -> None:
    app_id = await register_wecom_app(services, await _tenant(), corp_id=wecom_sim.corp_id, api_base=wecom_sim.url)
    status, body = await _verify(client, admin_headers, app_id)
    assert (status, body["ok"]) == (200, True)
    assert wecom_sim.gettoken_calls[AGENT_ID] == 1
    shown = await (await client.get(f"/admin/apps/{app_id}", headers=admin_headers)).json()
    assert shown["verified_at"] is not None


async def test_a_wrong_wecom_secret_gives_ok_false_with_the_errcode(client, admin_headers, services,
                                                                   wecom_sim) -> None:
    app_id = await register_wecom_app(services, await _tenant(), corp_id=wecom_sim.corp_id, api_base=wecom_sim.url)
    assert (await _verify(client, admin_headers, app_id))[1]["ok"] is True
    r = await client.patch(f"/admin/apps/{app_id}", headers=admin_headers,
                           json={"credentials": {"secret": "a-secret-reset-since"}})
    assert r.status == 200
    status, body = await _verify(client, admin_headers, app_id)
    assert (status, body["ok"]) == (200, False)
    assert "errcode 40001" in body["detail"] and "a-secret-reset-since" not in body["detail"]
    assert (await App.get(id=app_id)).verified_at is None  # what was verified no longer works


async def test_a_wrong_corp_id_names_its_errcode(client, admin_headers, services, wecom_sim) -> None:
    app_id = await register_wecom_app(services, await _tenant(), corp_id="wwnotthiscorp01", api_base=wecom_sim.url)
    body = (await _verify(client, admin_headers, app_id))[1]
    assert body["ok"] is False and "errcode 40013" in body["detail"]


async def test_an_unreachable_platform_is_not_a_verdict_on_the_credentials(client, admin_headers, services,
                                                                          wecom_sim) -> None:
    app_id = await register_wecom_app(services, await _tenant(), corp_id=wecom_sim.corp_id, api_base=wecom_sim.url)
    assert (await _verify(client, admin_headers, app_id))[1]["ok"] is True
    verified_at = (await App.get(id=app_id)).verified_at
    wecom_sim.inject("gettoken", status=502)
    body = (await _verify(client, admin_headers, app_id))[1]
    assert body["ok"] is False and "could not be reached" in body["detail"]
    assert (await App.get(id=app_id)).verified_at == verified_at


async def test_a_dingtalk_app_is_verified_and_a_wrong_secret_named(client, admin_headers, dingtalk_sim) -> None:
    tenant_id = await _tenant()
    good = await _dingtalk_app(client, admin_headers, tenant_id, dingtalk_sim.base_url, DT_SECRET)
    # an HTTP-mode app also gets its card callback URL registered with DingTalk
    status, body = await _verify(client, admin_headers, good)
    assert (status, body["ok"], body["state"]) == (200, True, "verified")
    assert body["detail"].startswith("every check passed")
    assert {"name": "card_callback", "status": "ok", "next_step": None,
            "detail": f"card callbacks registered at https://leadbot.test/dingtalk/{good}/card"} in body["checks"]
    r = await client.patch(f"/admin/apps/{good}", headers=admin_headers, json={"credentials": {"app_secret": "x" * 20}})
    assert r.status == 200
    status, body = await _verify(client, admin_headers, good)
    assert (status, body["ok"]) == (200, False) and "invalidClientIdOrSecret" in body["detail"]


async def test_another_tenants_app_cannot_be_verified(client, admin_headers, services, wecom_sim) -> None:
    app_id = await register_wecom_app(services, await _tenant("甲"), corp_id=wecom_sim.corp_id,
                                      api_base=wecom_sim.url)
    other = await _tenant("乙")
    r = await client.post(f"/admin/tenants/{other}/tokens", headers=admin_headers,
                          json={"name": "乙 admin", "scope": "admin"})
    other_headers = {"Authorization": f"Bearer {(await r.json())['token']}"}
    assert (await _verify(client, other_headers, app_id))[0] == 404
    assert (await _verify(client, admin_headers, 999))[0] == 404
    r = await client.post(f"/admin/apps/{app_id}/verify")
    assert r.status == 401
    assert wecom_sim.gettoken_calls[AGENT_ID] == 0


async def _leadbot(settings: Settings, *args: str) -> tuple[int, str, str]:
    """The CLI in its own process, on this test's database and Redis; the simulator keeps answering meanwhile."""
    env = {**os.environ, "LEADBOT_DATA_DIR": str(settings.data_dir), "LEADBOT_MASTER_KEY": MASTER_KEY,
           "LEADBOT_REDIS_URL": settings.redis_url or "", "LEADBOT_DATABASE_URL": settings.database_url or "",
           "LEADBOT_ALLOW_PRIVATE_URLS": "true"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_the_cli_verifies_and_exits_1_on_a_refusal(services, wecom_sim) -> None:
    tenant_id = await _tenant()
    good = await register_wecom_app(services, tenant_id, corp_id=wecom_sim.corp_id, api_base=wecom_sim.url)
    bad = await register_wecom_app(services, tenant_id, corp_id=wecom_sim.corp_id, api_base=wecom_sim.url,
                                   agent_id=AGENT_ID + 1, secret="not-the-secret-0")
    code, out, err = await _leadbot(services.settings, "apps", "verify", str(good))
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    code, out, err = await _leadbot(services.settings, "apps", "verify", str(bad))
    assert code == 1
    assert json.loads(out)["ok"] is False and "errcode 40001" in json.loads(out)["detail"]
    assert "not-the-secret-0" not in out + err
    assert (await App.get(id=good)).verified_at is not None and (await App.get(id=bad)).verified_at is None
