"""Taking back the jobs of a worker that died (SIGKILL, OOM, a lost machine) without waiting out arq's mark.

arq marks a job it starts as in progress for the longest timeout of any job function plus 10 s (over ten minutes
here, for the webhook maintenance job), and only then runs it again. A card click or a voice note caught in a
killed worker would wait that long. So every job also records which worker holds it (set by our worker in the
script that takes the job and sets arq's mark, `bot.runtime.dequeue`; under a plain arq worker, by `holding` in the
`job` wrapper), and `reclaim` — run by each worker as it starts and by a cron every few seconds — drops arq's mark
of every job whose holder is dead: arq then runs it again at once, as its next try (jobs are written to run twice).

A holder on this host is dead when its process is gone; on another host, when its heartbeat stopped
(`bot.runtime.worker_heartbeat`). A mark with no holder at all (the worker died between arq's mark and ours, or the
holder's lease lapsed) is taken back once it is older than a few seconds. Only jobs still queued are taken back, and
never a mark arq keeps alive on purpose: a finished cron run's mark is kept for `keep_cronjob_progress` (60 s), so
its TTL is at most that, which no running job's mark gets near while reclaimers run (its holder's lease would have
lapsed, and the job been taken back, minutes before). Reading such a mark's TTL as age was the "no holder after 550 s"
taken back on an idle service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

from arq import cron
from arq.constants import default_queue_name, in_progress_key_prefix, keep_cronjob_progress
from redis.asyncio import Redis

from bot.runtime import outbox
from bot.runtime.services import Services
from bot.runtime.worker_heartbeat import live_workers, worker_id
from storage import redis_keys

log = logging.getLogger(__name__)

# A mark with no holder may be a job that is just starting: left alone until it is this old.
UNHELD_GRACE_S = 10.0
# The holder's lease, and how often a running job renews it.
HOLD_TTL_S = 60.0
HOLD_RENEW_S = 15.0
# ctx key under which the worker publishes how long arq's in-progress marks last (to tell a mark's age).
IN_PROGRESS_S = "in_progress_timeout_s"
# ctx key set by a worker that marks the holder itself as it takes a job (`bot.runtime.dequeue`): the `job` wrapper
# then leaves the mark alone.
WORKER_MARKS_HOLDER = "worker_marks_holder"


async def renew_holding(redis: Redis, job_id: str, *, first_s: float = HOLD_RENEW_S) -> None:
    """Renew this process's holder mark of `job_id` after `first_s`, then every `HOLD_RENEW_S`, until cancelled."""
    key = redis_keys.JOB_HOLDER + job_id
    delay = first_s
    while True:
        await asyncio.sleep(delay)
        delay = HOLD_RENEW_S
        try:
            await redis.set(key, worker_id(), px=int(HOLD_TTL_S * 1000))
        except Exception as e:  # Redis away: the job itself will find out
            log.debug("holder mark of %s not renewed: %s", job_id, e)


@contextlib.asynccontextmanager
async def holding(redis: Redis, job_id: str) -> AsyncIterator[None]:
    """Record this process as the holder of `job_id` while the block runs (a job run by a worker that does not
    mark its holder as it takes it: `WORKER_MARKS_HOLDER`).

    The mark is a lease renewed every `HOLD_RENEW_S`: should the job end while Redis is away (its release lost),
    or the process freeze, the mark lapses by itself and the job is taken back, instead of looking held for as
    long as arq's own mark lasts.
    """
    key = redis_keys.JOB_HOLDER + job_id
    await redis.set(key, worker_id(), px=int(HOLD_TTL_S * 1000))
    renewing = asyncio.create_task(renew_holding(redis, job_id))
    try:
        yield
    finally:
        renewing.cancel()
        try:
            await redis.delete(key)
        except Exception as e:  # the lease lapses by itself
            log.warning("job %s: holder mark not removed: %s", job_id, e)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def holder_alive(holder: str, live: set[str]) -> bool:
    host, _, pid = holder.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return _pid_alive(int(pid))
    return holder in live


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def reclaim(redis: Redis, in_progress_s: float, *, now: float,
                  queue_name: str = default_queue_name) -> list[str]:
    """Drop arq's in-progress mark of every queued job whose holder is dead (no heartbeat near `now`, epoch
    seconds); returns their ids."""
    live = set(await live_workers(redis, now))
    taken: list[str] = []
    async for raw in redis.scan_iter(match=in_progress_key_prefix + "*", count=500):
        key = _text(raw)
        job_id = key[len(in_progress_key_prefix):]
        if await redis.zscore(queue_name, job_id) is None:
            continue  # finished: arq keeps a cron job's mark a while so no other worker runs it again
        holder = await redis.get(redis_keys.JOB_HOLDER + job_id)
        if holder is not None:
            if holder_alive(_text(holder), live):
                continue
            why = f"holder {_text(holder)} is gone"
        else:
            ttl_ms = await redis.pttl(key)
            age_s = in_progress_s - ttl_ms / 1000
            if ttl_ms < 0 or age_s < UNHELD_GRACE_S or ttl_ms <= keep_cronjob_progress * 1000:
                continue
            why = f"no holder after {age_s:.0f} s"
        # Only the mark: the job is still queued, so the next poll of any worker runs it again.
        await redis.delete(key, redis_keys.JOB_HOLDER + job_id)
        taken.append(job_id)
        log.warning("took back job %s: %s", job_id, why)
    return taken


async def reclaim_outbox(services: Services) -> list[int]:
    """Queue again, now, the outbox rows claimed by dead workers (a click's card update caught in a killed worker
    would otherwise wait out its claim, then find its code spent and send a second card)."""
    live = set(await live_workers(services.redis, services.clock.time()))
    freed = await outbox.release_dead_claims(lambda holder: holder_alive(holder, live), services.clock.now())
    for row_id, attempts in freed:
        await services.queue.enqueue("process_outbox", job_id=f"outbox-reclaim:{row_id}:{attempts}", ids=[row_id])
    return [row_id for row_id, _ in freed]


async def reclaim_jobs(ctx: dict[str, Any]) -> None:
    await reclaim(ctx["services"].redis, float(ctx[IN_PROGRESS_S]), now=ctx["services"].clock.time())
    await reclaim_outbox(ctx["services"])


CRON_JOBS = [cron(reclaim_jobs, name="reclaim_jobs", second=set(range(0, 60, 5)), unique=True, timeout=30)]
