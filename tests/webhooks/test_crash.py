"""Nothing is lost when a process dies between the commit and the send, or in the middle of the send — nor when
Redis forgets everything meanwhile: the delivery is in the database, and a real `leadbot worker` sends it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import time

import pytest

from bot.runtime.worker_heartbeat import live_workers
from bot.webhooks import dispatcher
from storage.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEvent
from tests.conftest import MASTER_KEY
from tests.faults.support import Proc
from tests.webhooks.conftest import new_lead, subscribe

pytestmark = pytest.mark.slow

COMMIT_THEN_DIE = textwrap.dedent("""
    import asyncio, os, signal, sys
    from bot.leads import service as leadservice
    from bot.leads import store as leadstore
    from bot.leads import types as lt
    from bot.runtime.config import Settings
    from bot.runtime import wiring
    from bot.runtime.services import open_services

    wiring.install()  # as the service's entry points do: the webhook event is recorded with the change

    async def main(tenant_id):
        async with open_services(Settings.from_env(os.environ)) as services:
            # Dies the instant the lead's transaction has committed: no dispatcher, no follow-up gets to run.
            leadstore.AFTER_COMMIT.append(lambda change: os.kill(os.getpid(), signal.SIGKILL))
            actor = lt.Actor(user_id=None, tenant_id=tenant_id, role=lt.Role.SYSTEM, name="api")
            await leadservice.create_lead(services, tenant_id, {"company": "华东机械", "external_id": "crm-9"}, actor)

    asyncio.run(main(int(sys.argv[1])))
""")


@pytest.fixture
async def team(team):
    """The shared team without the managers' digest. The real worker runs its cron: started during the tenant's
    working day, it raises the manager's digest, which reaches nobody here (no app) and becomes one more event,
    `alert.delivery_failed`, in the outbox these tests count."""
    team.tenant.settings = {**(team.tenant.settings or {}), "board": {"enabled": False}}
    await team.tenant.save(update_fields=["settings"])
    return team


@pytest.fixture
def env(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADBOT_")}
    env.update(LEADBOT_DATA_DIR=str(settings.data_dir), LEADBOT_MASTER_KEY=MASTER_KEY,
               LEADBOT_ALLOW_PRIVATE_URLS="true", LEADBOT_REDIS_URL=settings.redis_url,
               PYTHONPATH=os.getcwd())
    if settings.database_url:
        env["LEADBOT_DATABASE_URL"] = settings.database_url
    return env


async def _start_worker(services, env: dict[str, str], log_dir) -> Proc:
    """A real `leadbot worker`, its output in a file (a pipe nobody reads would block it once full)."""
    proc = Proc("worker", ["worker"], env, log_dir).start()
    deadline = time.monotonic() + 60
    while not any(w.endswith(f":{proc.pid}") for w in await live_workers(services.redis, services.clock.time())):
        assert proc.running(), proc.tail()
        assert time.monotonic() < deadline, f"the worker did not start:\n{proc.tail()}"
        await asyncio.sleep(0.1)
    return proc


async def _stop(proc: Proc) -> None:
    """SIGTERM, then SIGKILL if it is still up: a worker left running would send the next test's events."""
    await proc.astop(timeout_s=30)
    print(f"===== worker =====\n{proc.tail(100)}")


async def test_killed_right_after_commit_and_redis_lost_the_event_is_still_sent(services, team, receiver,
                                                                                  env, tmp_path) -> None:
    await subscribe(services, team.tenant.id, receiver.url, ["lead.created"], receiver=receiver)
    committer = await asyncio.create_subprocess_exec(sys.executable, "-c", COMMIT_THEN_DIE, str(team.tenant.id),
                                                     env=env, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(committer.communicate(), 120)
    assert committer.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert await WebhookDelivery.filter(state=DeliveryState.PENDING).count() == 1
    assert receiver.received == []
    await services.redis.flushdb()  # whatever the dead process queued in Redis is gone as well

    worker = await _start_worker(services, env, tmp_path)
    try:
        await receiver.wait_for(1, timeout_s=60)
    finally:
        await _stop(worker)
    event = await WebhookEvent.get()
    assert [(r.event_id, r.event_type, r.signed) for r in receiver.received] == [
        (event.event_id, "lead.created", True)]
    assert (await WebhookDelivery.get()).state == DeliveryState.DELIVERED


async def test_a_worker_killed_in_the_middle_of_a_send_is_replaced_and_the_event_arrives_again(
        services, team, receiver, env, tmp_path) -> None:
    receiver.hang = lambda r: r.attempt == 1  # the first request gets no answer: the worker dies waiting
    await subscribe(services, team.tenant.id, receiver.url, ["lead.created"], receiver=receiver)
    worker = await _start_worker(services, env, tmp_path)
    try:
        await new_lead(services, team, "华东机械", "crm-1")
        deadline = time.monotonic() + 60
        while not receiver.received:
            assert time.monotonic() < deadline, "the worker never sent"
            await asyncio.sleep(0.02)
        worker.kill()
    finally:
        await _stop(worker)
    assert (await WebhookDelivery.get()).state == DeliveryState.PENDING  # claimed by the dead worker

    # another worker takes over once the dead one's claim has lapsed
    async with dispatcher.running(services):
        await receiver.wait_for(1, timeout_s=60)
    first, second = receiver.received
    assert first.event_id == second.event_id and (first.attempt, second.attempt) == (1, 2)
    assert first.raw == second.raw and second.signed  # the same event, byte for byte: receivers de-duplicate on id
    delivery = await WebhookDelivery.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 2)
    assert [a.attempt for a in await WebhookAttempt.all()] == [2]  # the killed attempt never got to record itself
