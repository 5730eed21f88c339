"""A job queued for now starts at once, not at the worker's next poll: the queue wakes the worker of its own process
directly and announces the job in Redis for workers in other processes (a card click waits on this)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from arq.connections import ArqRedis

import bot.runtime.worker
from bot.jobs import job
from bot.runtime.queue import Queue
from bot.runtime.worker import running_worker
from storage.redis import connect

# Far beyond the waits below: a job that ran did not wait for a poll.
NEVER_S = 3600.0


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> asyncio.Queue[str]:
    done: asyncio.Queue[str] = asyncio.Queue()

    async def note(ctx: dict[str, Any], label: str) -> None:
        done.put_nowait(label)

    monkeypatch.setattr(bot.runtime.worker, "FUNCTIONS", [*bot.runtime.worker.FUNCTIONS, job()(note)])
    monkeypatch.setattr(bot.runtime.worker, "POLL_DELAY_S", NEVER_S)
    return done


async def test_a_job_queued_in_the_workers_own_process_starts_without_a_poll(services, ran) -> None:
    async with running_worker(services):
        await asyncio.sleep(0.2)  # the worker's first poll is behind it: the next would be an hour away
        await services.queue.enqueue("note", job_id="note:own", label="own")
        assert await asyncio.wait_for(ran.get(), 10) == "own"
        await services.queue.enqueue_once("dedup:note:once", 60, "note", label="once")
        assert await asyncio.wait_for(ran.get(), 10) == "once"


async def test_a_job_queued_by_another_process_starts_without_a_poll(services, ran) -> None:
    url = services.settings.redis_url or services.embedded.url
    other = connect(url, ArqRedis)  # another process's queue: its own connection, no waker of this worker
    try:
        queue = Queue(other, clock=services.clock)
        async with running_worker(services):
            await asyncio.sleep(0.5)  # first poll done, wake-up subscription open
            await queue.enqueue_once("dedup:note:other", 60, "note", label="other")
            assert await asyncio.wait_for(ran.get(), 10) == "other"
            await queue.enqueue("note", job_id="note:plain", label="plain")
            assert await asyncio.wait_for(ran.get(), 10) == "plain"
    finally:
        await other.aclose()
