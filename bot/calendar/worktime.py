"""Working-time arithmetic on a tenant's calendar: office hours, lunch break, weekends, Chinese holidays and 调休.

Response-lock deadlines count working time only: a lead assigned on Friday at 17:30 with a 2 h limit is due on
Monday at 10:30 (or later if Monday is a holiday). Day status comes from, in order: the tenant's overrides, the
official schedule an admin loaded for that year (`bot.calendar.holidays`: the State Council announces next year's
holidays late in the year), the `chinese_calendar` package (public holidays and the make-up workdays that fall on
weekends),
then plain weekends for a year nobody knows yet.

Pure: no clock, no I/O. Aware datetimes in, aware datetimes in the tenant's zone out. Arithmetic is done on UTC
instants because subtracting two aware datetimes that share a tzinfo object compares wall clocks, which is wrong
across a DST change.
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from bot.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_HOURS: tuple[tuple[time, time], ...] = ((time(9, 0), time(12, 0)), (time(13, 30), time(18, 0)))
# A calendar with no working day in ten years is misconfigured; stop looking instead of looping forever.
_MAX_SEARCH_DAYS = 3660
_warned_years: set[int] = set()

TimeLike = time | str


def _parse_time(value: TimeLike) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(value)
    except (TypeError, ValueError):
        raise ConfigError(f"working hours: {value!r} is not a time of day like '09:00'") from None


def _parse_hours(hours: Sequence[tuple[TimeLike, TimeLike]]) -> tuple[tuple[time, time], ...]:
    parsed = tuple((_parse_time(a), _parse_time(b)) for a, b in hours)
    if not parsed:
        raise ConfigError("working hours: at least one period is needed")
    for start, end in parsed:
        if start >= end:
            raise ConfigError(f"working hours: period {start:%H:%M}-{end:%H:%M} ends before it starts")
    for (_, end), (start, _) in itertools.pairwise(parsed):
        if start < end:
            raise ConfigError("working hours: periods must be in order and must not overlap")
    return parsed


@functools.lru_cache(maxsize=8192)
def _package_says_workday(d: date) -> bool | None:
    """The package's answer, or None when it has no data for that year (cached: the package scans its tables)."""
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        if d.year not in _warned_years:
            _warned_years.add(d.year)
            log.warning(
                "no public-holiday data for %d in chinese_calendar %s: counting weekends only; "
                "load that year's official schedule with `leadbot holidays load FILE`",
                d.year,
                getattr(chinese_calendar, "__version__", "?"),
            )
        return None


@dataclass(frozen=True, slots=True)
class OfficialDays:
    """Official schedules of whole years: `days` maps each holiday to False and each make-up workday to True; any
    other day of one of `years` is worked Monday to Friday."""

    days: Mapping[date, bool] = field(default_factory=dict)
    years: frozenset[int] = frozenset()

    def says(self, d: date) -> bool | None:
        if d.year not in self.years:
            return None
        return self.days.get(d, d.weekday() < 5)


class WorkCalendar:
    """One tenant's working time.

    `hours` are the working periods of a working day, in order ("09:00"-"12:00", "13:30"-"18:00" by default);
    `overrides` maps a date to True (a working day) or False (a day off) and wins over everything else; `official`
    holds the schedules an admin loaded (they win over the bundled package for their years).
    """

    def __init__(
        self,
        tz: str,
        hours: Sequence[tuple[TimeLike, TimeLike]] = DEFAULT_HOURS,
        overrides: Mapping[date, bool] | None = None,
        official: OfficialDays | None = None,
    ) -> None:
        try:
            self.tz = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"time zone: unknown zone {tz!r}") from None
        self.hours = _parse_hours(hours)
        # Read-only, because the per-day cache below depends on it: a changed calendar is a new WorkCalendar.
        self.overrides: Mapping[date, bool] = MappingProxyType(dict(overrides or {}))
        self.official = official or OfficialDays()
        self._periods_cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}

    def is_working_day(self, d: date) -> bool:
        if d in self.overrides:
            return self.overrides[d]
        if (said := self.official.says(d)) is not None:
            return said
        known = _package_says_workday(d)
        return known if known is not None else d.weekday() < 5

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant at which `duration` of working time has passed since `start`.

        A duration that ends exactly at the end of a period gives that end (due by 12:00, not 13:30).
        """
        if duration < timedelta(0):
            raise ValueError("duration must not be negative")
        start_utc = _to_utc(start)
        if not duration:
            return start_utc.astimezone(self.tz)
        left = duration
        for begin, end in self._periods_from(start_utc):
            span = end - begin
            if left <= span:
                return (begin + left).astimezone(self.tz)
            left -= span
        raise AssertionError("unreachable: _periods_from never ends, or raises")

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from `a` to `b`; negative when `b` is before `a`."""
        a_utc, b_utc = _to_utc(a), _to_utc(b)
        if b_utc < a_utc:
            return -self.working_time_between(b, a)
        total = timedelta(0)
        for begin, end in self._periods_from(a_utc):
            if begin >= b_utc:
                break
            total += min(end, b_utc) - begin
        return total

    def next_working_start(self, after: datetime) -> datetime:
        """The first instant at or after `after` that is working time (`after` itself when it already is)."""
        begin, _ = next(self._periods_from(_to_utc(after)))
        return begin.astimezone(self.tz)

    def next_working_morning(self, after: datetime, at: time = time(9, 0)) -> datetime:
        """`at` o'clock on the first working day whose `at` is strictly after `after` (for a daily digest).

        Strictly after, so a digest job that runs at 09:00 and asks for the next run never gets 09:00 again.
        """
        local = _to_utc(after).astimezone(self.tz)
        day = local.date()
        for _ in range(_MAX_SEARCH_DAYS):
            if self.is_working_day(day):
                candidate = datetime.combine(day, at, self.tz)
                if candidate > local:
                    return candidate.astimezone(UTC).astimezone(self.tz)
            day += timedelta(days=1)
        raise ConfigError("work calendar: no working day within ten years")

    def _periods_from(self, start_utc: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working periods as UTC (begin, end) pairs, the first one clipped to start at `start_utc`."""
        day = start_utc.astimezone(self.tz).date()
        idle_days = 0
        while idle_days < _MAX_SEARCH_DAYS:
            periods = self._day_periods(day)
            idle_days = 0 if periods else idle_days + 1
            for begin, end in periods:
                if end > start_utc:
                    yield max(begin, start_utc), end
            day += timedelta(days=1)
        raise ConfigError("work calendar: no working day within ten years")

    def _day_periods(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """The day's working periods as UTC instants; () on a day off. Cached: deadlines hit the same days."""
        periods = self._periods_cache.get(day)
        if periods is None:
            periods = (
                tuple(
                    (
                        datetime.combine(day, begin, self.tz).astimezone(UTC),
                        datetime.combine(day, end, self.tz).astimezone(UTC),
                    )
                    for begin, end in self.hours
                )
                if self.is_working_day(day)
                else ()
            )
            self._periods_cache[day] = periods
        return periods


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("an aware datetime is required (naive datetimes have no time zone to count in)")
    return value.astimezone(UTC)
