"""China's official holiday schedules, year by year: public holidays and the make-up workdays (调休).

The State Council announces next year's schedule late in the year (usually November). The bundled package
(`chinese_calendar` 1.11) ends with 2026, and no package on the index carries 2027's official 调休 yet, so without
more data deadlines would count 2027's holidays as working days from January. An admin loads a year's schedule as
announced, in one command (`leadbot holidays load FILE`, or `PUT /admin/holidays/{year}`); it is validated, stored in
the database, and wins over the package for that year (`bot.calendar.worktime.OfficialDays`). Every process reads the
stored years at start and again every minute.

From 1 November a missing next year shows in `/readyz` and in `leadbot_holiday_schedule_missing{year}`, and a
missing current year always does. The date those checks use comes from `today(clock)`: the caller's clock (the
services' one), so a test decides whether it is November yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import chinese_calendar
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.calendar.worktime import OfficialDays
from bot.errors import InvalidField
from bot.runtime import metrics
from bot.runtime.clock import Clock
from storage.models import HolidayYear

log = logging.getLogger(__name__)

CHINA = ZoneInfo("Asia/Shanghai")
# From this day of the year the next year's schedule is due (it is announced in October or November).
NEXT_YEAR_DUE = (11, 1)
REFRESH_S = 60.0
MAX_RANGE_DAYS = 31
# The statutory holidays on fixed dates (全国年节及纪念日放假办法): every year's schedule has them as days off.
FIXED_HOLIDAYS = ((1, 1), (5, 1), (10, 1), (10, 2), (10, 3))

_official = OfficialDays({}, frozenset())


def today(clock: Clock) -> date:
    """Today in China by `clock` (tests pass their own date to the functions below, or their own clock)."""
    return clock.today(CHINA)


def official() -> OfficialDays:
    """The schedules loaded in this process (refreshed from the database every `REFRESH_S`)."""
    return _official


# --- what an admin loads -------------------------------------------------------------------------------------


DayOrRange = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}(\.\.\d{4}-\d{2}-\d{2})?$")]


class ScheduleIn(BaseModel):
    """One year as announced: days off (holidays, including the weekend days they span) and weekend days worked.
    A day or a range `2027-02-06..2027-02-13` per entry."""

    model_config = ConfigDict(extra="forbid")
    year: Annotated[int, Field(ge=2000, le=2100)]
    source: Annotated[str, Field(max_length=256)] = ""
    holidays: Annotated[list[DayOrRange], Field(min_length=1, max_length=100)]
    workdays: Annotated[list[DayOrRange], Field(max_length=50)] = []


class Schedule(BaseModel):
    year: int
    source: str
    holidays: list[date]
    workdays: list[date]

    def days(self) -> dict[date, bool]:
        return {**{d: False for d in self.holidays}, **{d: True for d in self.workdays}}


def parse_schedule(raw: Any, *, year: int | None = None) -> Schedule:
    """A validated schedule from what an admin sent; `InvalidField` names what is wrong."""
    if isinstance(raw, dict) and year is not None:
        raw = {"year": year, **raw}
    try:
        given = ScheduleIn.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        raise InvalidField(".".join(str(p) for p in err["loc"]) or "schedule", err["msg"]) from None
    if year is not None and given.year != year:
        raise InvalidField("year", f"the schedule is for {given.year}, not {year}")
    holidays = _days(given.holidays, given.year, "holidays")
    workdays = _days(given.workdays, given.year, "workdays")
    if both := sorted(set(holidays) & set(workdays)):
        raise InvalidField("workdays", f"{both[0]} is listed as a holiday and as a workday")
    if weekdays := [d for d in workdays if d.weekday() < 5]:
        raise InvalidField("workdays", f"{weekdays[0]} is a weekday: make-up workdays (调休) fall on weekends")
    missing = [date(given.year, m, d) for m, d in FIXED_HOLIDAYS if date(given.year, m, d) not in holidays]
    if missing:
        raise InvalidField("holidays", f"{missing[0]} is a statutory holiday every year but is not listed")
    return Schedule(year=given.year, source=given.source, holidays=sorted(set(holidays)),
                    workdays=sorted(set(workdays)))


def _days(entries: Iterable[str], year: int, field: str) -> list[date]:
    days: list[date] = []
    for entry in entries:
        first, _, last = entry.partition("..")
        try:
            start, end = date.fromisoformat(first), date.fromisoformat(last or first)
        except ValueError:
            raise InvalidField(field, f"{entry!r} is not a date like 2027-01-01") from None
        if end < start or (end - start).days >= MAX_RANGE_DAYS:
            raise InvalidField(field, f"{entry!r} is not a range of at most {MAX_RANGE_DAYS} days")
        if start.year != year or end.year != year:
            raise InvalidField(field, f"{entry!r} is not in {year}")
        days += [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return days


# --- stored -------------------------------------------------------------------------------------------------------


async def store(schedule: Schedule) -> None:
    """Keep `schedule` (replacing that year's) and use it in this process at once."""
    values = {"holidays": [d.isoformat() for d in schedule.holidays],
              "workdays": [d.isoformat() for d in schedule.workdays], "source": schedule.source}
    await HolidayYear.update_or_create(values, year=schedule.year)
    log.info("official holiday schedule for %d loaded: %d holidays, %d make-up workdays (%s)", schedule.year,
             len(schedule.holidays), len(schedule.workdays), schedule.source or "no source given")
    await refresh()


async def stored() -> list[Schedule]:
    rows = await HolidayYear.all().order_by("year")
    return [Schedule(year=r.year, source=r.source, holidays=[date.fromisoformat(d) for d in r.holidays],
                     workdays=[date.fromisoformat(d) for d in r.workdays]) for r in rows]


async def refresh() -> None:
    global _official
    schedules = await stored()
    days: dict[date, bool] = {}
    for s in schedules:
        days.update(s.days())
    _official = OfficialDays(days, frozenset(s.year for s in schedules))


async def keep_fresh() -> None:
    """Re-read the stored schedules every `REFRESH_S` (a year loaded by another process, or the CLI)."""
    while True:
        await asyncio.sleep(REFRESH_S)
        try:
            await refresh()
        except Exception as e:  # the database away: the schedules loaded before still hold
            log.warning("holiday schedules not refreshed: %s", e)


# --- what is missing --------------------------------------------------------------------------------------------


def package_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def known(year: int, days: OfficialDays | None = None) -> bool:
    return year in (days or _official).years or package_knows(year)


def missing_years(on: date, days: OfficialDays | None = None) -> list[int]:
    """Years whose schedule is needed on `on` but not known: this year, and from 1 November the next."""
    needed = [on.year] + ([on.year + 1] if (on.month, on.day) >= NEXT_YEAR_DUE else [])
    return [y for y in needed if not known(y, days)]


def observe(on: date) -> list[int]:
    """Set `leadbot_holiday_schedule_missing{year}` for `on` (1: missing) and return the missing years."""
    missing = missing_years(on)
    for year in (on.year, on.year + 1):
        metrics.HOLIDAY_SCHEDULE_MISSING.labels(str(year)).set(1 if year in missing else 0)
    return missing


def describe(missing: list[int]) -> str:
    years = ", ".join(str(y) for y in missing)
    return f"no official holiday schedule for {years}: load it with `leadbot holidays load FILE`" if years else "ok"
