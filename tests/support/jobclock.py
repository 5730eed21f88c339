"""The job queue as a controllable clock: deferred arq jobs (response locks, alert ack timeouts) made due.

On services with a `ManualClock` (tests/support/clock.py) the clock itself moves to `until`: the jobs come due
because their time has come, and they see that time. On the system clock, they are made due now instead (they run
sooner than their time). Works with a burst worker (`bot.runtime.worker.drain`) and with a worker running in the background
alike: either way a job runs through arq's own queue.
"""

from __future__ import annotations

from datetime import datetime

from arq.constants import default_queue_name

from bot.runtime.clock import ManualClock
from bot.runtime.services import Services
from bot.runtime.worker import drain


async def queued(services: Services) -> dict[str, float]:
    """Job id -> the epoch second it is due."""
    rows = await services.redis.zrange(default_queue_name, 0, -1, withscores=True)
    return {(k.decode() if isinstance(k, bytes) else k): v / 1000 for k, v in rows}


async def fast_forward(services: Services, until: datetime) -> int:
    """Every deferred job due by `until` becomes due: the controllable clock of the timer tests."""
    now_ms = int(services.clock.time() * 1000)
    ids = await services.redis.zrangebyscore(default_queue_name, now_ms, int(until.timestamp() * 1000))
    if isinstance(services.clock, ManualClock):
        if until > services.clock.now():
            services.clock.set(until)
        return len(ids)
    if ids:
        await services.redis.zadd(default_queue_name, {i: now_ms for i in ids}, xx=True)
    return len(ids)


async def run_until(services: Services, until: datetime) -> int:
    """Fast-forward to `until` and run what is due, repeatedly (a run may arm a timer that is due by then)."""
    ran = 0
    for _ in range(20):
        await fast_forward(services, until)
        done = await drain(services)
        ran += done
        if not done:
            break
    return ran
