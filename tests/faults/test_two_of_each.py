"""Two `serve --no-worker` and two `worker` processes on one Redis and one database.

WeCom's redeliveries may land on either web process, at the same moment as the original: each message is still
handled once. Each response lock fires once although both workers re-arm every timer when they start. The expired
access token is fetched once although both workers need it at the same moment (the simulator counts gettoken).

On SQLite as well: the embedded setup lets every process on a data dir share the file (WAL) and its Redis.
"""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from bot.runtime.services import Services
from storage import redis_keys
from storage.models import Alert, Delivery
from tests.escalation.support import deadline_of
from tests.faults.conftest import MANAGER, REP, Team
from tests.faults.support import Fleet, eventually
from tests.faults.test_redis_restart import HELP_REPLY, post
from tests.faults.test_worker_killed import lead_for_rep
from tests.sim.wecom import CallbackSender, WeComSimulator
from tests.support.jobclock import fast_forward

pytestmark = pytest.mark.slow
MESSAGES_EACH = 8  # per person: the simulator, like WeCom, drops what goes over 30 a minute to one member
LEADS = 4


def replies_to(sim: WeComSimulator, userid: str) -> int:
    return sum(1 for d in sim.inbox(userid) if HELP_REPLY in (d.message.get("text") or {}).get("content", ""))


async def test_two_web_and_two_worker_processes_do_everything_once(
    services: Services, team: Team, sim: WeComSimulator, sender: CallbackSender, session: aiohttp.ClientSession,
    fleet: Fleet,
) -> None:
    leads = [await lead_for_rep(services, team) for _ in range(LEADS)]
    webs = [await fleet.serve("serve-a"), await fleet.serve("serve-b")]
    workers = list(await asyncio.gather(fleet.worker("worker-a"), fleet.worker("worker-b")))
    procs = [*webs, *workers]

    await services.redis.delete(redis_keys.token("wecom", team.app_id))  # expired: the next send must refresh
    fetched_before = sum(sim.gettoken_calls.values())
    messages = [sender.text(user, "帮助") for user in (REP, MANAGER) for _ in range(MESSAGES_EACH)]
    # Every message reaches both web processes at once (WeCom retrying on another node while the first is busy).
    statuses = await asyncio.gather(*(post(session, sender, web, team, xml) for xml in messages for web in webs))
    assert set(statuses) == {200}
    for lead_id in leads:
        await fast_forward(services, (await deadline_of(lead_id)).due_at)

    await eventually(lambda: _true(replies_to(sim, REP) == replies_to(sim, MANAGER) == MESSAGES_EACH),
                     what="every message answered", procs=procs)
    await eventually(lambda: _reminded(leads), what="every lead's rep reminded", procs=procs)
    await eventually(lambda: _queue_idle(services), what="the queue drained", procs=procs)

    assert (replies_to(sim, REP), replies_to(sim, MANAGER)) == (MESSAGES_EACH, MESSAGES_EACH)
    for lead_id in leads:
        assert [a.kind for a in await Alert.filter(lead_id=lead_id)] == ["lock_reminder"]
        assert await Delivery.filter(lead_id=lead_id).count() == 1
        deadline_id = (await deadline_of(lead_id)).id
        fired = sum(len(re.findall(rf"deadline {deadline_id}: step 0 \(remind_rep\) of lead", w.log()))
                    for w in workers)
        assert fired == 1
    assert sum(sim.gettoken_calls.values()) - fetched_before == 1


async def _reminded(leads: list[int]) -> bool:
    return await Delivery.filter(lead_id__in=leads, outcome="ok").count() == len(leads)


async def _queue_idle(services: Services) -> bool:
    return await services.queue.depth() == 0


async def _true(value: bool) -> bool:
    return value
