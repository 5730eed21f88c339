"""The worker takes its jobs in one script a poll (`bot.runtime.dequeue`): still at most one worker starts a job, a
running job names its holder for the reclaimer, and what a job leaves in Redis is what arq leaves, read by arq's own
tools; retries and tries are counted as arq counts them."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from arq import Retry
from arq.connections import ArqRedis
from arq.constants import in_progress_key_prefix, job_key_prefix, retry_key_prefix
from arq.jobs import Job, JobStatus

from bot.jobs import job, reclaim
from bot.runtime.dequeue import TakingWorker
from bot.runtime.worker_heartbeat import worker_id
from storage import redis_keys
from storage.redis import connect


def taking_worker(redis_url: str, functions: list[Any], **kwargs: Any) -> TakingWorker:
    kwargs = {"burst": True, "poll_delay": 0.01, "max_jobs": 10, **kwargs}
    return TakingWorker(functions=functions, redis_pool=connect(redis_url, ArqRedis), handle_signals=False,
                        ctx={reclaim.IN_PROGRESS_S: 60.0}, **kwargs)


async def run_workers(*workers: TakingWorker) -> None:
    try:
        await asyncio.gather(*(w.main() for w in workers))
    finally:
        for w in workers:
            await w.close()


async def test_two_workers_polling_one_queue_never_start_the_same_job(redis, redis_url: str) -> None:
    runs: Counter[int] = Counter()

    async def work(ctx: dict[str, Any], n: int) -> None:
        runs[n] += 1
        await asyncio.sleep(0.02)  # still queued while it runs: the other worker sees it due at its next poll

    queue = connect(redis_url, ArqRedis)
    for n in range(60):
        await queue.enqueue_job("work", n, _job_id=f"work:{n}")
    await queue.aclose()

    await run_workers(taking_worker(redis_url, [job()(work)]), taking_worker(redis_url, [job()(work)]))

    assert runs == Counter(range(60))


async def test_a_running_job_names_its_holder_and_a_finished_one_leaves_what_arq_leaves(redis, redis_url: str) -> None:
    seen: dict[str, Any] = {}

    async def look(ctx: dict[str, Any]) -> str:
        seen["holder"] = await redis.get(redis_keys.JOB_HOLDER + ctx["job_id"])
        seen["holder_ms"] = await redis.pttl(redis_keys.JOB_HOLDER + ctx["job_id"])
        seen["in_progress"] = await redis.exists(in_progress_key_prefix + ctx["job_id"])
        return "looked"

    queue = connect(redis_url, ArqRedis)
    try:
        queued = await queue.enqueue_job("look", _job_id="look:1")
        assert queued is not None
        await run_workers(taking_worker(redis_url, [job()(look)], keep_result=60))

        assert seen["holder"].decode() == worker_id()
        assert 0 < seen["holder_ms"] <= reclaim.HOLD_TTL_S * 1000
        assert seen["in_progress"]
        # Nothing of the run is left but its result, which arq's own Job reads.
        for key in (redis_keys.JOB_HOLDER, in_progress_key_prefix, job_key_prefix, retry_key_prefix):
            assert not await redis.exists(key + "look:1")
        assert await queue.zcard("arq:queue") == 0
        assert await queued.status() == JobStatus.complete
        assert await Job("look:1", queue).result(timeout=1) == "looked"
    finally:
        await queue.aclose()


async def test_a_long_job_keeps_renewing_its_holder_mark(redis, redis_url: str, monkeypatch) -> None:
    # Renewed ten times a lease: a loop stalled by a loaded machine (tests run in parallel) for most of a lease does
    # not let the mark lapse, which 0.05 s against a 0.2 s lease did once under `-n 2`.
    monkeypatch.setattr(reclaim, "HOLD_RENEW_S", 0.05)
    monkeypatch.setattr(reclaim, "HOLD_TTL_S", 0.5)
    held: list[bool] = []

    async def slow(ctx: dict[str, Any]) -> None:
        for _ in range(15):  # 1.5 s: three times the mark's lease
            await asyncio.sleep(0.1)
            held.append(bool(await redis.exists(redis_keys.JOB_HOLDER + ctx["job_id"])))

    queue = connect(redis_url, ArqRedis)
    await queue.enqueue_job("slow", _job_id="slow:1")
    await queue.aclose()
    await run_workers(taking_worker(redis_url, [job()(slow)]))

    assert held == [True] * 15
    await asyncio.sleep(0.1)  # a renewal would have come by now
    assert not await redis.exists(redis_keys.JOB_HOLDER + "slow:1")


@pytest.mark.parametrize("own_failures, outcome", [(2, JobStatus.complete), (5, None)])
async def test_a_jobs_tries_are_counted_as_arq_counts_them(redis, redis_url: str, own_failures: int,
                                                            outcome: JobStatus | None) -> None:
    tries: list[int] = []

    async def picky(ctx: dict[str, Any]) -> str:
        tries.append(ctx["job_try"])
        if len(tries) <= own_failures:
            raise Retry(defer=0)
        return "done"

    queue = connect(redis_url, ArqRedis)
    try:
        queued = await queue.enqueue_job("picky", _job_id="picky:1")
        assert queued is not None
        worker = taking_worker(redis_url, [job(max_tries=3)(picky)], keep_result=60)
        await run_workers(worker)

        if outcome is JobStatus.complete:
            assert tries == [1, 2, 3]
            assert await queued.result(timeout=1) == "done"
        else:  # out of tries: failed as arq fails it, the mark and the job gone
            assert tries == [1, 2, 3]
            assert worker.jobs_failed == 1
            with pytest.raises(Exception, match="max 3 retries exceeded"):
                await queued.result(timeout=1)
        assert not await redis.exists(redis_keys.JOB_HOLDER + "picky:1", in_progress_key_prefix + "picky:1")
    finally:
        await queue.aclose()
