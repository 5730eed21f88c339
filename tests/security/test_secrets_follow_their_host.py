"""Issue 18, secrets follow their host: a stored secret is only ever sent to the host it was entered for.

A tenant admin who may change an app's `api_base` (or the SMS endpoint) but does not know the stored secret must not
be able to have the service send it elsewhere: moving the address takes the secret entered again. The scenario at
the end records every outbound request the service makes while a hostile admin tries, then searches each one for
each stored secret going anywhere it was not entered for.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
import pytest
from yarl import URL

from bot.platforms.registry import AdapterCache
from bot.runtime.outbound import guarded_session
from storage.models import App, Tenant
from tests.escalation.support import SECRET, World, attempts
from tests.escalation.test_delivery import breach
from tests.security.test_outbound_guard import Neighbour
from tests.sim.dingtalk import DingTalkSimulator
from tests.sim.wecom import WeComSimulator
from tests.support.alerting import ALIYUN_KEY_ID, ALIYUN_SECRET

DT_KEY, DT_SECRET = "dingfollowhost01", "dingtalk-secret-follows-host-77"
NEW_SECRET = "secret-entered-for-the-new-host-42"
NEW_SMS_SECRET = "sms-secret-entered-for-the-new-host"


@dataclass
class Outbound:
    """Every request the service's HTTP client starts: its host and everything it carries (URL, headers, body)."""

    requests: list[tuple[str, list[str]]] = field(default_factory=list)

    def trace(self) -> aiohttp.TraceConfig:
        async def start(_s: Any, ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
            ctx.parts = [str(params.url), *(f"{k}: {v}" for k, v in params.headers.items())]
            self.requests.append((URL(str(params.url)).authority, ctx.parts))

        async def chunk(_s: Any, ctx: Any, params: aiohttp.TraceRequestChunkSentParams) -> None:
            ctx.parts.append(params.chunk.decode("utf-8", "replace"))

        config = aiohttp.TraceConfig()
        config.on_request_start.append(start)
        config.on_request_chunk_sent.append(chunk)
        return config

    def to(self, host: str) -> list[str]:
        return ["\n".join(parts) for h, parts in self.requests if h == host]


def spellings(secret: str) -> set[str]:
    """The forms a secret could travel in: as is, URL-encoded, in base64, as a JSON string."""
    return {secret, quote(secret, safe=""), quote_plus(secret), base64.b64encode(secret.encode()).decode(),
            json.dumps(secret)[1:-1]}


def authority(url: str) -> str:
    return URL(url).authority


@pytest.fixture
async def outbound(services) -> AsyncIterator[Outbound]:
    recorder = Outbound()
    plain = services.http
    services.http = guarded_session(allow_private=services.settings.allow_private_urls, observers=[recorder.trace()])
    services.adapters = AdapterCache()
    try:
        yield recorder
    finally:
        await services.http.close()
        services.http = plain


@pytest.fixture
async def attacker() -> AsyncIterator[Neighbour]:
    n = await Neighbour().start()
    yield n
    await n.stop()


@pytest.fixture
async def dingtalk() -> AsyncIterator[DingTalkSimulator]:
    async with DingTalkSimulator() as sim:
        sim.add_app(DT_KEY, DT_SECRET)
        yield sim


async def tenant_admin(client, admin_headers, tenant_id: int) -> dict[str, str]:
    r = await client.post(f"/admin/tenants/{tenant_id}/tokens", headers=admin_headers,
                          json={"name": "their admin", "scope": "admin"})
    return {"Authorization": f"Bearer {(await r.json())['token']}"}


async def test_moving_an_app_to_another_host_needs_its_secret_again(world: World, wecom: WeComSimulator, client,
                                                                   admin_headers, attacker, services) -> None:
    h = await tenant_admin(client, admin_headers, world.tenant.id)
    before = await App.get(id=world.app_id)
    r = await client.patch(f"/admin/apps/{world.app_id}", headers=h,
                           json={"api_base": f"http://127.0.0.1:{attacker.port}", "name": "renamed"})
    body = await r.json()
    assert (r.status, body["field"]) == (400, "credentials.secret") and "entered again" in body["message"]
    after = await App.get(id=world.app_id)
    assert (after.api_base, after.name, after.secrets_sealed) == (before.api_base, before.name, before.secrets_sealed)
    # another credential alone is not enough either: the secret sent to the host is the one that must be entered
    r = await client.patch(f"/admin/apps/{world.app_id}", headers=h, json={
        "api_base": f"http://127.0.0.1:{attacker.port}", "credentials": {"token": "Tok3nNew"}})
    assert r.status == 400
    # the same address again is no move; a move with the secret entered for the new host is
    r = await client.patch(f"/admin/apps/{world.app_id}", headers=h, json={"api_base": wecom.url + "/"})
    assert r.status == 200
    r = await client.patch(f"/admin/apps/{world.app_id}", headers=h, json={
        "api_base": f"http://127.0.0.1:{attacker.port}", "credentials": {"secret": NEW_SECRET}})
    assert r.status == 200 and (await r.json())["api_base"] == f"http://127.0.0.1:{attacker.port}"
    assert attacker.requests == []


async def test_moving_the_sms_provider_to_another_endpoint_needs_its_secret_again(world: World, client,
                                                                                 admin_headers, attacker) -> None:
    h = await tenant_admin(client, admin_headers, world.tenant.id)
    before = (await Tenant.get(id=world.tenant.id)).settings
    sms = {"provider": "aliyun", "access_key_id": ALIYUN_KEY_ID, "sign_name": "领客",
           "template_code": "SMS_460010001", "api_base": f"http://127.0.0.1:{attacker.port}/"}
    r = await client.patch(f"/admin/tenants/{world.tenant.id}/settings", headers=h, json={"notify": {"sms": sms}})
    body = await r.json()
    assert (r.status, body["field"]) == (400, "notify.sms.access_key_secret")
    assert (await Tenant.get(id=world.tenant.id)).settings == before
    r = await client.patch(f"/admin/tenants/{world.tenant.id}/settings", headers=h,
                           json={"notify": {"sms": {**sms, "access_key_secret": NEW_SMS_SECRET}}})
    assert r.status == 200 and (await r.json())["notify"]["sms"]["secret_set"] is True


async def test_no_stored_secret_reaches_a_host_it_was_not_entered_for(
    world: World, wecom: WeComSimulator, aliyun, dingtalk: DingTalkSimulator, attacker, outbound: Outbound, client,
    admin_headers,
) -> None:
    """A hostile tenant admin tries every move; every request the service makes is searched afterwards."""
    sms_host = authority(str(aliyun[1].make_url("/")))
    entered_for = {SECRET: {authority(wecom.url)}, ALIYUN_SECRET: {sms_host}, DT_SECRET: {authority(dingtalk.base_url)},
                   NEW_SECRET: {f"127.0.0.1:{attacker.port}"}, NEW_SMS_SECRET: {f"127.0.0.1:{attacker.port}"}}
    h = await tenant_admin(client, admin_headers, world.tenant.id)
    elsewhere = f"http://127.0.0.1:{attacker.port}"
    r = await client.post("/admin/apps", headers=h, json={"platform": "dingtalk", "name": "钉钉",
                                                         "api_base": dingtalk.base_url,
                                                         "credentials": {"app_key": DT_KEY, "app_secret": DT_SECRET,
                                                                         "card_template_id": "tpl.sec"}})
    assert r.status == 201
    dt_app = (await r.json())["id"]
    # Honest traffic first: both apps verified, an alert down the chain to SMS.
    for app_id in (world.app_id, dt_app):
        assert (await (await client.post(f"/admin/apps/{app_id}/verify", headers=h)).json())["ok"] is True
    alert = await breach(world, lambda: wecom.inject("message/send", errcode=81013))
    assert [ch for ch, _, _ in await attempts(alert)][:2] == ["chat", "sms"]
    # The moves a hostile admin tries without the secrets: each refused, so nothing to send anywhere.
    for app_id in (world.app_id, dt_app):
        r = await client.patch(f"/admin/apps/{app_id}", headers=h, json={"api_base": elsewhere})
        assert r.status == 400
        await client.post(f"/admin/apps/{app_id}/verify", headers=h)
    r = await client.patch(f"/admin/tenants/{world.tenant.id}/settings", headers=h, json={"notify": {"sms": {
        "provider": "aliyun", "access_key_id": ALIYUN_KEY_ID, "sign_name": "领客", "template_code": "SMS_460010001",
        "api_base": elsewhere + "/"}}})
    assert r.status == 400
    await breach(world, lambda: wecom.inject("message/send", errcode=81013))
    # Moves with secrets entered for the new host are allowed: those secrets, and only those, may go there.
    r = await client.patch(f"/admin/apps/{world.app_id}", headers=h,
                           json={"api_base": elsewhere, "credentials": {"secret": NEW_SECRET}})
    assert r.status == 200
    await client.post(f"/admin/apps/{world.app_id}/verify", headers=h)
    r = await client.patch(f"/admin/tenants/{world.tenant.id}/settings", headers=h, json={"notify": {"sms": {
        "provider": "aliyun", "access_key_id": ALIYUN_KEY_ID, "access_key_secret": NEW_SMS_SECRET,
        "sign_name": "领客", "template_code": "SMS_460010001", "api_base": elsewhere + "/"}}})
    assert r.status == 200

    # -- the search ---------------------------------------------------------------------------------------------
    hosts = {h for h, _ in outbound.requests}
    assert {authority(wecom.url), sms_host, authority(dingtalk.base_url), f"127.0.0.1:{attacker.port}"} <= hosts
    # The search can find a secret where it belongs (the corp secret travels in gettoken's query string) ...
    assert any(SECRET in r for r in outbound.to(authority(wecom.url)))
    assert any(NEW_SECRET in r for r in outbound.to(f"127.0.0.1:{attacker.port}"))
    # ... and finds none anywhere else.
    leaks = [(name[:12], host) for name, allowed in entered_for.items() for host in hosts - allowed
             for request in outbound.to(host) if any(form in request for form in spellings(name))]
    assert leaks == []
