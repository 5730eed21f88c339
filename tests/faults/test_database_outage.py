"""The database unreachable for a while under running `serve` and `worker` processes.

PostgreSQL: the processes reach it through a TCP proxy in the test, which is cut (open connections reset, new ones
refused) and restored. SQLite: the test holds the file's write lock past the processes' busy timeout, as a long
transaction of another process (a backup, a bulk import) does; readers go on (WAL), writers fail.

Either way: the lead API answers 503 instead of an error (the CRM posts the lead again, with its external_id),
a callback is answered 503 when its app cannot be read, or 200 once its job is safely queued, and a job that meets
the outage is tried again later instead of failing: every message is answered once, the lead is created once.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest

from bot.runtime.config import Settings
from bot.runtime.services import Services
from storage.models import Lead
from tests.e2e_wecom.support import button_key, cards_of, history
from tests.faults.conftest import REP, Team
from tests.faults.support import Fleet, Proc, eventually, proxy_to
from tests.faults.test_redis_restart import post
from tests.faults.test_worker_killed import lead_for_rep
from tests.sim.wecom import CallbackSender, WeComSimulator

pytestmark = pytest.mark.slow
ADMIN = {"Authorization": "Bearer test-admin-token-0123456789abcdef"}

# (environment for the processes, start the outage, end it)
Outage = tuple[dict[str, str], Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]


@contextlib.asynccontextmanager
async def database_outage(fleet: Fleet, settings: Settings) -> AsyncIterator[Outage]:
    if settings.database_url:  # PostgreSQL, behind a proxy the test can cut
        parts = urlsplit(settings.database_url)
        async with proxy_to(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
            netloc = f"{parts.username}@127.0.0.1:{proxy.port}" if parts.username else f"127.0.0.1:{proxy.port}"
            env = fleet.env(LEADBOT_DATABASE_URL=urlunsplit(parts._replace(netloc=netloc)))

            async def restore() -> None:
                proxy.restore()

            yield env, proxy.cut, restore
        return
    # SQLite: a short busy timeout (an option of the URL) so the processes give up on the lock within the test.
    path = settings.sqlite_path().resolve()
    env = fleet.env(LEADBOT_DATABASE_URL=f"sqlite://{path}?busy_timeout=500")
    holder = sqlite3.connect(path, isolation_level=None, timeout=30)

    async def lock() -> None:
        holder.execute("BEGIN IMMEDIATE")

    async def unlock() -> None:
        holder.execute("ROLLBACK")

    try:
        yield env, lock, unlock
    finally:
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()


async def post_lead(session: aiohttp.ClientSession, serve: Proc, tenant_id: int, external_id: str) -> int:
    body = {"external_id": external_id, "company": "星海科技", "contact_name": "陈总", "tenant_id": tenant_id}
    async with session.post(serve.url + "/api/leads", json=body, headers=ADMIN,
                            timeout=aiohttp.ClientTimeout(total=30)) as r:
        return r.status


async def test_a_database_outage_is_503_and_loses_nothing(
    settings: Settings, services: Services, team: Team, sim: WeComSimulator, sender: CallbackSender,
    session: aiohttp.ClientSession, fleet: Fleet,
) -> None:
    lead_id = await lead_for_rep(services, team)
    (card,) = cards_of(sim, REP)
    async with database_outage(fleet, settings) as (env, start, end):
        serve = await fleet.serve(env=env)
        worker = await fleet.worker(env=env)
        procs = [serve, worker]

        offset = len(worker.log())
        await start()
        external_id = uuid.uuid4().hex
        assert await post_lead(session, serve, team.tenant.id, external_id) == 503
        contacted = sender.click(REP, card.task_id, button_key(card, "已联系"))
        first = await post(session, sender, serve, team, contacted)
        assert first in (200, 503)  # 200 while the app is still cached: then its job is queued, and must wait
        if first == 200:
            await worker.wait_for_log("dependency unavailable", after=offset)
        await end()

        await eventually(lambda: _posted(session, sender, serve, team, contacted), what="the retry accepted",
                         procs=procs)
        assert await post_lead(session, serve, team.tenant.id, external_id) == 201
        await eventually(lambda: _status_is(lead_id, "contacted"), what="the click applied", procs=procs)
        await eventually(lambda: _true(len(cards_of(sim, REP)) == 2), what="the new lead's card", procs=procs)
        assert await Lead.filter(external_id=external_id).count() == 1
        assert [a for a, _, _ in await history(lead_id)].count("advance") == 1
        assert len(cards_of(sim, REP)) == 2
        await fleet.stop()  # while the proxy still carries their connections


async def _status_is(lead_id: int, status: str) -> bool:
    return (await Lead.get(id=lead_id)).status == status


async def _posted(session: aiohttp.ClientSession, sender: CallbackSender, serve: Proc, team: Team,
                  xml: bytes) -> bool:
    return await post(session, sender, serve, team, xml) == 200


async def _true(value: bool) -> bool:
    return value

