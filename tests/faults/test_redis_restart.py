"""Redis dies under running `serve` and `worker` processes and comes back.

- A Redis server of the test's own (`redis-server`, never the shared one) comes back empty, as a failed-over or
  flushed Redis does: callbacks during the outage are answered 503 (WeCom retries), the queue resumes, and the
  response-lock timer, lost with Redis, is armed again from the database and fires once.
- The embedded server of the data dir (no `LEADBOT_REDIS_URL`) is killed: the service starts it again from its
  append-only file, so what was queued and remembered before survives (a retry of an old message stays a duplicate).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import redis as redis_sync
from arq.constants import default_queue_name

from bot.leads import types as lt
from bot.leads.service import create_lead
from bot.runtime.services import Services
from storage import redis_keys
from storage.models import Alert, Delivery
from tests.e2e_wecom.support import another_process
from tests.escalation.support import deadline_of
from tests.faults.conftest import REP, Team
from tests.faults.support import Fleet, Proc, eventually, own_redis
from tests.sim.wecom import CallbackSender, WeComSimulator
from tests.support.jobclock import fast_forward

pytestmark = pytest.mark.slow
HELP_REPLY = "回复「帮助」"  # a line of the help text the bot answers 帮助 with


async def post(session: aiohttp.ClientSession, sender: CallbackSender, serve: Proc, team: Team, xml: bytes) -> int:
    """One delivery attempt, encrypted afresh as each of WeCom's attempts is."""
    params, body = sender.signed(xml)
    async with session.post(serve.url + team.callback_path(), params=params, data=body,
                            timeout=aiohttp.ClientTimeout(total=10)) as r:
        return r.status


def replies_to_rep(sim: WeComSimulator) -> int:
    return sum(1 for d in sim.inbox(REP) if HELP_REPLY in (d.message.get("text") or {}).get("content", ""))


async def lead_with_lock(services: Services, team: Team) -> int:
    row, _ = await create_lead(services, team.tenant.id,
                               {"company": "星海科技", "contact_name": "陈总", "external_id": uuid.uuid4().hex},
                               lt.Actor.system(team.tenant.id), inline=True)
    return row.id


async def reminded_once(services: Services, lead_id: int, procs: list[Proc]) -> None:
    """Make the lead's lock timer due now, and see it fire once: one reminder, delivered once."""
    due = (await deadline_of(lead_id)).due_at
    job = f"lb:deadline:{(await deadline_of(lead_id)).id}:"

    async def armed() -> bool:
        return bool([k async for k in services.redis.zscan_iter(default_queue_name, match=job + "*")])

    await eventually(armed, what="the lock timer queued", procs=procs)
    await fast_forward(services, due)
    await eventually(lambda: Delivery.filter(lead_id=lead_id, outcome="ok").exists(), what="the reminder sent",
                     procs=procs)
    assert [a.kind for a in await Alert.filter(lead_id=lead_id)] == ["lock_reminder"]
    assert await Delivery.filter(lead_id=lead_id).count() == 1


async def test_redis_coming_back_empty_loses_nothing_and_timers_are_armed_again(
    services: Services, team: Team, sim: WeComSimulator, sender: CallbackSender, session: aiohttp.ClientSession,
    fleet: Fleet,
) -> None:
    with own_redis(persist=False) as server:
        env = fleet.env(LEADBOT_REDIS_URL=server.url)
        serve = await fleet.serve(env=env)
        worker = await fleet.worker(env=env)
        procs = [serve, worker]
        async with another_process(services, server.url) as here:
            lead_id = await lead_with_lock(here, team)
            assert await post(session, sender, serve, team, sender.text(REP, "帮助")) == 200
            await eventually(lambda: _true(replies_to_rep(sim) == 1), what="the first reply", procs=procs)

            server.kill()
            during = sender.text(REP, "帮助")
            assert await post(session, sender, serve, team, during) == 503
            assert await post(session, sender, serve, team, during) == 503
            server.start()  # empty: no queue, no timers, no de-duplication keys
            assert await post(session, sender, serve, team, during) == 200  # WeCom's next retry

            await eventually(lambda: _true(replies_to_rep(sim) == 2), what="the queue resuming", procs=procs)
            # The auditor notices the lost data (its marker key is gone) and arms every timer from the database.
            await eventually(lambda: here.redis.exists(redis_keys.TIMERS_ARMED), what="timers armed again",
                             procs=procs)
            await reminded_once(here, lead_id, procs)
            assert replies_to_rep(sim) == 2


@contextlib.contextmanager
def start_lock(data_dir: Path) -> Iterator[None]:
    """Hold the embedded server's start lock: no process can start it again until the block ends."""
    with open(data_dir / "redis" / "start.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


async def test_the_embedded_redis_killed_is_started_again_from_its_files(
    services: Services, team: Team, sim: WeComSimulator, sender: CallbackSender, session: aiohttp.ClientSession,
    fleet: Fleet,
) -> None:
    env = fleet.env(LEADBOT_REDIS_URL=None)  # the embedded server in the data dir, started by the first process
    serve = await fleet.serve(env=env)
    worker = await fleet.worker(env=env)
    procs = [serve, worker]
    data_dir = fleet.settings.data_dir
    url = f"unix://{(data_dir / 'redis' / 'redis.sock').resolve()}"
    async with another_process(services, url) as here:
        lead_id = await lead_with_lock(here, team)
        before = sender.text(REP, "帮助")
        assert await post(session, sender, serve, team, before) == 200
        await eventually(lambda: _true(replies_to_rep(sim) == 1), what="the first reply", procs=procs)

        during = sender.text(REP, "帮助")
        with start_lock(data_dir):
            pid = int((data_dir / "redis" / "redis.pid").read_text())
            os.kill(pid, signal.SIGKILL)
            await eventually(lambda: _true(not _answers(url)), what="the embedded Redis gone")
            assert await post(session, sender, serve, team, during) == 503
        # Released: the processes find their server gone and one of them starts it again, from its AOF.
        await eventually(lambda: _true(_answers(url)), what="the embedded Redis started again", procs=procs)
        await eventually(lambda: _post_ok(session, sender, serve, team, during), what="the retry accepted",
                         procs=procs)
        assert await post(session, sender, serve, team, before) == 200  # remembered across the restart

        await eventually(lambda: _true(replies_to_rep(sim) == 2), what="the queue resuming", procs=procs)
        await reminded_once(here, lead_id, procs)
        assert replies_to_rep(sim) == 2


def _answers(url: str) -> bool:
    try:
        return bool(redis_sync.Redis.from_url(url, socket_timeout=1).ping())
    except (redis_sync.RedisError, OSError):
        return False


async def _post_ok(session: aiohttp.ClientSession, sender: CallbackSender, serve: Proc, team: Team,
                   xml: bytes) -> bool:
    return await post(session, sender, serve, team, xml) == 200


async def _true(value: bool) -> bool:
    return value
