"""A job that meets the database or Redis down waits and tries again without using up its tries: a long outage
does not fail the callbacks queued before it; a job's own failures still stop at its max_tries."""

from __future__ import annotations

from typing import Any

import pytest
from arq import Retry, Worker
from arq.connections import ArqRedis
from arq.constants import default_queue_name

import bot.jobs
from bot.jobs import job
from storage import redis_keys
from storage.redis import connect

MAX_TRIES = 3


class Flaky:
    """A job that meets an outage on its first `outages` runs (a refused connection, as asyncpg raises it)."""

    def __init__(self, outages: int, *, own_failures: int = 0) -> None:
        self.outages, self.own_failures, self.runs = outages, own_failures, 0

    async def __call__(self, ctx: dict[str, Any]) -> str:
        self.runs += 1
        if self.runs <= self.outages:
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")
        if self.runs <= self.outages + self.own_failures:
            raise Retry(defer=0)  # the job's own "not yet": counted against max_tries
        return "done"


async def run(services, flaky: Flaky) -> tuple[int, int]:
    """Queue the job once and let a burst worker run it until it is done or given up; (completed, failed)."""
    flaky.__name__ = "flaky"  # type: ignore[attr-defined]
    url = services.settings.redis_url or services.embedded.url
    pool = connect(url, ArqRedis)
    await pool.enqueue_job("flaky", _job_id="flaky:1")
    worker = Worker(functions=[job()(flaky)], redis_pool=pool, ctx={"services": services}, burst=True,
                    max_tries=MAX_TRIES, poll_delay=0.01, handle_signals=False, keep_result=60)
    try:
        await worker.main()
        return worker.jobs_complete, worker.jobs_failed
    finally:
        await worker.close()


@pytest.fixture
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.jobs, "OUTAGE_DEFER_MAX_S", 0)  # the backoff's shape is not what these tests are about


@pytest.mark.usefixtures("no_waiting")
async def test_an_outage_longer_than_the_jobs_tries_does_not_fail_it(services) -> None:
    flaky = Flaky(outages=MAX_TRIES * 4)
    assert await run(services, flaky) == (1, 0)
    assert flaky.runs == MAX_TRIES * 4 + 1
    assert int(await services.redis.get(redis_keys.JOB_OUTAGES + "flaky:1")) == MAX_TRIES * 4
    assert await services.redis.zcard(default_queue_name) == 0


@pytest.mark.usefixtures("no_waiting")
async def test_the_jobs_own_retries_still_stop_at_max_tries_after_an_outage(services) -> None:
    flaky = Flaky(outages=5, own_failures=10)
    assert await run(services, flaky) == (0, 1)
    assert flaky.runs == 5 + MAX_TRIES  # the outage's tries were given back; its own were not


@pytest.mark.usefixtures("no_waiting")
async def test_past_the_outage_budget_the_tries_count_again(services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.jobs, "OUTAGE_TRIES", 4)
    flaky = Flaky(outages=100)
    assert await run(services, flaky) == (0, 1)
    assert flaky.runs == 4 + MAX_TRIES


def test_the_wait_doubles_up_to_a_minute() -> None:
    assert [bot.jobs.outage_defer_s(n) for n in (1, 2, 3, 5, 6, 64)] == [2, 4, 8, 32, 60, 60]
