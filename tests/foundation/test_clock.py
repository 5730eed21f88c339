"""The injected clock (issue 21): what production reads time through, and the manual clock tests drive."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.runtime.clock import Clock, FrozenClock, ManualClock, SystemClock

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")


def test_the_system_clock_reads_the_machine() -> None:
    c = SystemClock()
    before = datetime.now(UTC)
    now = c.now()
    assert now.tzinfo is UTC and before <= now <= datetime.now(UTC)
    assert abs(c.time() - time.time()) < 1
    assert abs(c.monotonic() - time.monotonic()) < 1
    assert c.wall(SH).utcoffset() == timedelta(hours=8) and c.today(SH) == datetime.now(SH).date()
    assert isinstance(c, Clock) and isinstance(ManualClock(), Clock)


async def test_the_system_clock_sleeps_for_real() -> None:
    c = SystemClock()
    started = c.monotonic()
    await c.sleep(0.05)
    assert c.monotonic() - started >= 0.04


def test_a_manual_clock_stands_still_until_moved() -> None:
    c = ManualClock(datetime(2026, 12, 6, 7, 30, tzinfo=SH))
    assert c.now() == c.now() == datetime(2026, 12, 5, 23, 30, tzinfo=UTC)
    assert c.now().tzinfo is UTC  # any zone in, UTC out: arithmetic on instants is done in UTC
    assert c.time() == c.now().timestamp()
    mono = c.monotonic()
    assert c.advance(minutes=30) == datetime(2026, 12, 6, 0, 0, tzinfo=UTC)
    assert c.advance(timedelta(hours=1)) == datetime(2026, 12, 6, 1, 0, tzinfo=UTC)
    assert c.advance(90) == datetime(2026, 12, 6, 1, 1, 30, tzinfo=UTC)
    assert c.monotonic() - mono == 30 * 60 + 3600 + 90
    with pytest.raises(ValueError, match="only advances"):
        c.advance(-1)
    assert FrozenClock is ManualClock


def test_today_is_the_tenants_date_not_utcs() -> None:
    c = ManualClock(datetime(2026, 12, 31, 23, 30, tzinfo=SH))  # New Year's Eve in Shanghai, 15:30 UTC
    assert c.today(SH) == date(2026, 12, 31) and c.today(UTC) == date(2026, 12, 31)
    c.advance(minutes=30)
    assert c.today(SH) == date(2027, 1, 1)  # the new year in Shanghai...
    assert c.today(UTC) == date(2026, 12, 31) and c.today(NY) == date(2026, 12, 31)  # ...not yet elsewhere
    assert c.wall(SH).hour == 0 and c.wall(SH).tzinfo == SH


def test_setting_the_time_back_leaves_monotonic_time_alone() -> None:
    c = ManualClock()
    mono = c.monotonic()
    c.set(c.now() - timedelta(hours=2))  # an NTP step backwards
    assert c.monotonic() == mono
    c.set(c.now() + timedelta(hours=3))
    assert c.monotonic() == mono + 3 * 3600


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        ManualClock(datetime(2026, 12, 6, 7, 30))
    with pytest.raises(ValueError, match="aware"):
        ManualClock().set(datetime(2026, 12, 6, 7, 30))


async def test_a_manual_sleep_advances_the_clock_and_lets_others_run() -> None:
    c = ManualClock()
    start = c.now()
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    task = asyncio.create_task(other())
    await c.sleep(300)  # returns at once, five minutes later
    assert c.now() - start == timedelta(minutes=5) and ran == ["other"]
    await task
    await c.sleep(-1)  # a negative pause is no pause
    assert c.now() - start == timedelta(minutes=5)


async def test_services_read_the_clock_they_were_given(settings) -> None:
    from bot.runtime.services import open_services

    c = ManualClock(datetime(2026, 10, 1, 10, 30, tzinfo=SH))
    async with open_services(settings, clock=c) as s:
        assert s.clock is c and s.queue.clock is c and s.apps.clock is c
        assert s.broker._clock() == c.time()
        other = ManualClock()
        s.use_clock(other)
        assert s.clock is other and s.queue.clock is other and s.broker._clock() == other.time()
