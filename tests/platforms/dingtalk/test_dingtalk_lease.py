"""The Redis lease behind "one Stream connection per app", and the reconnect backoff."""

from __future__ import annotations

import asyncio

import pytest

from bot.platforms.dingtalk.stream import backoff_delay_s
from bot.platforms.lease import RedisLease

KEY = "leadbot:lease:test"


async def test_one_holder_at_a_time(redis):
    a, b = RedisLease(redis, KEY, "a", ttl_s=5), RedisLease(redis, KEY, "b", ttl_s=5)
    assert await a.try_acquire()
    assert not await b.try_acquire()
    assert await a.current_holder() == "a"


async def test_only_the_holder_renews_or_releases(redis):
    a, b = RedisLease(redis, KEY, "a", ttl_s=5), RedisLease(redis, KEY, "b", ttl_s=5)
    await a.try_acquire()
    assert not await b.renew()
    await b.release()
    assert await a.current_holder() == "a"
    assert await a.renew()
    await a.release()
    assert await redis.get(KEY) is None


async def test_an_expired_lease_is_taken_over(redis):
    a, b = RedisLease(redis, KEY, "a", ttl_s=0.2), RedisLease(redis, KEY, "b", ttl_s=0.2)
    await a.try_acquire()
    stop = asyncio.Event()
    assert await asyncio.wait_for(b.acquire(stop, poll_s=0.05), 5)
    assert await b.current_holder() == "b"
    assert not await a.renew()  # the old holder cannot extend what is no longer its lease


async def test_keep_reports_a_stolen_lease(redis):
    a = RedisLease(redis, KEY, "a", ttl_s=0.3)
    await a.try_acquire()
    lost, stop = asyncio.Event(), asyncio.Event()
    keeper = asyncio.create_task(a.keep(lost, stop))
    await redis.set(KEY, "intruder")
    await asyncio.wait_for(lost.wait(), 5)
    await keeper


async def test_keep_holds_the_lease_past_its_ttl(redis):
    a, b = RedisLease(redis, KEY, "a", ttl_s=0.3), RedisLease(redis, KEY, "b", ttl_s=0.3)
    await a.try_acquire()
    lost, stop = asyncio.Event(), asyncio.Event()
    keeper = asyncio.create_task(a.keep(lost, stop))
    await asyncio.sleep(1.0)
    assert not await b.try_acquire() and not lost.is_set()
    stop.set()
    await keeper


async def test_acquire_gives_up_when_stopped(redis):
    a, b = RedisLease(redis, KEY, "a", ttl_s=30), RedisLease(redis, KEY, "b", ttl_s=30)
    await a.try_acquire()
    stop = asyncio.Event()
    waiting = asyncio.create_task(b.acquire(stop, poll_s=0.05))
    stop.set()
    assert await asyncio.wait_for(waiting, 5) is False


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [
        (0, 0.7, 0.0),
        (-3, 0.7, 0.0),
        (1, 0.0, 0.5),
        (1, 1.0, 1.0),
        (2, 0.5, 1.5),
        (3, 0.0, 2.0),
        (7, 1.0, 60.0),
        (30, 0.0, 30.0),
    ],
)
def test_backoff(attempt, rand, expected):
    assert backoff_delay_s(attempt, base_s=1.0, max_s=60.0, rand=lambda: rand) == expected
