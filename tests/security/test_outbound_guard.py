"""Issue 18, outbound calls: a tenant admin must not make the service call its own network.

Each attack is the one the review tried: an app's `api_base` (or the SMS endpoint) spelled as a loopback address in
a form the URL parser does not see as one (`0x7f000001`, `0x7f.1`, decimal, octal, IPv4-mapped IPv6), a name that
resolves to loopback, a platform answering with a redirect to an internal service, a Stream app whose gateway is
a neighbour. Each is refused with one clear message, nothing reaches the neighbour (a real server listening on
127.0.0.1 counts what it receives), an open port and a closed one look the same, and nothing of an internal answer
comes back to the caller.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.admin.apps import register_app
from bot.admin.schemas import AppIn
from bot.alerting.notify.base import Alert, Recipient
from bot.alerting.notify.sms_aliyun import AliyunSms
from bot.platforms.dingtalk.config import DingTalkCredentials
from bot.platforms.dingtalk.stream import StreamRunner
from bot.runtime.config import Settings
from bot.runtime.outbound import REDIRECT_REFUSED, REFUSED_TARGET, guarded_session, open_websocket, refusal
from bot.runtime.urlguard import RefusedAddress
from storage.models import App, Tenant
from tests.hostile.support import assert_serving
from tests.notify.smtp_server import free_port

INTERNAL_ANSWER = '{"errcode": 0, "access_token": "internal-db-password-Zx81", "expires_in": 7200}'


class Neighbour:
    """A service on this machine's loopback that must never hear from leadbot: it counts every request."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.redirect_to: str | None = None
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def _any(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path_qs}")
        if self.redirect_to:
            raise web.HTTPFound(self.redirect_to + request.path_qs)
        return web.Response(text=INTERNAL_ANSWER, content_type="application/json")

    async def start(self) -> Neighbour:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._any)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def neighbour() -> AsyncIterator[Neighbour]:
    n = await Neighbour().start()
    yield n
    await n.stop()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_urls": False})


def loopback_spellings(port: int) -> dict[str, str]:
    return {
        "hex": f"http://0x7f000001:{port}",
        "dotted hex": f"http://0x7f.1:{port}",
        "decimal": f"http://2130706433:{port}",
        "octal": f"http://0177.0.0.1:{port}",
        "short": f"http://127.1:{port}",
        "ipv4-mapped": f"http://[::ffff:127.0.0.1]:{port}",
        "ipv4-mapped hex": f"http://[::ffff:7f00:1]:{port}",
        "nat64": f"http://[64:ff9b::7f00:1]:{port}",
        "plain": f"http://127.0.0.1:{port}",
    }


SPELLINGS = list(loopback_spellings(1))


def private_name() -> str:
    """This machine's name when it resolves only to loopback or private addresses (as it does in a container)."""
    import ipaddress

    name = socket.gethostname()
    try:
        addresses = {i[4][0] for i in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    except socket.gaierror:
        pytest.skip("this machine's name does not resolve")
    if not all(ipaddress.ip_address(a).is_private for a in addresses):
        pytest.skip(f"{name} resolves to public addresses {addresses}")
    return name


async def plant_app(services, api_base: str, *, secret: str = "planted-corp-secret-01", platform: str = "wecom",
                    **creds) -> int:
    """An app whose api_base got into the database past today's input check (registered while the operator
    allowed private URLs, or a name that resolved elsewhere then): the client must refuse it by itself."""
    tenant = await Tenant.get_or_none(name="攻击者") or await Tenant.create(name="攻击者")
    credentials = ({"corp_id": "wwattacker01", "agent_id": 1000002 + await App.all().count(), "secret": secret,
                    "token": "tok3nAttack", "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}
                   if platform == "wecom" else {"app_key": f"dingattack{await App.all().count()}",
                                                "app_secret": secret})
    data = AppIn.model_validate({"platform": platform, "name": "x", "api_base": api_base,
                                 "credentials": {**credentials, **creds}}).root
    lenient = services.settings.model_copy(update={"allow_private_urls": True})
    return (await register_app(services.box, lenient, tenant.id, data)).id


async def verify(client, headers, app_id: int) -> dict:
    """The verdict and its words; the per-check answers may say no more than those words (issue 19)."""
    r = await client.post(f"/admin/apps/{app_id}/verify", headers=headers)
    assert r.status == 200, await r.text()
    body = await r.json()
    if not body["ok"]:
        assert all(c["detail"] == body["detail"] for c in body["checks"] if c["status"] != "ok"), body
    return {"ok": body["ok"], "detail": body["detail"]}


# -- registering -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_an_api_base_on_loopback_in_any_spelling_is_refused_on_save(spelling, client, admin_headers,
                                                                        neighbour) -> None:
    r = await client.post("/admin/tenants", json={"name": "甲"}, headers=admin_headers)
    tid = (await r.json())["id"]
    api_base = loopback_spellings(neighbour.port)[spelling]
    r = await client.post("/admin/apps", headers=admin_headers, json={
        "tenant_id": tid, "platform": "wecom", "name": "x", "api_base": api_base, "credentials": {
            "corp_id": "wwspell", "agent_id": 1000002, "secret": "s" * 20, "token": "tok3nX",
            "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}})
    body = await r.json()
    assert (r.status, body["error"], body["field"]) == (400, "invalid", "api_base"), body
    assert await App.all().count() == 0 and neighbour.requests == []
    r = await client.patch(f"/admin/tenants/{tid}/settings", headers=admin_headers, json={"notify": {"sms": {
        "provider": "aliyun", "access_key_id": "LTAIspell", "access_key_secret": "sms-secret-spell",
        "sign_name": "领客", "template_code": "SMS_1", "api_base": api_base}}})
    assert (r.status, (await r.json())["field"]) == (400, "notify.sms.api_base")
    assert (await Tenant.get(id=tid)).settings == {}


# -- verify: the client itself refuses, whatever got into the database ----------------------------------------------


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_verify_never_calls_a_loopback_api_base_and_says_the_same_for_open_and_closed_ports(
    spelling, client, admin_headers, services, neighbour,
) -> None:
    open_port = await plant_app(services, loopback_spellings(neighbour.port)[spelling])
    closed_port = await plant_app(services, loopback_spellings(free_port())[spelling])
    answers = [await verify(client, admin_headers, app_id) for app_id in (open_port, closed_port)]
    assert neighbour.requests == []
    assert answers[0] == answers[1] == {"ok": False, "detail": f"wecom was not called: {REFUSED_TARGET}"}
    await assert_serving(client)


async def test_verify_refuses_a_name_that_resolves_to_loopback(client, admin_headers, services, neighbour) -> None:
    app_id = await plant_app(services, f"http://{private_name()}:{neighbour.port}")
    assert await verify(client, admin_headers, app_id) == {"ok": False,
                                                           "detail": f"wecom was not called: {REFUSED_TARGET}"}
    assert neighbour.requests == []


class TestWithPrivateUrlsAllowed:
    """A private deployment (the operator allows private URLs): the redirect rule and the no-echo rule still hold."""

    @pytest.fixture
    def settings(self, settings: Settings) -> Settings:
        return settings.model_copy(update={"allow_private_urls": True})

    async def test_a_redirect_is_not_followed_and_the_internal_answer_not_echoed(
        self, client, admin_headers, services, neighbour,
    ) -> None:
        internal = await Neighbour().start()
        try:
            neighbour.redirect_to = f"http://127.0.0.1:{internal.port}"
            app_id = await plant_app(services, f"http://127.0.0.1:{neighbour.port}", secret="corp-secret-for-api")
            answer = await verify(client, admin_headers, app_id)
            assert answer == {"ok": False, "detail": f"wecom was not called: {REDIRECT_REFUSED}"}
            assert len(neighbour.requests) == 1 and internal.requests == []  # the secret went no further
        finally:
            await internal.stop()

    async def test_an_unreachable_platform_is_described_without_how_the_connection_failed(
        self, client, admin_headers, services,
    ) -> None:
        app_id = await plant_app(services, f"http://127.0.0.1:{free_port()}")
        detail = (await verify(client, admin_headers, app_id))["detail"]
        assert detail == "wecom could not be reached: no answer, a connection failure or a server error"

    async def test_an_error_answer_shows_its_code_never_its_text(self, client, admin_headers, services) -> None:
        async def gettoken(_request: web.Request) -> web.Response:
            return web.json_response({"errcode": 40001, "errmsg": "internal: redis password is hunter2"})

        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", gettoken)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            app_id = await plant_app(services, f"http://127.0.0.1:{runner.addresses[0][1]}")
            detail = (await verify(client, admin_headers, app_id))["detail"]
            assert detail == "wecom refused the credentials: errcode 40001"
        finally:
            await runner.cleanup()


# -- the client, used directly --------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", SPELLINGS)
async def test_the_guarded_client_refuses_every_spelling_before_connecting(spelling, neighbour) -> None:
    async with guarded_session(allow_private=False) as http:
        for port in (neighbour.port, free_port()):
            with pytest.raises(aiohttp.ClientConnectorError) as e:
                await http.get(loopback_spellings(port)[spelling] + "/x")
            assert isinstance(e.value.os_error, RefusedAddress) and refusal(e.value) == REFUSED_TARGET
    assert neighbour.requests == []


async def test_an_sms_provider_on_loopback_gets_nothing_and_the_delivery_says_refused(services, neighbour) -> None:
    sms = AliyunSms(access_key_id="LTAIx", access_key_secret="sms-secret-never-sent", sign_name="领客",
                    template_code="SMS_1", api_base=f"http://0x7f000001:{neighbour.port}/", session=services.http)
    result = await sms.send(Alert(id="a1", kind="lock", subject="s", text="t"), Recipient("王", phone="13800138000"))
    assert (result.ok, result.code, result.detail) == (False, "refused_target", REFUSED_TARGET)
    assert neighbour.requests == []


# -- DingTalk Stream: the gateway and the endpoint it hands back ------------------------------------------------------


async def test_a_stream_app_never_posts_its_secret_to_a_loopback_gateway(redis, neighbour, caplog) -> None:
    creds = DingTalkCredentials(app_key="dingstreamx", app_secret="stream-secret-never-sent", mode="stream")

    async def on_inbound(_inbound) -> None:  # pragma: no cover - nothing may arrive
        raise AssertionError("no frame can arrive from a refused gateway")

    for gateway in (f"http://0x7f000001:{neighbour.port}", f"http://127.0.0.1:{neighbour.port}"):
        runner = StreamRunner(1, creds, redis, on_inbound, gateway_base=gateway, backoff_base_s=0.05,
                              backoff_max_s=0.1, lease_ttl_s=5)
        task = asyncio.create_task(runner.run())
        await asyncio.sleep(0.6)  # several connect attempts, each refused
        await runner.stop()
        await asyncio.wait_for(task, 5)
    assert neighbour.requests == []
    assert "stream connect failed" in caplog.text


async def test_the_websocket_endpoint_a_gateway_hands_back_is_checked_too(neighbour) -> None:
    for url in (f"ws://127.0.0.1:{neighbour.port}/connect", f"ws://0x7f000001:{neighbour.port}/connect",
                f"wss://[::ffff:127.0.0.1]:{neighbour.port}/", f"ws://{private_name()}:{neighbour.port}/"):
        with pytest.raises(RefusedAddress):
            await open_websocket(url, allow_private=False)
    assert neighbour.requests == []
    with pytest.raises(Exception, match="scheme"):
        await open_websocket(f"http://127.0.0.1:{neighbour.port}/", allow_private=True)
