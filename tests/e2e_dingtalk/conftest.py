"""A DingTalk app on the simulator, registered through the admin API, with a tenant, a manager and a rep; stand-in
handlers that record what reaches the worker; and a way to take Redis away from the callback path."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from arq import Worker
from arq.connections import ArqRedis
from prometheus_client import REGISTRY

from bot.jobs import inbound as inbound_jobs
from bot.platforms.base import Inbound, InboundKind
from bot.runtime.queue import Queue
from bot.runtime.services import Services
from bot.runtime.worker import running_worker
from tests.parity.drivers import DingTalkDriver, DingTalkStreamDriver, Person
from tests.parity.support import create_tenant

CLOSED_PORT = 1  # nothing listens on 127.0.0.1:1: connecting is refused at once


@dataclass
class Team:
    tenant_id: int
    app_id: int
    manager: Person
    rep: Person


async def _team(driver: DingTalkDriver, client, admin_headers) -> Team:
    tenant = await create_tenant(client, admin_headers)
    # No morning digest: the worker's cron would send the manager one during the tenant's working day, a job and
    # a work notice these tests do not expect (some assert that nothing is queued).
    r = await client.patch(f"/admin/tenants/{tenant}/settings", headers=admin_headers,
                           json={"board": {"enabled": False}})
    assert r.status == 200, await r.text()
    app_id = await driver.register_app(tenant)
    manager = await driver.add_user(tenant, "王经理", role="manager", platform_id="mgr1")
    rep = await driver.add_user(tenant, "张三", manager=manager, platform_id="rep1")
    return Team(tenant, app_id, manager, rep)


@pytest.fixture
async def dt(client, services: Services, admin_headers) -> AsyncIterator[DingTalkDriver]:
    driver = DingTalkDriver(client, services, admin_headers)
    await driver.start()
    try:
        yield driver
    finally:
        await driver.close()


@pytest.fixture
async def team(dt: DingTalkDriver, client, admin_headers) -> Team:
    return await _team(dt, client, admin_headers)


@pytest.fixture
async def stream(client, services: Services, admin_headers) -> AsyncIterator[DingTalkStreamDriver]:
    driver = DingTalkStreamDriver(client, services, admin_headers)
    await driver.start()
    try:
        yield driver
    finally:
        await driver.close()


@pytest.fixture
async def stream_team(stream: DingTalkStreamDriver, client, admin_headers) -> Team:
    return await _team(stream, client, admin_headers)


class Recorder:
    """A real inbound handler that keeps what the worker gave it."""

    def __init__(self) -> None:
        self.got: list[tuple[int, Inbound]] = []

    async def __call__(self, ctx: dict[str, Any], app_id: int, message: Inbound) -> None:
        self.got.append((app_id, message))

    def of(self, kind: InboundKind) -> list[Inbound]:
        return [m for _, m in self.got if m.kind is kind]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Texts, voice and events reach this recorder (their real handlers belong to other capabilities)."""
    rec = Recorder()
    for kind in (InboundKind.TEXT, InboundKind.VOICE, InboundKind.EVENT):
        monkeypatch.setitem(inbound_jobs.HANDLERS, kind, rec)
    return rec


@contextlib.asynccontextmanager
async def redis_down(services: Services) -> AsyncIterator[None]:
    """The callback path's queue points at a Redis that refuses connections, as when the server is down."""
    dead = ArqRedis(host="127.0.0.1", port=CLOSED_PORT, socket_connect_timeout=1)
    real = services.queue
    services.queue = Queue(dead)
    try:
        yield
    finally:
        services.queue = real
        await dead.aclose()


def callback_counts() -> Counter[str]:
    counts: Counter[str] = Counter()
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == "leadbot_callbacks_total" and sample.labels.get("platform") == "dingtalk":
                counts[sample.labels["outcome"]] = int(sample.value)
    return counts


@pytest.fixture
def counted() -> Callable[[], Counter[str]]:
    """`counted()`: the DingTalk callbacks counted in `leadbot_callbacks_total` since the test began, by outcome."""
    before = callback_counts()
    return lambda: callback_counts() - before


@pytest.fixture
async def worker(services: Services) -> AsyncIterator[Worker]:
    async with running_worker(services) as w:
        yield w
