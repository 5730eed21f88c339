"""StreamRunner against the local gateway: ACK after on_inbound, redelivery, reconnects, the lease."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.platforms.base import Inbound, InboundKind
from bot.platforms.dingtalk.config import DingTalkCredentials
from bot.platforms.dingtalk.stream import TOPIC_CARD, TOPIC_ROBOT, StreamRunner, lease_name
from storage import redis_keys
from tests.sim.dingtalk import card_click, robot_message
from tests.sim.dingtalk_stream import StreamGateway
from tests.support.waiting import eventually

APP_KEY = "dingstreamapp01"
APP_SECRET = "stream-secret-0123456789"
LEASE_TTL_S = 1.0
CHILD = Path(__file__).with_name("stream_child.py")
CHILD_INBOX = "leadbot:test:child-inbound"


@pytest.fixture
async def gateway() -> AsyncIterator[StreamGateway]:
    async with StreamGateway(redeliver_after_s=0.3, ping_interval_s=0.2) as gw:
        gw.add_app(APP_KEY, APP_SECRET)
        yield gw


@pytest.fixture
async def runners(redis, gateway) -> AsyncIterator[Callable[..., StreamRunner]]:
    tasks: list[tuple[StreamRunner, asyncio.Task[None]]] = []

    def start(on_inbound: Callable[[Inbound], Any], **kwargs: Any) -> StreamRunner:
        creds = DingTalkCredentials(app_key=APP_KEY, app_secret=kwargs.pop("app_secret", APP_SECRET), mode="stream")
        options = {"lease_ttl_s": LEASE_TTL_S, "silence_timeout_s": 5.0, "backoff_base_s": 0.05,
                   "backoff_max_s": 0.2, "stop_grace_s": 1.0, "drain_s": 1.0, "allow_private": True, **kwargs}
        runner = StreamRunner(1, creds, redis, on_inbound, gateway_base=gateway.base_url, **options)
        tasks.append((runner, asyncio.create_task(runner.run())))
        return runner

    start.task_of = lambda r: next(t for rr, t in tasks if rr is r)  # type: ignore[attr-defined]
    yield start
    for runner, _ in tasks:
        await runner.stop()
    for _, task in tasks:
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(task, 5)


class Inbox:
    """An on_inbound that records what it got and can be told to block or fail."""

    def __init__(self) -> None:
        self.got: list[Inbound] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = 0

    async def __call__(self, inbound: Inbound) -> None:
        self.got.append(inbound)
        await self.gate.wait()
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("redis down")


async def test_message_reaches_on_inbound_and_is_acked_only_after(gateway, runners):
    inbox = Inbox()
    inbox.gate.clear()
    runners(inbox)
    await gateway.wait_connected(APP_KEY)
    mid = await gateway.push_callback(APP_KEY, TOPIC_ROBOT, robot_message("msg-1", "rep1", text="华东电网 已联系"))
    await eventually(lambda: inbox.got)
    # A ping answered after on_inbound started proves the socket carries ACKs, yet the message has none.
    ping = await gateway.send_system(APP_KEY, "ping")
    await gateway.wait_for(lambda: bool(gateway.acks[ping]))
    assert gateway.acks[mid] == []
    inbox.gate.set()
    ack = await gateway.wait_acked(mid)
    assert ack["headers"]["messageId"] == mid
    (inbound,) = inbox.got
    assert (inbound.kind, inbound.dedup_key, inbound.sender, inbound.text) == (InboundKind.TEXT, "msg-1", "rep1",
                                                                               "华东电网 已联系")


async def test_ping_data_is_echoed(gateway, runners):
    runners(Inbox())
    await gateway.wait_connected(APP_KEY)
    ping = await gateway.send_system(APP_KEY, "ping", {"opaque": "abc-123"})
    await gateway.wait_for(lambda: bool(gateway.acks[ping]))
    assert gateway.acks[ping][0]["code"] == 200
    assert gateway.acks[ping][0]["data"] == '{"opaque": "abc-123"}'


async def test_card_click_arrives_on_the_same_stream(gateway, runners):
    inbox = Inbox()
    runners(inbox)
    await gateway.wait_connected(APP_KEY)
    assert {s["topic"] for s in gateway.opens[0]["subscriptions"]} == {TOPIC_ROBOT, TOPIC_CARD}
    mid = await gateway.push_callback(APP_KEY, TOPIC_CARD, card_click("lead-3-v1", "rep1", "contacted", {"k": "v"}))
    await gateway.wait_acked(mid)
    (inbound,) = inbox.got
    assert inbound.kind == InboundKind.CARD_CLICK
    assert (inbound.card.card_id, inbound.card.key, inbound.card.params) == ("lead-3-v1", "contacted", {"k": "v"})


async def test_failing_on_inbound_leads_to_redelivery(gateway, runners):
    inbox = Inbox()
    inbox.fail_next = 1
    runners(inbox)
    await gateway.wait_connected(APP_KEY)
    mid = await gateway.push_callback(APP_KEY, TOPIC_ROBOT, robot_message("msg-2", "rep1", text="x"))
    await gateway.wait_acked(mid)
    assert [i.dedup_key for i in inbox.got] == ["msg-2", "msg-2"]
    assert gateway.deliveries[mid] == 2
    assert all(a["code"] == 200 for a in gateway.acks[mid])


async def test_malformed_frame_is_acknowledged_not_redelivered_forever(gateway, runners):
    inbox = Inbox()
    runners(inbox)
    await gateway.wait_connected(APP_KEY)
    mid = await gateway.push_callback(APP_KEY, TOPIC_ROBOT, {"msgtype": "text", "text": {"content": "no ids"}})
    await gateway.wait_acked(mid)
    assert inbox.got == []


async def test_connection_killed_mid_message_loses_nothing(gateway, runners):
    inbox = Inbox()
    inbox.gate.clear()
    runners(inbox)
    await gateway.wait_connected(APP_KEY)
    mid = await gateway.push_callback(APP_KEY, TOPIC_ROBOT, robot_message("msg-3", "rep1", text="x"))
    await eventually(lambda: inbox.got)
    await gateway.kill(APP_KEY)  # while on_inbound is still running: its ACK has nowhere to go
    await gateway.wait_connected(APP_KEY, count=2)
    inbox.gate.set()
    await gateway.wait_acked(mid)
    assert {i.dedup_key for i in inbox.got} == {"msg-3"}
    assert gateway.deliveries[mid] >= 2


async def test_frame_lost_with_its_connection_is_redelivered(gateway, runners):
    inbox = Inbox()
    runners(inbox)
    await gateway.wait_connected(APP_KEY)
    mid = await gateway.push_callback(APP_KEY, TOPIC_ROBOT, robot_message("msg-4", "rep1", text="x"),
                                      kill_after_send=True)
    await gateway.wait_acked(mid)
    assert "msg-4" in {i.dedup_key for i in inbox.got}


async def test_disconnect_notice_moves_to_a_new_connection(gateway, runners):
    inbox = Inbox()
    runners(inbox)
    await gateway.wait_connected(APP_KEY)
    await gateway.send_system(APP_KEY, "disconnect")
    await gateway.wait_connected(APP_KEY, count=2)
    mid = await gateway.push_callback(APP_KEY, TOPIC_ROBOT, robot_message("msg-5", "rep1", text="x"))
    await gateway.wait_acked(mid)
    await gateway.wait_for(lambda: len(gateway.live[APP_KEY]) == 1)  # the old one drained and closed


async def test_watchdog_replaces_a_silent_connection(gateway, runners):
    inbox = Inbox()
    runners(inbox, silence_timeout_s=0.6)
    await gateway.wait_connected(APP_KEY)
    gateway.mute(APP_KEY)  # socket open, pings answered, nothing delivered: a zombie
    await gateway.wait_connected(APP_KEY, count=2)
    gateway.mute(APP_KEY, False)
    mid = await gateway.push_callback(APP_KEY, TOPIC_ROBOT, robot_message("msg-6", "rep1", text="x"))
    await gateway.wait_acked(mid)


async def test_stop_is_clean_and_releases_the_lease(redis, gateway, runners):
    runner = runners(Inbox())
    await gateway.wait_connected(APP_KEY)
    assert await redis.get(redis_keys.lease(lease_name(1))) == runner.holder.encode()
    await runner.stop()
    await asyncio.wait_for(runners.task_of(runner), 5)  # run() returns
    assert not gateway.live[APP_KEY] or await gateway.wait_for(lambda: not gateway.live[APP_KEY]) is None
    assert not runner.connected.is_set() and runner.status()["in_flight"] == 0
    assert await redis.get(redis_keys.lease(lease_name(1))) is None


async def test_wrong_secret_keeps_retrying_without_crashing(gateway, runners):
    runner = runners(Inbox(), app_secret="wrong")
    await asyncio.sleep(0.5)
    assert not runner.connected.is_set() and gateway.opens == []


async def test_second_runner_waits_on_the_lease_and_takes_over(redis, redis_url, gateway, runners):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    child = await asyncio.create_subprocess_exec(sys.executable, str(CHILD), gateway.base_url, APP_KEY, APP_SECRET,
                                                 str(LEASE_TTL_S), redis_url, env=env)
    try:
        await gateway.wait_connected(APP_KEY, timeout_s=20)
        inbox = Inbox()
        second = runners(inbox)
        await asyncio.sleep(LEASE_TTL_S * 1.5)  # the second runner has polled the lease several times meanwhile
        assert not second.connected.is_set() and gateway.connections_made[APP_KEY] == 1
        first_mid = await gateway.push_callback(APP_KEY, TOPIC_ROBOT, robot_message("msg-7", "rep1", text="x"))
        await gateway.wait_acked(first_mid)
        assert await redis.lrange(CHILD_INBOX, 0, -1) == [b"msg-7"]
        child.kill()  # SIGKILL: no release, the lease must expire
        await child.wait()
        await gateway.wait_connected(APP_KEY, count=2)
        await eventually(second.connected.is_set)
        mid = await gateway.push_callback(APP_KEY, TOPIC_ROBOT, robot_message("msg-8", "rep1", text="y"))
        await gateway.wait_acked(mid)
        assert [i.dedup_key for i in inbox.got] == ["msg-8"]
        assert gateway.max_live[APP_KEY] == 1
        assert await redis.get(redis_keys.lease(lease_name(1))) == second.holder.encode()
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


async def test_subscribed_events_arrive_with_their_event_id(gateway, runners):
    inbox = Inbox()
    runners(inbox, subscribe_events=True)
    await gateway.wait_connected(APP_KEY)
    mid = await gateway.push_event(APP_KEY, "user_leave_org", {"UserId": ["rep2"]}, event_id="ev-77")
    await gateway.wait_acked(mid)
    (inbound,) = inbox.got
    assert (inbound.kind, inbound.event, inbound.dedup_key, inbound.sender) == (InboundKind.EVENT, "user_leave_org",
                                                                                "event:ev-77", "rep2")
