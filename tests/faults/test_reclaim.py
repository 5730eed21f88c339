"""Which in-progress marks the reclaimer drops: those of queued jobs whose holder is dead (on real Redis, with real
processes standing in for live and dead holders)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from arq.constants import default_queue_name, in_progress_key_prefix
from redis.asyncio import Redis

from bot.jobs import reclaim
from bot.runtime.worker_heartbeat import beat, worker_id
from storage import redis_keys

IN_PROGRESS_S = 610.0


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def running(redis: Redis, job_id: str, holder: str | None, *, age_s: float = 0.0, queued: bool = True) -> None:
    """arq's marks for a job started `age_s` ago, held by `holder`."""
    if queued:
        await redis.zadd(default_queue_name, {job_id: 1})
    await redis.psetex(in_progress_key_prefix + job_id, int((IN_PROGRESS_S - age_s) * 1000), b"1")
    if holder is not None:
        await redis.set(redis_keys.JOB_HOLDER + job_id, holder)


async def test_marks_of_dead_holders_are_dropped_and_the_rest_kept(redis: Redis) -> None:
    here = socket.gethostname()
    await beat(redis, "other-host:4242", time.time())  # a live worker elsewhere
    await running(redis, "mine", worker_id())
    await running(redis, "killed", f"{here}:{dead_pid()}")
    await running(redis, "elsewhere-live", "other-host:4242")
    await running(redis, "elsewhere-silent", "third-host:77")  # no heartbeat at all
    await running(redis, "just-starting", None, age_s=1)
    await running(redis, "orphan", None, age_s=reclaim.UNHELD_GRACE_S + 5)
    await running(redis, "finished-cron", None, age_s=550, queued=False)

    taken = await reclaim.reclaim(redis, IN_PROGRESS_S, now=time.time())

    assert sorted(taken) == ["elsewhere-silent", "killed", "orphan"]
    left = {k.decode().removeprefix(in_progress_key_prefix)
            async for k in redis.scan_iter(in_progress_key_prefix + "*")}
    assert left == {"mine", "elsewhere-live", "just-starting", "finished-cron"}
    assert await redis.zcard(default_queue_name) == 6  # the jobs themselves stay queued, to be run again


async def test_a_holder_mark_is_a_lease_that_goes_with_the_job(redis: Redis) -> None:
    async with reclaim.holding(redis, "job-1"):
        assert (await redis.get(redis_keys.JOB_HOLDER + "job-1")).decode() == worker_id()
        assert 0 < await redis.pttl(redis_keys.JOB_HOLDER + "job-1") <= reclaim.HOLD_TTL_S * 1000
    assert await redis.get(redis_keys.JOB_HOLDER + "job-1") is None


async def test_a_finished_cron_runs_kept_alive_mark_is_not_taken_back(redis: Redis, caplog) -> None:
    """arq keeps a finished cron run's mark for a minute; its TTL is not age (issue 23: "took back job
    sweep_outbox:…: no holder after 550 s", six times in six minutes on an idle service)."""
    from arq.constants import keep_cronjob_progress

    await redis.zadd(default_queue_name, {"sweep_outbox:1700000000000": 1})  # a copy another worker queued
    await redis.psetex(in_progress_key_prefix + "sweep_outbox:1700000000000", keep_cronjob_progress * 1000, b"1")
    with caplog.at_level("WARNING", logger="bot.jobs.reclaim"):
        assert await reclaim.reclaim(redis, IN_PROGRESS_S, now=time.time()) == []
    assert "took back" not in caplog.text
    assert await redis.exists(in_progress_key_prefix + "sweep_outbox:1700000000000")


async def test_a_later_workers_cron_does_not_queue_a_finished_run_again(services) -> None:
    """Two workers' crons enqueue the same run id a moment apart; once the run finished, the second must be
    refused (a kept result), or it waits behind the finished run's mark and runs twice."""
    import dataclasses
    from datetime import UTC, datetime

    from arq import Worker
    from arq.connections import ArqRedis

    from bot.runtime import worker as wiring
    from storage.redis import connect

    sweep = next(c for c in wiring.CRON_JOBS if c.name == "sweep_outbox")
    url = services.settings.redis_url or services.embedded.url
    now = datetime.now(UTC)
    workers = []
    for _ in range(2):
        w = Worker(functions=[], cron_jobs=[dataclasses.replace(sweep, next_run=None)], burst=True,
                   redis_pool=connect(url, ArqRedis), ctx={"services": services, reclaim.IN_PROGRESS_S: IN_PROGRESS_S},
                   handle_signals=False, poll_delay=0.01)
        workers.append(w)
    first, second = workers
    await first.run_cron(now, 0.5)  # run at startup: queued for `now`
    [job_id] = [j.decode() async for j in services.redis.zscan_iter(default_queue_name, match="sweep_outbox:*")
                for j in [j[0]]]
    await first.main()  # runs it (burst: until nothing is due)
    assert await services.redis.zscore(default_queue_name, job_id) is None
    assert await services.redis.exists(in_progress_key_prefix + job_id)  # arq's kept-alive mark

    await second.run_cron(now, 0.5)  # the other worker's cron, a moment behind, for the same run
    assert await services.redis.zscore(default_queue_name, job_id) is None
    for w in workers:
        await w.close()
