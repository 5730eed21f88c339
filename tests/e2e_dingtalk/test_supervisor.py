"""The Stream supervisor keeps one runner per active stream-mode DingTalk app in step with the database, and
several processes (here: several supervisors on one Redis) hold one connection per app between them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tortoise import connections

from bot.platforms.dingtalk.stream import TOPIC_ROBOT, lease_name
from bot.platforms.dingtalk.supervisor import StreamSupervisor, running_stream_supervisor
from bot.runtime.config import Settings
from bot.runtime.worker import drain
from storage import redis_keys
from tests.parity.drivers import DingTalkStreamDriver
from tests.parity.support import create_tenant, eventually
from tests.sim.dingtalk import robot_message
from tests.sim.dingtalk_stream import StreamGateway

FAST = DingTalkStreamDriver.RUNNER_OPTIONS
KEYS = ("dingstreamone01", "dingstreamtwo02")
SECRET = "stream-app-secret-0123456789"


@pytest.fixture
async def gateway() -> AsyncIterator[StreamGateway]:
    async with StreamGateway(redeliver_after_s=0.3, ping_interval_s=0.5) as gw:
        for key in KEYS:
            gw.add_app(key, SECRET)
        yield gw


@pytest.fixture
async def supervisors(services, gateway) -> AsyncIterator[list[StreamSupervisor]]:
    made: list[StreamSupervisor] = []
    yield made
    for s in made:
        await s.stop()


@pytest.fixture
def supervisor(services, gateway, supervisors) -> StreamSupervisor:
    return _supervisor(services, gateway, supervisors)


def _supervisor(services, gateway, supervisors) -> StreamSupervisor:
    s = StreamSupervisor(services, gateway_base=gateway.base_url, runner_options=FAST)
    supervisors.append(s)
    return s


async def _app(client, admin_headers, tenant: int, key: str, mode: str = "stream", **extra: Any) -> int:
    creds = {"app_key": key, "app_secret": SECRET, "mode": mode, **extra}
    r = await client.post("/admin/apps", headers=admin_headers,
                          json={"tenant_id": tenant, "platform": "dingtalk", "name": key, "credentials": creds})
    assert r.status == 201, await r.text()
    return (await r.json())["id"]


@pytest.fixture
async def tenant(client, admin_headers) -> int:
    return await create_tenant(client, admin_headers)


async def test_only_active_stream_apps_get_a_runner(client, admin_headers, tenant, supervisor, gateway) -> None:
    one = await _app(client, admin_headers, tenant, KEYS[0])
    two = await _app(client, admin_headers, tenant, KEYS[1])
    await _app(client, admin_headers, tenant, "dinghttpapp0001", mode="http")
    wecom = {"corp_id": "wwcorp", "agent_id": 1000002, "secret": "wecom-secret-0001", "token": "tok",
             "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}
    await client.post("/admin/apps", headers=admin_headers,
                      json={"tenant_id": tenant, "platform": "wecom", "name": "w", "credentials": wecom})

    await supervisor.reconcile()
    assert set(supervisor.runners()) == {one, two}
    for key in KEYS:
        await gateway.wait_connected(key)
    assert {o["app_key"] for o in gateway.opens} == set(KEYS)


async def test_a_disabled_app_lets_go_of_its_connection_and_gets_it_back_when_enabled(
        client, admin_headers, tenant, supervisor, gateway, redis) -> None:
    app_id = await _app(client, admin_headers, tenant, KEYS[0])
    await supervisor.reconcile()
    await gateway.wait_connected(KEYS[0])

    await client.post(f"/admin/apps/{app_id}/disable", headers=admin_headers)
    await supervisor.reconcile()
    assert supervisor.runners() == {}
    await gateway.wait_for(lambda: not gateway.live[KEYS[0]])
    assert await redis.exists(redis_keys.lease(lease_name(app_id))) == 0  # released, not left to expire

    await client.post(f"/admin/apps/{app_id}/enable", headers=admin_headers)
    await supervisor.reconcile()
    await gateway.wait_connected(KEYS[0], count=2)


async def test_changed_credentials_replace_the_runner(client, admin_headers, tenant, supervisor, gateway) -> None:
    app_id = await _app(client, admin_headers, tenant, KEYS[0])
    await supervisor.reconcile()
    await gateway.wait_connected(KEYS[0])
    before = supervisor.runners()[app_id]

    gateway.add_app(KEYS[0], "rotated-secret-9876543210")  # the old secret no longer opens a connection
    r = await client.patch(f"/admin/apps/{app_id}", headers=admin_headers,
                           json={"credentials": {"app_secret": "rotated-secret-9876543210"}})
    assert r.status == 200
    await supervisor.reconcile()
    assert supervisor.runners()[app_id] is not before
    await gateway.wait_connected(KEYS[0], count=2)

    await supervisor.reconcile()  # nothing changed since: the runner stays
    assert gateway.connections_made[KEYS[0]] == 2


async def test_a_runner_that_ended_is_restarted_at_the_next_pass(client, admin_headers, tenant, supervisor,
                                                                 gateway) -> None:
    app_id = await _app(client, admin_headers, tenant, KEYS[0])
    await supervisor.reconcile()
    await gateway.wait_connected(KEYS[0])
    first = supervisor.runners()[app_id]
    await first.stop()  # as if its loop had ended on its own

    async with asyncio.timeout(10):  # the passes run() would make, until one sees the runner has ended
        while supervisor.runners()[app_id] is first:
            await supervisor.reconcile()
            await asyncio.sleep(0.02)
    await gateway.wait_connected(KEYS[0], count=2)


async def test_an_unreadable_database_keeps_the_current_runners(client, admin_headers, tenant, supervisor,
                                                                gateway) -> None:
    app_id = await _app(client, admin_headers, tenant, KEYS[0])
    await supervisor.reconcile()
    db = connections.get("default")
    await db.execute_script("ALTER TABLE apps RENAME TO apps_away")
    try:
        await supervisor.reconcile()
    finally:
        await db.execute_script("ALTER TABLE apps_away RENAME TO apps")
    assert set(supervisor.runners()) == {app_id}
    await gateway.wait_connected(KEYS[0])


async def test_two_processes_hold_one_connection_and_the_survivor_takes_over(
        client, admin_headers, tenant, services, gateway, supervisors, redis, recorder) -> None:
    app_id = await _app(client, admin_headers, tenant, KEYS[0])
    first, second = _supervisor(services, gateway, supervisors), _supervisor(services, gateway, supervisors)
    await first.reconcile()
    await second.reconcile()
    await gateway.wait_connected(KEYS[0])
    await asyncio.sleep(FAST["lease_ttl_s"])  # a lease-poll or two: the other runner must still not connect
    assert gateway.max_live[KEYS[0]] == 1

    holder = (await redis.get(redis_keys.lease(lease_name(app_id)))).decode()
    leaving, staying = (first, second) if first.runners()[app_id].holder == holder else (second, first)
    await leaving.stop()
    await gateway.wait_connected(KEYS[0], count=2)
    await eventually(lambda: staying.runners()[app_id].connected.is_set(), what="the survivor connected")

    message_id = await gateway.push_callback(KEYS[0], TOPIC_ROBOT, robot_message("t-1", "rep1", text="还在吗"))
    await gateway.wait_acked(message_id)
    await drain(services)
    assert [m.text for _, m in recorder.got] == ["还在吗"]
    assert gateway.max_live[KEYS[0]] == 1


async def test_the_process_block_starts_and_stops_the_streams(client, admin_headers, tenant, services, gateway,
                                                              redis) -> None:
    app_id = await _app(client, admin_headers, tenant, KEYS[0])
    async with running_stream_supervisor(services, poll_s=0.1, gateway_base=gateway.base_url,
                                         runner_options=FAST) as supervisor:
        assert supervisor is not None
        await gateway.wait_connected(KEYS[0])
        assert [s["app_id"] for s in supervisor.status()] == [app_id]
    await gateway.wait_for(lambda: not gateway.live[KEYS[0]])
    assert await redis.exists(redis_keys.lease(lease_name(app_id))) == 0


async def test_a_process_can_be_told_not_to_run_streams(client, admin_headers, tenant, services, gateway) -> None:
    await _app(client, admin_headers, tenant, KEYS[0])
    assert Settings.from_env({"LEADBOT_DINGTALK_STREAM": "false"}).dingtalk_stream is False
    services.settings = services.settings.model_copy(update={"dingtalk_stream": False})
    async with running_stream_supervisor(services, gateway_base=gateway.base_url) as supervisor:
        assert supervisor is None
    assert gateway.opens == []
