"""Every refusal of the callback route: its own status, one warning line naming the reason, a metrics sample, and no
effect (nothing remembered, nothing queued)."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from prometheus_client import REGISTRY

from bot.admin import apps as app_ops
from bot.admin.schemas import AppIn
from bot.runtime.services import Services
from storage.models import App, AppStatus
from tests.e2e_wecom.support import AES_KEY, CALLBACK_TOKEN, SECRET, World
from tests.sim.wecom import CallbackSender

TEXT = "<xml><ToUserName>c</ToUserName><FromUserName>rep1</FromUserName><CreateTime>1700000000</CreateTime>" \
       "<MsgType>text</MsgType><Content>客户说预算八十万</Content><MsgId>42</MsgId><AgentID>1000002</AgentID></xml>"
BOMB = b"""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>
<xml><ToUserName>c</ToUserName><FromUserName>rep1</FromUserName><CreateTime>1700000000</CreateTime>
<MsgType>text</MsgType><Content>&b;</Content><MsgId>43</MsgId></xml>"""
OUTER_DTD = b"""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<xml><Encrypt>&x;</Encrypt></xml>"""


@dataclass
class Call:
    method: str = "POST"
    path: str = ""  # default: the app's callback path
    params: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    chunked: bool = False


@dataclass
class Ctx:
    sender: CallbackSender
    world: World
    services: Services


Build = Callable[[Ctx], Awaitable[Call]]


def signed(xml: bytes | str, **kw: str) -> Build:
    async def build(ctx: Ctx) -> Call:
        params, body = ctx.sender.signed(xml.encode() if isinstance(xml, str) else xml, **kw)
        return Call(params=params, body=body)

    return build


def signed_encrypt(encrypt: str) -> Build:
    """An envelope whose Encrypt is `encrypt`, correctly signed: only what is inside is wrong."""

    async def build(ctx: Ctx) -> Call:
        params, _ = ctx.sender.signed(b"<xml/>")
        params["msg_signature"] = ctx.sender.sign(params["timestamp"], params["nonce"], encrypt)
        return Call(params=params, body=f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode())

    return build


def tampered(**changes: str) -> Build:
    async def build(ctx: Ctx) -> Call:
        params, body = ctx.sender.signed(TEXT.encode())
        return Call(params={**params, **changes}, body=body)

    return build


def unsigned() -> Build:
    async def build(ctx: Ctx) -> Call:
        return Call(body=ctx.sender.signed(TEXT.encode())[1])

    return build


def raw(body: bytes) -> Build:
    async def build(ctx: Ctx) -> Call:
        return Call(params=ctx.sender.signed(TEXT.encode())[0], body=body)

    return build


def too_large(chunked: bool) -> Build:
    async def build(ctx: Ctx) -> Call:
        params, body = ctx.sender.signed(TEXT.encode())
        padding = b"<!-- " + b"x" * (1024 * 1024) + b" -->"
        return Call(params=params, body=body.replace(b"</xml>", padding + b"</xml>"), chunked=chunked)

    return build


def at(path: str, inner: Build | None = None) -> Build:
    async def build(ctx: Ctx) -> Call:
        call = await (inner or signed(TEXT))(ctx)
        call.path = path
        return call

    return build


def disabled() -> Build:
    async def build(ctx: Ctx) -> Call:
        await app_ops.set_status(await App.get(id=ctx.world.app_id), AppStatus.DISABLED)
        ctx.services.apps.forget(ctx.world.app_id)  # as the admin route does
        return await signed(TEXT)(ctx)

    return build


def of_other_platform() -> Build:
    async def build(ctx: Ctx) -> Call:
        data = AppIn.model_validate({"platform": "dingtalk", "name": "钉钉",
                                     "credentials": {"app_key": "dingkey01", "app_secret": "s" * 16}}).root
        app = await app_ops.register_app(ctx.services.box, ctx.services.settings, ctx.world.tenant.id, data)
        return await at(f"/wecom/{app.id}/callback")(ctx)

    return build


def url_check(**changes: str) -> Build:
    async def build(ctx: Ctx) -> Call:
        params, _ = ctx.sender.verification()
        return Call(method="GET", params={**params, **changes})

    return build


def url_check_for(receive_id: str) -> Build:
    async def build(ctx: Ctx) -> Call:
        echostr = ctx.sender.encrypt(b"12345", receive_id)
        params = {"timestamp": "1700000000", "nonce": "1", "echostr": echostr}
        return Call(method="GET", params={**params, "msg_signature": ctx.sender.sign("1700000000", "1", echostr)})

    return build


CASES: list[tuple[str, Build, int, str]] = [
    ("unknown app", at("/wecom/999/callback"), 404, "unknown_app"),
    ("app id not a number", at("/wecom/abc/callback"), 404, "unknown_app"),
    ("an app of another platform", of_other_platform(), 404, "wrong_platform"),
    ("disabled app", disabled(), 403, "disabled_app"),
    ("wrong signature", tampered(msg_signature="0" * 40), 403, "bad_signature"),
    ("signature of other params", tampered(nonce="999"), 403, "bad_signature"),
    ("no signature at all", unsigned(), 403, "bad_signature"),
    ("receive id of another corp", signed(TEXT, receive_id="wwanothercorp01"), 403, "wrong_receiver"),
    ("Encrypt not base64", signed_encrypt("not*base64!"), 400, "undecryptable"),
    ("Encrypt under another key", signed_encrypt(base64.b64encode(bytes(range(64))).decode()), 400, "undecryptable"),
    ("envelope not XML", raw(b"hello"), 400, "malformed"),
    ("envelope without Encrypt", raw(b"<xml><ToUserName>c</ToUserName></xml>"), 400, "malformed"),
    ("inner XML malformed", signed("<xml><FromUserName>rep1"), 400, "malformed"),
    ("inner XML without sender", signed("<xml><MsgType>text</MsgType><CreateTime>1</CreateTime></xml>"), 400,
     "malformed"),
    ("entities in the envelope", raw(OUTER_DTD), 400, "hostile_xml"),
    ("entities inside the message", signed(BOMB), 400, "hostile_xml"),
    ("body over the limit", too_large(chunked=False), 413, "too_large"),
    ("chunked body over the limit", too_large(chunked=True), 413, "too_large"),
    ("URL check with a wrong signature", url_check(msg_signature="f" * 40), 403, "bad_signature"),
    ("URL check for another corp", url_check_for("wwanothercorp01"), 403, "wrong_receiver"),
    ("URL check of an unknown app", at("/wecom/999/callback", url_check()), 404, "unknown_app"),
]


def sample(outcome: str) -> float:
    return REGISTRY.get_sample_value("leadbot_callbacks_total", {"platform": "wecom", "outcome": outcome}) or 0.0


async def send(client, world: World, call: Call):
    path = call.path or f"/wecom/{world.app_id}/callback"
    if call.method == "GET":
        return await client.get(path, params=call.params)
    data = call.body
    if call.chunked:
        async def stream(body: bytes = data) -> AsyncIterator[bytes]:
            for i in range(0, len(body), 64 * 1024):
                yield body[i:i + 64 * 1024]

        data = stream()
    return await client.post(path, params=call.params, data=data)


@pytest.mark.parametrize(("build", "status", "outcome"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_a_refused_callback_has_its_status_a_log_line_a_sample_and_no_effect(
    build: Build, status: int, outcome: str, client, world: World, sender: CallbackSender, services,
    caplog: pytest.LogCaptureFixture,
) -> None:
    call = await build(Ctx(sender, world, services))
    before = sample(outcome)
    caplog.set_level(logging.INFO)
    r = await send(client, world, call)
    assert r.status == status
    assert (await r.json())["error"] == outcome
    assert sample(outcome) == before + 1
    (line,) = [rec for rec in caplog.records if rec.levelno == logging.WARNING and rec.name == "leadbot.wecom"]
    assert f"outcome={outcome}" in line.getMessage() and f"status={status}" in line.getMessage()
    for secret in (SECRET, CALLBACK_TOKEN, AES_KEY, "客户说预算八十万"):
        assert secret not in caplog.text
    assert await services.queue.depth() == 0
    assert await services.redis.keys("leadbot:dedup:*") == []


async def test_a_valid_callback_beside_the_refusals_is_queued(client, world: World, sender: CallbackSender,
                                                              services) -> None:
    """The control: the same request untouched is accepted, so each refusal above is due to its one change."""
    before = sample("queued")
    ctx = Ctx(sender, world, services)
    r = await send(client, world, await signed(TEXT)(ctx))
    assert (r.status, await r.read()) == (200, b"")
    assert sample("queued") == before + 1
    assert await services.queue.depth() == 1
    r = await send(client, world, await signed(TEXT)(ctx))
    assert r.status == 200 and await services.queue.depth() == 1 and sample("queued") == before + 1
