from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar import worktime
from bot.calendar.worktime import WorkCalendar
from bot.errors import ConfigError

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar("Asia/Shanghai")


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


H = timedelta(hours=1)
M = timedelta(minutes=1)


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        # inside the morning period
        (sh(2026, 6, 3, 9, 0), 2 * H, sh(2026, 6, 3, 11, 0)),
        # across the lunch break: 11:30 + 1 h = 30 min before lunch, 30 min after
        (sh(2026, 6, 3, 11, 30), H, sh(2026, 6, 3, 14, 0)),
        # ending exactly at the start of lunch stays at 12:00
        (sh(2026, 6, 3, 11, 0), H, sh(2026, 6, 3, 12, 0)),
        # assigned during lunch: the clock starts at 13:30
        (sh(2026, 6, 3, 12, 15), 30 * M, sh(2026, 6, 3, 14, 0)),
        # assigned at night: the clock starts next morning
        (sh(2026, 6, 3, 22, 0), 30 * M, sh(2026, 6, 4, 9, 30)),
        # before opening
        (sh(2026, 6, 3, 7, 0), 30 * M, sh(2026, 6, 3, 9, 30)),
        # Friday evening over the weekend to Monday
        (sh(2026, 6, 5, 17, 30), 2 * H, sh(2026, 6, 8, 10, 30)),
        # Saturday: nothing counts until Monday
        (sh(2026, 6, 6, 10, 0), H, sh(2026, 6, 8, 10, 0)),
        # 国庆 2026: 1-7 October off, so 30 September 17:00 + 2 h lands on 8 October
        (sh(2026, 9, 30, 17, 0), 2 * H, sh(2026, 10, 8, 10, 0)),
        # 调休: Saturday 10 October 2026 is a make-up workday
        (sh(2026, 10, 9, 17, 0), 2 * H, sh(2026, 10, 10, 10, 0)),
        # a 24 h tier spans 3.2 working days (7.5 h a day)
        (sh(2026, 6, 1, 9, 0), 24 * H, sh(2026, 6, 4, 10, 30)),
        # zero duration is the start itself, even outside working time
        (sh(2026, 6, 6, 10, 0), timedelta(0), sh(2026, 6, 6, 10, 0)),
    ],
)
def test_add(start: datetime, duration: timedelta, due: datetime) -> None:
    assert CAL.add(start, duration) == due
    assert CAL.working_time_between(start, due) == duration


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (sh(2026, 6, 3, 9, 0), sh(2026, 6, 3, 18, 0), timedelta(hours=7, minutes=30)),
        (sh(2026, 6, 3, 12, 0), sh(2026, 6, 3, 13, 30), timedelta(0)),
        (sh(2026, 6, 5, 18, 0), sh(2026, 6, 8, 9, 0), timedelta(0)),
        (sh(2026, 10, 1, 0, 0), sh(2026, 10, 8, 0, 0), timedelta(0)),
        (sh(2026, 10, 10, 0, 0), sh(2026, 10, 11, 0, 0), timedelta(hours=7, minutes=30)),
        (sh(2026, 6, 3, 11, 0), sh(2026, 6, 3, 10, 0), -H),
    ],
)
def test_working_time_between(a: datetime, b: datetime, expected: timedelta) -> None:
    assert CAL.working_time_between(a, b) == expected


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 6, 3), True),  # Wednesday
        (date(2026, 6, 6), False),  # Saturday
        (date(2026, 10, 1), False),  # 国庆
        (date(2026, 10, 7), False),
        (date(2026, 10, 8), True),
        (date(2026, 10, 10), True),  # 调休 Saturday
        (date(2026, 2, 14), True),  # 春节 调休 Saturday
        (date(2026, 2, 17), False),  # 春节
    ],
)
def test_is_working_day(day: date, working: bool) -> None:
    assert CAL.is_working_day(day) is working


def test_overrides_win_over_the_package() -> None:
    cal = WorkCalendar("Asia/Shanghai", overrides={date(2026, 6, 3): False, date(2026, 6, 6): True})
    assert not cal.is_working_day(date(2026, 6, 3))
    assert cal.is_working_day(date(2026, 6, 6))
    # Tuesday 17:00 + 2 h skips the Wednesday taken off
    assert cal.add(sh(2026, 6, 2, 17, 0), 2 * H) == sh(2026, 6, 4, 10, 0)
    # Friday 17:00 + 2 h uses the Saturday declared a workday
    assert cal.add(sh(2026, 6, 5, 17, 0), 2 * H) == sh(2026, 6, 6, 10, 0)


def test_year_unknown_to_the_package_counts_weekends_and_overrides_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    year = max(d.year for d in worktime.chinese_calendar.holidays) + 1
    worktime._warned_years.discard(year)
    worktime._package_says_workday.cache_clear()
    jan1 = date(year, 1, 1)
    cal = WorkCalendar("Asia/Shanghai", overrides={jan1: False})
    first_weekday = next(jan1 + timedelta(days=i) for i in range(1, 8) if (jan1 + timedelta(days=i)).weekday() < 5)
    with caplog.at_level(logging.WARNING, logger="bot.calendar.worktime"):
        assert not cal.is_working_day(jan1)  # override: 元旦 not yet published
        assert cal.is_working_day(first_weekday)
        assert not cal.is_working_day(date(year, 1, 1) + timedelta(days=(5 - jan1.weekday()) % 7))  # a Saturday
        cal.add(datetime(year, 1, 1, 8, 0, tzinfo=SH), 20 * H)
    warnings = [r for r in caplog.records if str(year) in r.getMessage()]
    assert len(warnings) == 1


def test_times_come_back_in_the_tenant_zone_whatever_zone_goes_in() -> None:
    start_utc = datetime(2026, 6, 3, 3, 30, tzinfo=UTC)  # 11:30 in Shanghai
    due = CAL.add(start_utc, H)
    assert due == sh(2026, 6, 3, 14, 0)
    assert due.utcoffset() == timedelta(hours=8)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        CAL.add(datetime(2026, 6, 3, 9, 0), H)


def test_dst_zone_counts_real_elapsed_time_across_the_change() -> None:
    # Berlin springs forward on Sunday 29 March 2026; each weekday still holds 7.5 h of working time.
    cal = WorkCalendar("Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    a = datetime(2026, 3, 27, 9, 0, tzinfo=berlin)
    b = datetime(2026, 3, 30, 18, 0, tzinfo=berlin)
    assert cal.working_time_between(a, b) == 2 * timedelta(hours=7, minutes=30)
    assert cal.add(datetime(2026, 3, 27, 17, 0, tzinfo=berlin), 2 * H) == datetime(2026, 3, 30, 10, 0, tzinfo=berlin)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (sh(2026, 6, 3, 10, 0), sh(2026, 6, 3, 10, 0)),  # already working time
        (sh(2026, 6, 3, 12, 0), sh(2026, 6, 3, 13, 30)),  # lunch
        (sh(2026, 6, 5, 18, 0), sh(2026, 6, 8, 9, 0)),  # Friday close
        (sh(2026, 9, 30, 18, 30), sh(2026, 10, 8, 9, 0)),  # 国庆
    ],
)
def test_next_working_start(after: datetime, expected: datetime) -> None:
    assert CAL.next_working_start(after) == expected


@pytest.mark.parametrize(
    ("after", "at", "expected"),
    [
        (sh(2026, 6, 3, 8, 0), time(9, 0), sh(2026, 6, 3, 9, 0)),
        (sh(2026, 6, 3, 9, 0), time(9, 0), sh(2026, 6, 4, 9, 0)),  # strictly after
        (sh(2026, 6, 5, 9, 30), time(9, 0), sh(2026, 6, 8, 9, 0)),
        (sh(2026, 10, 9, 10, 0), time(8, 30), sh(2026, 10, 10, 8, 30)),  # 调休 Saturday gets a digest
        (sh(2026, 9, 30, 20, 0), time(9, 0), sh(2026, 10, 8, 9, 0)),
    ],
)
def test_next_working_morning(after: datetime, at: time, expected: datetime) -> None:
    assert CAL.next_working_morning(after, at) == expected


@pytest.mark.parametrize(
    "hours",
    [
        (),
        (("12:00", "09:00"),),
        (("09:00", "12:00"), ("11:00", "18:00")),
        (("9am", "12:00"),),
    ],
)
def test_bad_hours_are_a_config_error(hours: tuple) -> None:
    with pytest.raises(ConfigError):
        WorkCalendar("Asia/Shanghai", hours=hours)


def test_unknown_zone_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        WorkCalendar("Mars/Olympus")


def test_hours_as_strings() -> None:
    cal = WorkCalendar("Asia/Shanghai", hours=[("08:30", "17:30")])
    assert cal.add(sh(2026, 6, 3, 17, 0), H) == sh(2026, 6, 4, 9, 0)


instants = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 2, 1), timezones=st.just(SH))
durations = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=300))
cal_with_override = WorkCalendar("Asia/Shanghai", overrides={date(2026, 3, 4): False, date(2027, 1, 1): False})


@settings(max_examples=300, deadline=None)
@given(start=instants, duration=durations)
def test_add_then_between_round_trips(start: datetime, duration: timedelta) -> None:
    due = cal_with_override.add(start, duration)
    assert due >= start
    assert cal_with_override.working_time_between(start, due) == duration
    if duration:
        # the deadline lies in working time (or at the end of a period), never in a lunch break or a holiday
        local = due.astimezone(SH)
        assert cal_with_override.is_working_day(local.date())
        assert any(a < local.time() <= b for a, b in cal_with_override.hours)


@settings(max_examples=200, deadline=None)
@given(start=instants, d1=durations, d2=durations)
def test_add_is_additive(start: datetime, d1: timedelta, d2: timedelta) -> None:
    assert CAL.add(CAL.add(start, d1), d2) == CAL.add(start, d1 + d2)
