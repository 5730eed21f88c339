"""Big bodies, XML bombs and slow clients: refused with their own status, no effect, the service still serving.

The 10 MB case runs over every route that takes a body in the app's router (not a hand list), so a new route is
covered the day it is added.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.platforms.dingtalk.sign import compute_sign
from bot.runtime.app import create_app, make_runner
from bot.runtime.config import Settings
from handlers.openapi import API
from tests.e2e_wecom.support import World
from tests.hostile.support import assert_serving, assert_unchanged, state
from tests.sim.wecom import CallbackSender

TEN_MB = 10 * 1024 * 1024
EVENT_TOKEN = "hostileEvtToken1"
EVENT_AES_KEY = "h0stileAesKey0123456789abcdefghijklmnopqrst"
TEXT = ("<xml><ToUserName>c</ToUserName><FromUserName>rep1</FromUserName><CreateTime>1700000000</CreateTime>"
        "<MsgType>text</MsgType><Content>{}</Content><MsgId>77</MsgId><AgentID>1000002</AgentID></xml>")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Short enough that a trickling client is cut off while the test waits, long enough for any honest request.
    return settings.model_copy(update={"body_timeout_s": 1.0, "keepalive_timeout_s": 1.0})


# -- XML bombs ---------------------------------------------------------------------------------------------------

LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
          + ']><xml><ToUserName>c</ToUserName><FromUserName>rep1</FromUserName><CreateTime>1</CreateTime>'
            '<MsgType>text</MsgType><Content>&lol9;</Content><MsgId>1</MsgId></xml>')
HOSTILE_XML = {
    "billion laughs": LAUGHS,
    "external entity": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                       '<xml><FromUserName>rep1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>'
                       '<Content>&e;</Content></xml>',
    "external DTD": '<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:1/evil.dtd">'
                    '<xml><FromUserName>rep1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>',
    "parameter entity": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:1/p">%p;]>'
                        '<xml><FromUserName>rep1</FromUserName></xml>',
    "quadratic blowup": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "' + "a" * 50_000 + '">]><xml><Content>'
                        + "&a;" * 2000 + "</Content></xml>",
}


@pytest.mark.parametrize("where", ["envelope", "message"])
@pytest.mark.parametrize("xml", HOSTILE_XML.values(), ids=HOSTILE_XML.keys())
async def test_hostile_xml_is_refused_before_it_expands(xml: str, where: str, client, world: World,
                                                        sender: CallbackSender, services) -> None:
    before = await state(services)
    if where == "message":
        params, body = sender.signed(xml.encode())
    else:
        params, body = sender.signed(TEXT.format("hi").encode())[0], xml.replace("<xml>", "<xml><Encrypt>x</Encrypt>",
                                                                                   1).encode()
    r = await client.post(f"/wecom/{world.app_id}/callback", params=params, data=body)
    assert (r.status, (await r.json())["error"]) == (400, "hostile_xml")
    await assert_unchanged(services, before)
    await assert_serving(client)


# -- 10 MB bodies on every route ---------------------------------------------------------------------------------


def body_routes(app: web.Application) -> list[tuple[str, str]]:
    return sorted({(r.method, r.resource.canonical) for r in app.router.routes()
                   if r.method in {"POST", "PUT", "PATCH"} and r.resource is not None})


@pytest.fixture
async def targets(client, world: World, dt, team, admin_headers) -> dict[str, int]:
    """Ids that exist, so each route gets as far as it would with a real request."""
    r = await client.patch(f"/admin/apps/{team.app_id}", headers=admin_headers,
                           json={"credentials": {"event_token": EVENT_TOKEN, "event_aes_key": EVENT_AES_KEY}})
    assert r.status == 200
    return {"wecom": world.app_id, "dingtalk": team.app_id, "admin": world.tenant.id}


def _path(canonical: str, ids: dict[str, int]) -> str:
    root = canonical.split("/")[1]
    the_id = str(ids.get(root, ids["admin"]))
    return canonical.replace("{app_id}", the_id).replace("{id}", the_id).replace("{token}", "t" * 20)


def _headers(canonical: str, dt, admin_headers: dict[str, str]) -> dict[str, str]:
    """Whatever lets the request past its checks to the point where the body is read."""
    ts = int(time.time() * 1000)
    if canonical.endswith("/card"):
        return {"timestamp": str(ts), "sign": compute_sign(ts, dt.card_route()[1])}
    if canonical.startswith("/dingtalk/"):
        return {"timestamp": str(ts), "sign": compute_sign(ts, dt.APP_SECRET)}
    return admin_headers


async def _chunks(size: int) -> AsyncIterator[bytes]:
    piece = b"x" * 65536
    for _ in range(size // len(piece)):
        yield piece


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "chunked"])
async def test_a_10_mb_body_is_refused_on_every_route(chunked: bool, client, targets, dt, admin_headers,
                                                      services) -> None:
    routes = body_routes(client.app)
    assert len(routes) > 30  # the enumeration found the API, not an empty router
    before = await state(services)
    answers = {}
    for method, canonical in routes:
        data = _chunks(TEN_MB) if chunked else b"x" * TEN_MB
        r = await client.request(method, _path(canonical, targets), data=data,
                                 headers=_headers(canonical, dt, admin_headers))
        answers[(method, canonical)] = r.status
        r.close()
    if chunked:
        # Without a declared length only a route that reads a body can tell: every route documented with a body,
        # and every callback, must refuse; the others (the ack link, actions that take no body) never read it.
        readers = {(op.method, op.path) for op in API.operations if op.body is not None}
        readers |= {k for k in answers if k[1].startswith(("/wecom/", "/dingtalk/"))}
        # (or refuse for another reason before reading: an id that does not exist here)
        assert {k: v for k, v in answers.items() if k in readers and v not in (413, 400, 404)} == {}
        assert sum(v == 413 for v in answers.values()) > len(readers) // 2, answers
        assert all(v < 500 for v in answers.values()), answers
    else:
        assert {k: v for k, v in answers.items() if v != 413} == {}
        await assert_unchanged(services, before)
    await assert_serving(client)


# -- slow clients ------------------------------------------------------------------------------------------------


async def trickle(port: int, head: bytes, body: bytes, every_s: float = 0.05) -> tuple[bytes, bool]:
    """Send `head`, then `body` a byte at a time; (what the server answered, whether it closed the connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)

    async def send() -> None:
        try:
            for i in range(len(body)):
                writer.write(body[i:i + 1])
                await writer.drain()
                await asyncio.sleep(every_s)
        except (ConnectionError, OSError):
            pass

    sending = asyncio.create_task(send())
    answer = b""
    try:
        async with asyncio.timeout(30):  # a bound for a broken server, not a measurement
            while chunk := await reader.read(4096):  # to EOF: the server must close the connection
                answer += chunk
    except ConnectionResetError:
        # Closed while bytes of ours were still arriving: the kernel resets instead of a clean close. What the
        # server answered before that was kept chunk by chunk (`read()` to EOF would drop it with the error).
        pass
    finally:
        sending.cancel()
        writer.close()
    return answer, True


def post_head(path: str, length: int, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("route", ["wecom", "dingtalk", "admin"])
async def test_a_client_trickling_its_body_gets_408_while_others_are_served(
    route: str, client, world: World, dt, team, sender: CallbackSender, admin_headers, services,
) -> None:
    params, body = sender.signed(TEXT.format("slow").encode())
    ts = int(time.time() * 1000)
    path, headers = {
        "wecom": (str(client.make_url(f"/wecom/{world.app_id}/callback").with_query(params).path_qs), {}),
        "dingtalk": (f"/dingtalk/{team.app_id}/callback", {"timestamp": str(ts),
                                                           "sign": compute_sign(ts, dt.APP_SECRET)}),
        "admin": ("/admin/tenants", admin_headers),
    }[route]
    if route != "wecom":
        body = json.dumps({"name": "slow tenant " + "x" * 300}).encode()
    before = await state(services)
    slow = asyncio.create_task(trickle(client.port, post_head(path, len(body), headers), body))
    # Meanwhile an honest callback is taken and queued, and health answers.
    await asyncio.sleep(0.2)
    delivery = await sender.deliver(world.url, TEXT.replace("77", "78").format("fast").encode())
    assert delivery.statuses == [200]
    await assert_serving(client)
    answer, closed = await slow
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"too_slow"' in answer and closed
    after = await state(services)
    # The honest callback is the one change: its de-duplication key and its job.
    changed = before.diff(after)
    assert set(changed) <= {"redis"}
    assert all(b"dedup" in k or b"arq" in k for k in changed.get("redis", ([], []))[1])
    assert await services.queue.depth() == 1
    await assert_serving(client)


async def test_a_connection_trickling_its_headers_is_closed_by_the_serve_runner(services, settings) -> None:
    """`leadbot serve`'s runner (not aiohttp's test server) closes a connection that never finishes its headers."""
    runner = make_runner(create_app(services), settings)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")

        async def drip() -> None:
            for i in range(400):
                writer.write(f"X-Drip-{i}: 1\r\n".encode())
                await writer.drain()
                await asyncio.sleep(0.05)

        dripping = asyncio.create_task(drip())
        # others are served meanwhile
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        w2.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        assert (await r2.read()).startswith(b"HTTP/1.1 200")
        w2.close()
        try:
            async with asyncio.timeout(15):  # a bound for a broken server, not a measurement
                leftover = await reader.read()
        except ConnectionResetError:  # closed with our drip unread: a reset, which is a close too
            leftover = b""
        assert leftover == b""  # closed without an answer: the request never completed
        dripping.cancel()
        writer.close()
    finally:
        await runner.cleanup()
