"""Time as a dependency: the one place production code reads the clock.

`Services.clock` is a `SystemClock` in the service and whatever a test passes (`open_services(settings, clock=…)`):
deadlines, working time, the ladder, the digest cron, the board's "today", token expiry and rate limits all ask it,
so a test decides whether it is Sunday morning or digest time instead of depending on the real hour.

- `now()`: an aware UTC datetime (arithmetic on instants is done in UTC, see `bot.calendar.worktime`);
- `today(tz)` / `wall(tz)`: the date / wall time in a tenant's zone;
- `time()`: epoch seconds (Redis scores, signatures, caches keyed by epoch);
- `monotonic()`: seconds for durations and timeouts;
- `sleep(s)`: waits (a `ManualClock` advances itself instead, so a test never waits for real).
"""

from __future__ import annotations

import asyncio
import time as _time
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime: ...

    def time(self) -> float: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...

    def wall(self, tz: tzinfo) -> datetime: ...

    def today(self, tz: tzinfo) -> date: ...


class _Zoned:
    """`wall` and `today` from `now`, shared by every clock."""

    def now(self) -> datetime:
        raise NotImplementedError

    def wall(self, tz: tzinfo) -> datetime:
        """The wall time in `tz` (an aware datetime in that zone)."""
        return self.now().astimezone(tz)

    def today(self, tz: tzinfo) -> date:
        """The date in `tz`: a tenant in Shanghai starts its day eight hours before UTC does."""
        return self.wall(tz).date()


class SystemClock(_Zoned):
    """The real clock: production's only reader of the operating system's time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return _time.time()

    def monotonic(self) -> float:
        return _time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock(_Zoned):
    """A clock that stands still until told otherwise: `set(at)` or `advance(…)`.

    `sleep(s)` advances it by `s` and yields once to the event loop, so code that waits (a retry pause, a lease
    renewal) runs at once while still seeing the time pass. `monotonic()` moves with every change, never backwards
    (setting the wall clock back, as an NTP step does, leaves it where it is).
    """

    def __init__(self, at: datetime | None = None) -> None:
        self._now = _aware(at) if at is not None else datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # a Tuesday, 10:00 CST
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def time(self) -> float:
        return self._now.timestamp()

    def monotonic(self) -> float:
        return self._mono

    def set(self, at: datetime) -> None:
        """Jump to `at` (aware; any zone)."""
        at = _aware(at)
        self._mono += max(0.0, (at - self._now).total_seconds())
        self._now = at

    def advance(self, delta: timedelta | float | None = None, **kwargs: float) -> datetime:
        """Move forward by a timedelta, a number of seconds, or timedelta keywords (`advance(minutes=5)`)."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta or 0, **kwargs)
        if step < timedelta(0):
            raise ValueError("a clock only advances; use set() to jump back")
        self._now += step
        self._mono += step.total_seconds()
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"


FrozenClock = ManualClock  # the same thing: it is frozen until a test moves it


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("an aware datetime is required (a naive one has no zone to be read in)")
    return at.astimezone(UTC)
