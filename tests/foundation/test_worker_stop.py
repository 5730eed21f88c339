"""Stopping a worker while a job is still running: the stop does not fail, and the job is left to run again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from arq.constants import default_queue_name, result_key_prefix

import bot.runtime.worker
from bot.jobs import job
from bot.runtime.worker import running_worker


async def test_a_job_cut_short_by_the_stop_does_not_fail_the_stop(services, monkeypatch: pytest.MonkeyPatch) -> None:
    started = asyncio.Event()

    async def slow(ctx: dict[str, Any]) -> None:
        started.set()
        await asyncio.sleep(60)

    monkeypatch.setattr(bot.runtime.worker, "FUNCTIONS", [*bot.runtime.worker.FUNCTIONS, job()(slow)])
    monkeypatch.setattr(bot.runtime.worker, "SHUTDOWN_GRACE_S", 0.2)
    await services.queue.enqueue("slow", job_id="slow:1")
    async with running_worker(services):
        await asyncio.wait_for(started.wait(), 10)
    # the stop returned; the job is queued again for the next worker, with no failed result on record
    assert await services.redis.zscore(default_queue_name, "slow:1") is not None
    assert not await services.redis.exists(result_key_prefix + "slow:1")


async def test_a_job_cut_short_between_arqs_redis_calls_does_not_fail_the_stop(
        services, monkeypatch: pytest.MonkeyPatch) -> None:
    """arq catches a cancellation inside the job's function, not in its Redis calls around it (booking the try,
    recording the result): a job task cancelled there ends cancelled, and arq's close() re-raised that."""
    monkeypatch.setattr(bot.runtime.worker, "SHUTDOWN_GRACE_S", 0.2)
    async with running_worker(services) as worker:
        # as a task arq started for a job the poll fetched just as picking stopped, still in its first Redis call
        worker.tasks["late:1"] = asyncio.create_task(asyncio.sleep(60))
    assert worker.tasks == {}
