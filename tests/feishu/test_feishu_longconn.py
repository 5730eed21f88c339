"""Long-connection mode through lark-oapi's own ws client against a gateway stand-in: events and card actions
queued once, a frame answered 500 (so Feishu redelivers) when it could not be queued, one connection per app across
runners (the lease), and a connection given up when stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.platforms.base import Inbound, InboundKind
from bot.platforms.feishu.longconn import LongConnRunner
from tests.feishu.conftest import APP_ID, APP_SECRET, VERIFICATION_TOKEN, credentials
from tests.sim.feishu import SimUser, message_event
from tests.sim.feishu_ws import WsGateway

REP = SimUser("ou_rep1", "rep1", "on_rep1", "张三")


@pytest.fixture
async def gateway() -> AsyncIterator[WsGateway]:
    gw = WsGateway()
    await gw.start()
    gw.add_app(APP_ID, APP_SECRET)
    yield gw
    await gw.close()


class Inbox:
    def __init__(self) -> None:
        self.got: list[Inbound] = []
        self.fail = False

    async def __call__(self, inbound: Inbound) -> None:
        if self.fail:
            raise ConnectionError("redis is away")
        self.got.append(inbound)


async def _until(condition, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


def _runner(gateway: WsGateway, redis, inbox: Inbox, **kw) -> LongConnRunner:
    return LongConnRunner(1, credentials(mode="ws", **kw), redis, inbox, api_base=gateway.base_url,
                          lease_ttl_s=1.0, retry_s=0.1)


async def test_events_arrive_and_a_failed_queue_answers_500(gateway: WsGateway, redis) -> None:
    inbox = Inbox()
    runner = _runner(gateway, redis, inbox)
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(runner.connected.wait(), 30)
        payload = message_event(REP, "text", {"text": "长连接"}, token=VERIFICATION_TOKEN, app_id=APP_ID)
        assert await gateway.push(APP_ID, payload) == 200
        (got,) = inbox.got
        assert (got.kind, got.text, got.sender) == (InboundKind.TEXT, "长连接", "ou_rep1")

        inbox.fail = True
        assert await gateway.push(APP_ID, payload) == 500
        inbox.fail = False
        assert await gateway.push(APP_ID, {"not": "an event"}) == 200  # acknowledged, dropped
        assert len(inbox.got) == 1
    finally:
        await runner.stop()
        await asyncio.wait_for(task, 10)
    await _until(lambda: not gateway.live(APP_ID))


async def test_one_connection_per_app_across_runners(gateway: WsGateway, redis) -> None:
    first, second = _runner(gateway, redis, Inbox()), _runner(gateway, redis, Inbox())
    tasks = [asyncio.create_task(r.run()) for r in (first, second)]
    try:
        await _until(lambda: len(gateway.live(APP_ID)) == 1)
        await asyncio.sleep(1.5)  # past the lease's TTL: the other runner still waits
        assert len(gateway.live(APP_ID)) == 1 and gateway.opened[APP_ID] == 1
        holder = first if first.connected.is_set() else second
        other = second if holder is first else first
        await holder.stop()
        await _until(lambda: other.connected.is_set(), 15)  # the lease is released and taken over
        assert len(gateway.live(APP_ID)) == 1
    finally:
        for r in (first, second):
            await r.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)


async def test_refused_credentials_are_retried_without_a_connection(gateway: WsGateway, redis) -> None:
    runner = _runner(gateway, redis, Inbox(), app_secret="wrong")
    task = asyncio.create_task(runner.run())
    try:
        await _until(lambda: gateway.endpoint_requests >= 2)
        assert not runner.connected.is_set() and gateway.opened[APP_ID] == 0
    finally:
        await runner.stop()
        await asyncio.wait_for(task, 10)


async def test_the_supervisor_connects_ws_apps_and_queues_their_events(gateway: WsGateway, client, services,
                                                                       admin_headers) -> None:
    from bot.platforms.feishu.supervisor import running_longconn_supervisor
    from tests.parity.support import create_tenant

    tenant = await create_tenant(client, admin_headers)
    body = {"tenant_id": tenant, "name": "飞书长连接", "platform": "feishu", "api_base": gateway.base_url,
            "credentials": {"app_id": APP_ID, "app_secret": APP_SECRET, "verification_token": VERIFICATION_TOKEN,
                            "mode": "ws"}}
    r = await client.post("/admin/apps", json=body, headers=admin_headers)
    assert r.status == 201, await r.text()
    app_id = (await r.json())["id"]
    async with running_longconn_supervisor(services, poll_s=0.1, runner_options={"lease_ttl_s": 1.0}) as sup:
        await _until(lambda: len(gateway.live(APP_ID)) == 1, 30)
        payload = message_event(REP, "text", {"text": "x"}, token=VERIFICATION_TOKEN, app_id=APP_ID,
                                event_id="ev-ws-1")
        assert await gateway.push(APP_ID, payload) == 200
        assert await gateway.push(APP_ID, payload) == 200  # redelivered: remembered, not queued twice
        assert await services.queue.depth() == 1

        r = await client.post(f"/admin/apps/{app_id}/disable", headers=admin_headers)
        assert r.status == 200
        await _until(lambda: not sup.runners() and not gateway.live(APP_ID), 15)
