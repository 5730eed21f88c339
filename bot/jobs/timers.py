"""Timers: deferred arq jobs for response-lock steps and alert ack timeouts, armed idempotently, re-armed from the
database, and the jobs, crons and outbox handlers that run them.

A timer is an arq job with a deterministic id queued at its time. `arm` writes arq's own structures (the job hash
and the queue entry) with one Lua script per timer, pipelined, so 100 000 timers arm in seconds and a timer armed
twice is queued once. Redis may lose timers (a restart without persistence, FLUSHALL, a failover) but the database
knows every pending one:
- every process re-arms all pending timers when it starts (`rearm_all`), and so does the auditor when the sentinel
  key it leaves behind has disappeared (Redis lost data while we were running);
- between those, the auditor re-arms timers overdue by more than a grace period (a job lost on its own), and after
  a job's own timeout takes back a timer whose job died with its worker (its in-progress mark would otherwise hold
  it for the worker-wide timeout; a job running in a live worker carries a mark of its own) or failed for good.
A run that finds its row moved on does nothing (`bot.alerting.deadlines`, `bot.alerting.alerts` fence every run), so
re-arming too much is harmless; re-arming too little is what the auditor exists to prevent.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from arq import cron
from arq.constants import (
    default_queue_name,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.jobs import serialize_job
from redis.asyncio import Redis

from bot.alerting import alerts, deadlines
from bot.alerting.ladder import Timer
from bot.jobs import job, services
from bot.runtime import outbox
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.queue import JOB_TTL_MS
from bot.runtime.services import Services
from storage import redis_keys
from storage.models import Outbox

log = logging.getLogger(__name__)

# KEYS: job, result, queue, in-progress, retry, running. ARGV: job ttl ms, serialized job, score ms, job id, force.
# Plain: skip a timer that is queued, running or has run. Force: a timer marked in progress by arq whose job is
# not running in any live worker (no `running` mark: its worker died), or whose run failed (a result is kept), has
# those marks dropped and is queued again; one merely queued, or running, is left alone.
_ARM = """
if ARGV[5] == '1' then
  if redis.call('EXISTS', KEYS[6]) == 1 then
    return 0
  end
  if redis.call('EXISTS', KEYS[2], KEYS[4]) > 0 then
    redis.call('DEL', KEYS[2], KEYS[4], KEYS[5])
  elseif redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
  end
elseif redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('PSETEX', KEYS[1], ARGV[1], ARGV[2])
end
redis.call('ZADD', KEYS[3], 'NX', ARGV[3], ARGV[4])
return 1
"""
BATCH = 2000
# Short job timeouts: a worker killed mid-job leaves its job marked as running for the worker-wide timeout (minutes);
# the auditor takes such a timer back once its own job timeout has passed, so these bound how late it can be.
FIRE_TIMEOUT_S = 30.0
ADVANCE_TIMEOUT_S = 90.0
# Overdue by this much, a timer's job is re-armed if missing; by its job's timeout plus this, it is taken back.
GRACE_S = 30.0
SYSTEM = SystemClock()
# Per pass and kind: a backlog of overdue rows (workers behind) must not make the auditor a load of its own.
AUDIT_LIMIT = 1000


async def arm(redis: Redis, timers: Iterable[Timer], *, force: bool = False,
              queue_name: str = default_queue_name, clock: Clock | None = None) -> int:
    """Queue each timer unless it is queued, running or ran already; returns how many were queued.

    `force` is for timers overdue beyond their job's timeout: a job still marked as running belongs to a dead
    worker, and a kept result means the run failed, so both marks are dropped and the timer queued again.
    `clock` stamps the jobs' enqueue time and their keys' lifetime (arq's own clock, the system's, by default).
    """
    armed = 0
    now_ms = int((clock or SYSTEM).time() * 1000)
    it = iter(timers)
    while chunk := list(islice(it, BATCH)):
        sha = await redis.script_load(_ARM)  # again per batch: a restarted Redis has lost its script cache
        pipe = redis.pipeline(transaction=False)
        for t in chunk:
            score = int(t.run_at.timestamp() * 1000)
            payload = serialize_job(t.function, (), dict(t.kwargs), None, now_ms)
            keys = [job_key_prefix + t.job_id, result_key_prefix + t.job_id, queue_name,
                    in_progress_key_prefix + t.job_id, retry_key_prefix + t.job_id,
                    redis_keys.TIMER_RUNNING + t.job_id]
            args: list[Any] = [max(0, score - now_ms) + JOB_TTL_MS, payload, score, t.job_id, "1" if force else "0"]
            pipe.evalsha(sha, len(keys), *keys, *args)
        armed += sum(int(x) for x in await pipe.execute())
    return armed


async def arm_on(s: Services, timers: Iterable[Timer], *, force: bool = False) -> int:
    """`arm` on the services' Redis and clock."""
    return await arm(s.redis, timers, force=force, clock=s.clock)


async def rearm_all(s: Services) -> int:
    """Re-arm every pending deadline step and every open alert's next move, from the database."""
    started = time.perf_counter()
    count = 0
    async for page in deadlines.pending_timers():
        count += await arm_on(s, page)
    async for page in alerts.open_timers():
        count += await arm_on(s, page)
    # Left behind only once every timer is armed: its absence tells the auditor Redis lost data since.
    await s.redis.set(redis_keys.TIMERS_ARMED, s.clock.now().isoformat())
    log.info("timers re-armed from the database: %d queued again in %.1fs", count, time.perf_counter() - started)
    return count


async def audit(s: Services, now: datetime | None = None) -> int:
    """The auditor's pass: everything after a data loss, else the overdue and the dead."""
    now = now or s.clock.now()
    if not await s.redis.exists(redis_keys.TIMERS_ARMED):
        log.warning("timer sentinel missing: Redis lost data, re-arming every pending timer")
        return await rearm_all(s)
    grace = timedelta(seconds=GRACE_S)
    count = await arm_on(s, await deadlines.overdue_timers(now - grace, AUDIT_LIMIT))
    count += await arm_on(s, await alerts.overdue_timers(now - grace, AUDIT_LIMIT))
    count += await arm_on(s, await deadlines.overdue_timers(now - grace - timedelta(seconds=FIRE_TIMEOUT_S),
                                                            AUDIT_LIMIT), force=True)
    count += await arm_on(s, await alerts.overdue_timers(now - grace - timedelta(seconds=ADVANCE_TIMEOUT_S),
                                                         AUDIT_LIMIT), force=True)
    if count:
        log.warning("auditor re-armed %d overdue timer(s)", count)
    return count


# --- jobs -------------------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _running(ctx: dict[str, Any], timeout_s: float) -> AsyncIterator[Services]:
    """Mark the job as running in a live worker while it runs (at most its timeout): the auditor leaves it alone."""
    s = services(ctx)
    key = redis_keys.TIMER_RUNNING + str(ctx.get("job_id"))
    await s.redis.set(key, "1", px=int((timeout_s + GRACE_S) * 1000))
    try:
        yield s
    finally:
        await s.redis.delete(key)


@job(timeout_s=FIRE_TIMEOUT_S, max_tries=5)
async def fire_deadline(ctx: dict[str, Any], deadline_id: int, fence: int, step: int) -> None:
    async with _running(ctx, FIRE_TIMEOUT_S) as s:
        await arm_on(s, await deadlines.run_step(s, deadline_id, fence, step))


@job(timeout_s=ADVANCE_TIMEOUT_S, max_tries=5)
async def advance_alert(ctx: dict[str, Any], alert_id: int, index: int) -> None:
    async with _running(ctx, ADVANCE_TIMEOUT_S) as s:
        # A later try of this job means an earlier one died mid-attempt (its worker killed): its lease is void.
        retried = int(ctx.get("job_try") or 1) > 1
        await arm_on(s, await alerts.advance(s, alert_id, index, retried=retried))


@job(timeout_s=60, quiet=True)
async def audit_timers(ctx: dict[str, Any]) -> None:
    await audit(services(ctx))


@job(timeout_s=300, quiet=True)
async def check_stale_deals(ctx: dict[str, Any]) -> None:
    s = services(ctx)
    await arm_on(s, await deadlines.check_stale_deals(s.clock.now()))


# --- outbox follow-ups (written by bot.leads.service and bot.alerting.deadlines; listed in bot.runtime.wiring) -----

# The deadline row is written in the lead change's transaction (an API reader never sees an assigned lead without
# its deadline); the follow-up then finds it written and arms its timer in Redis. A cancel has no Redis part (the
# timer finds its deadline cancelled and does nothing): done with the change, its row is stored done.


async def arm_lock_followup(s: Services, row: Outbox) -> None:
    await arm_on(s, await deadlines.arm_lock(row.tenant_id, outbox.payload(row)))


async def cancel_lock_followup(s: Services, row: Outbox) -> None:
    await deadlines.cancel_lock(row.tenant_id, outbox.payload(row))


async def notify_followup(s: Services, row: Outbox) -> None:
    """The workflow's Notify: an alert to one person, keyed by the outbox row so a rerun raises it once."""
    await arm_on(s, await alerts.raise_alert(row.tenant_id, alerts.notify_spec(row.id, outbox.payload(row)),
                                             now=s.clock.now()))


async def escalate_followup(s: Services, row: Outbox) -> None:
    await deadlines.hand_over(s, row.tenant_id, outbox.payload(row))


FUNCTIONS = [fire_deadline, advance_alert]
CRON_JOBS = [
    cron(audit_timers.coroutine, name="audit_timers", second=set(range(0, 60, 10)), unique=True, timeout=60),
    cron(check_stale_deals.coroutine, name="check_stale_deals", minute=set(range(0, 60, 10)), second=30, unique=True,
         timeout=300),
]
