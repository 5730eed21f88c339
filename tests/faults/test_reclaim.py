"""Which in-progress marks the reclaimer drops: those of queued jobs whose holder is dead (on real Redis, with real
processes standing in for live and dead holders)."""

from __future__ import annotations

import socket
import subprocess
import sys

from arq.constants import default_queue_name, in_progress_key_prefix
from redis.asyncio import Redis

from bot.jobs import reclaim
from bot.worker_heartbeat import beat, worker_id
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
    await beat(redis, "other-host:4242")  # a live worker elsewhere
    await running(redis, "mine", worker_id())
    await running(redis, "killed", f"{here}:{dead_pid()}")
    await running(redis, "elsewhere-live", "other-host:4242")
    await running(redis, "elsewhere-silent", "third-host:77")  # no heartbeat at all
    await running(redis, "just-starting", None, age_s=1)
    await running(redis, "orphan", None, age_s=reclaim.UNHELD_GRACE_S + 5)
    await running(redis, "finished-cron", None, age_s=550, queued=False)

    taken = await reclaim.reclaim(redis, IN_PROGRESS_S)

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
