"""Worker liveness in Redis: each worker scores its id with the time of its last beat in one sorted set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from redis.asyncio import Redis

from bot.runtime.clock import Clock
from storage import redis_keys

log = logging.getLogger(__name__)

BEAT_EVERY_S = 10.0
STALE_AFTER_S = 30.0


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


async def beat(redis: Redis, wid: str, now: float) -> None:
    """Say `wid` is alive at `now` (epoch seconds, the services' clock)."""
    pipe = redis.pipeline(transaction=False)
    pipe.zadd(redis_keys.WORKERS, {wid: now})
    pipe.zremrangebyscore(redis_keys.WORKERS, "-inf", now - 10 * STALE_AFTER_S)
    await pipe.execute()


async def beat_forever(redis: Redis, wid: str, clock: Clock) -> None:
    while True:
        try:
            await beat(redis, wid, clock.time())
        except Exception as e:  # Redis down: keep trying, readiness will show it
            log.warning("worker heartbeat failed: %s", e)
        await asyncio.sleep(BEAT_EVERY_S)  # a real pause: a test's stopped clock must not make this spin


async def stop_beating(redis: Redis, wid: str) -> None:
    with contextlib.suppress(Exception):
        await redis.zrem(redis_keys.WORKERS, wid)


async def live_workers(redis: Redis, now: float) -> list[str]:
    """The workers that beat within `STALE_AFTER_S` of `now` (epoch seconds)."""
    ids = await redis.zrangebyscore(redis_keys.WORKERS, now - STALE_AFTER_S, "+inf")
    return [i.decode() if isinstance(i, bytes) else i for i in ids]
