"""Nothing is lost when a process dies between the commit and the send, or in the middle of the send — nor when
Redis forgets everything meanwhile: the delivery is in the database, and a real `leadbot worker` sends it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from bot.webhooks import dispatcher
from bot.worker_heartbeat import live_workers
from storage.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEvent
from tests.conftest import MASTER_KEY
from tests.webhooks.conftest import new_lead, subscribe

pytestmark = pytest.mark.slow

COMMIT_THEN_DIE = textwrap.dedent("""
    import asyncio, os, signal, sys
    from bot import leadservice, leadstore, leadtypes as lt
    from bot.config import Settings
    from bot.services import open_services
    import bot.webhooks

    async def main(tenant_id):
        async with open_services(Settings.from_env(os.environ)) as services:
            # Dies the instant the lead's transaction has committed: no dispatcher, no follow-up gets to run.
            leadstore.after_commit(lambda change: os.kill(os.getpid(), signal.SIGKILL))
            actor = lt.Actor(user_id=None, tenant_id=tenant_id, role=lt.Role.SYSTEM, name="api")
            await leadservice.create_lead(services, tenant_id, {"company": "华东机械", "external_id": "crm-9"}, actor)

    asyncio.run(main(int(sys.argv[1])))
""")


@pytest.fixture
def env(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADBOT_")}
    env.update(LEADBOT_DATA_DIR=str(settings.data_dir), LEADBOT_MASTER_KEY=MASTER_KEY,
               LEADBOT_ALLOW_PRIVATE_URLS="true", LEADBOT_REDIS_URL=settings.redis_url,
               PYTHONPATH=os.getcwd())
    if settings.database_url:
        env["LEADBOT_DATABASE_URL"] = settings.database_url
    return env


async def _start_worker(services, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "bot", "worker"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not any(w.endswith(f":{proc.pid}") for w in await live_workers(services.redis)):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the worker did not start"
        await asyncio.sleep(0.1)
    return proc


async def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)


async def test_killed_right_after_commit_and_redis_lost_the_event_is_still_sent(services, team, receiver,
                                                                                  env) -> None:
    await subscribe(services, team.tenant.id, receiver.url, ["lead.created"], receiver=receiver)
    committer = await asyncio.create_subprocess_exec(sys.executable, "-c", COMMIT_THEN_DIE, str(team.tenant.id),
                                                     env=env, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(committer.communicate(), 120)
    assert committer.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert await WebhookDelivery.filter(state=DeliveryState.PENDING).count() == 1
    assert receiver.received == []
    await services.redis.flushdb()  # whatever the dead process queued in Redis is gone as well

    worker = await _start_worker(services, env)
    try:
        await receiver.wait_for(1, timeout_s=60)
    finally:
        await _stop(worker)
    event = await WebhookEvent.get()
    assert [(r.event_id, r.event_type, r.signed) for r in receiver.received] == [
        (event.event_id, "lead.created", True)]
    assert (await WebhookDelivery.get()).state == DeliveryState.DELIVERED


async def test_a_worker_killed_in_the_middle_of_a_send_is_replaced_and_the_event_arrives_again(
        services, team, receiver, env) -> None:
    receiver.hang = lambda r: r.attempt == 1  # the first request gets no answer: the worker dies waiting
    await subscribe(services, team.tenant.id, receiver.url, ["lead.created"], receiver=receiver)
    worker = await _start_worker(services, env)
    try:
        await new_lead(services, team, "华东机械", "crm-1")
        deadline = time.monotonic() + 60
        while not receiver.received:
            assert time.monotonic() < deadline, "the worker never sent"
            await asyncio.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(worker.wait, 30)
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
