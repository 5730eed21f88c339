"""Issue 18, slow bodies: the board's form posts read their body under the same deadline and size limit as the
callbacks and the API. A client trickling its form gets 408 `too_slow` and a closed connection, changes nothing,
and the service answers others meanwhile; a form over the limit is a 413."""

from __future__ import annotations

import asyncio

import pytest

from bot.runtime.config import Settings
from tests.board.support import link_token
from tests.hostile.support import assert_serving, assert_unchanged, state
from tests.hostile.test_bodies_and_clients import post_head


async def stall(port: int, head: bytes, body: bytes) -> bytes:
    """Send `head` and the first bytes of `body`, then nothing more: the answer the server gives meanwhile.

    (Stalling rather than trickling to the end: a server closing with bytes of ours unread would reset the
    connection and the answer could be lost on the way back.)"""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body[:10])
    await writer.drain()
    answer = b""
    try:
        async with asyncio.timeout(30):  # a bound for a broken server, not a measurement
            while b"}" not in answer:  # the JSON problem ends the answer
                chunk = await reader.read(4096)
                if not chunk:
                    break
                answer += chunk
        return answer
    finally:
        writer.close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"body_timeout_s": 1.0, "keepalive_timeout_s": 1.0,
                                       "max_body_bytes": 64 * 1024})


async def _signed_in(client, world) -> tuple[str, str]:
    """A manager's session cookie and the CSRF token of their board page."""
    token = await link_token(world, world.manager)
    r = await client.post("/board/login", data={"t": token, "next": "/board"}, allow_redirects=False)
    cookie = r.headers["Set-Cookie"].split(";", 1)[0]
    page = await (await client.get("/board", headers={"Cookie": cookie})).text()
    return cookie, page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


@pytest.mark.parametrize("route", ["/board/login", "/board/logout", "/board/leads/1/take"])
async def test_a_form_trickled_to_the_board_gets_408_while_others_are_served(route, world, client, services) -> None:
    cookie, csrf = await _signed_in(client, world)
    body = f"csrf={csrf}&t=x&next=/board&pad={'x' * 200}".encode()
    before = await state(services)
    head = post_head(route, len(body), {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    slow = asyncio.create_task(stall(client.port, head, body))
    await asyncio.sleep(0.2)
    await assert_serving(client)
    answer = await slow
    assert answer.split(b"\r\n", 1)[0].startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"too_slow"' in answer and b"Connection: close" in answer
    await assert_unchanged(services, before)  # the session still there, no lead taken
    assert (await client.get("/board", headers={"Cookie": cookie})).status == 200


@pytest.mark.parametrize("route", ["/board/login", "/board/logout"])
async def test_a_form_over_the_body_limit_is_a_413(route, world, client, services) -> None:
    cookie, csrf = await _signed_in(client, world)
    before = await state(services)
    r = await client.post(route, data={"csrf": csrf, "pad": "x" * 100_000}, headers={"Cookie": cookie})
    assert (r.status, (await r.json())["error"]) == (413, "too_large")
    await assert_unchanged(services, before)
