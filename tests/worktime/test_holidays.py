"""Official holiday schedules an admin loads (issue 23): the bundled package ends with 2026, so from January 2027
deadlines counted 2027's holidays as working days. Every date here is given explicitly; nothing reads today.

SCHEDULE is a schedule in the announced format made up for the tests, not the State Council's 2027 notice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.calendar import holidays
from bot.calendar.worktime import OfficialDays, WorkCalendar
from bot.errors import InvalidField
from tests.support.clock import sh

SH = ZoneInfo("Asia/Shanghai")
SCHEDULE = {
    "year": 2027, "source": "test schedule (format of 国办发明电)",
    "holidays": ["2027-01-01..2027-01-03", "2027-02-06..2027-02-13", "2027-04-03..2027-04-05",
                 "2027-05-01..2027-05-05", "2027-06-09", "2027-09-15", "2027-10-01..2027-10-07"],
    "workdays": ["2027-02-14", "2027-02-20", "2027-04-25", "2027-09-26", "2027-10-09"],
}


def official(raw: dict = SCHEDULE) -> OfficialDays:
    schedule = holidays.parse_schedule(raw)
    return OfficialDays(schedule.days(), frozenset({schedule.year}))


def test_a_loaded_year_counts_its_holidays_and_make_up_workdays() -> None:
    loaded = WorkCalendar("Asia/Shanghai", official=official())
    bare = WorkCalendar("Asia/Shanghai")  # the package knows nothing of 2027: weekends only
    assert bare.is_working_day(date(2027, 2, 10)) and not loaded.is_working_day(date(2027, 2, 10))  # 春节, a Wed
    assert not bare.is_working_day(date(2027, 2, 20)) and loaded.is_working_day(date(2027, 2, 20))  # 调休, a Sat
    assert loaded.is_working_day(date(2027, 3, 3)) and not loaded.is_working_day(date(2027, 3, 6))  # plain weeks
    # a lead assigned on the Friday before the holiday with 2 h left is due when work resumes, not on Wednesday
    due = loaded.add(datetime(2027, 2, 5, 17, 0, tzinfo=SH), timedelta(hours=2))
    assert due == datetime(2027, 2, 14, 10, 0, tzinfo=SH)  # the 调休 Sunday, 1 h on Friday + 1 h
    overridden = WorkCalendar("Asia/Shanghai", overrides={date(2027, 2, 20): False}, official=official())
    assert not overridden.is_working_day(date(2027, 2, 20))  # the tenant's own override still wins


def test_a_loaded_year_wins_over_the_package() -> None:
    # 2026-10-07 (a Wednesday) is a holiday in the package; a corrected 2026 schedule without it makes it a workday
    corrected = {"year": 2026, "holidays": ["2026-01-01", "2026-05-01..2026-05-02", "2026-10-01..2026-10-06"]}
    assert not WorkCalendar("Asia/Shanghai").is_working_day(date(2026, 10, 7))
    assert WorkCalendar("Asia/Shanghai", official=official(corrected)).is_working_day(date(2026, 10, 7))


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"year": 1999}, "year", "greater than or equal"),
        ({"holidays": ["2028-01-01"]}, "holidays", "not in 2027"),
        ({"holidays": ["2027-13-01"]}, "holidays", "not a date"),
        ({"holidays": ["2027-02-13..2027-02-06"]}, "holidays", "range"),
        ({"holidays": ["2027-01-01..2027-03-01"]}, "holidays", "range"),
        ({"holidays": ["2027-05-01..2027-05-05", "2027-10-01..2027-10-07"]}, "holidays", "2027-01-01"),
        ({"workdays": ["2027-02-15"]}, "workdays", "weekday"),
        ({"workdays": ["2027-02-13"]}, "workdays", "holiday and as a workday"),
        ({"extra": 1}, "extra", "not permitted"),
        ({"holidays": "2027-01-01"}, "holidays", "list"),
    ],
)
def test_a_schedule_is_validated(change: dict, field: str, words: str) -> None:
    with pytest.raises(InvalidField) as raised:
        holidays.parse_schedule(SCHEDULE | change)
    assert raised.value.field.startswith(field) and words in raised.value.reason


@pytest.mark.parametrize(
    ("on", "loaded", "missing"),
    [
        (date(2026, 10, 31), False, []),  # 2026 is in the package; 2027 is not due yet
        (date(2026, 11, 1), False, [2027]),  # from 1 November the next year is due
        (date(2026, 11, 1), True, []),
        (date(2027, 1, 4), False, [2027]),  # a year begun without its schedule
        (date(2027, 11, 2), True, [2028]),
    ],
)
def test_missing_years(on: date, loaded: bool, missing: list[int]) -> None:
    assert holidays.missing_years(on, official() if loaded else OfficialDays()) == missing


# --- loading it: the admin API and the CLI ----------------------------------------------------------------------


async def test_the_operator_loads_a_year_and_readyz_and_metrics_stop_reporting_it(
    client, clocked_services, clock, admin_headers
) -> None:
    clock.set(sh(2026, 11, 1, 0, 10))  # just after midnight in Shanghai: still 31 October in UTC
    ready = await (await client.get("/readyz")).json()
    assert ready["holidays"]["ok"] is False and ready["holidays"]["missing_years"] == [2027]
    assert "leadbot holidays load" in ready["holidays"]["detail"]
    assert 'leadbot_holiday_schedule_missing{year="2027"} 1.0' in await (await client.get("/metrics")).text()

    r = await client.put("/admin/holidays/2027", json=SCHEDULE, headers=admin_headers)
    assert r.status == 200, await r.text()
    assert date(2027, 2, 20) in holidays.official().days  # used by this process at once
    ready = await (await client.get("/readyz")).json()
    assert ready["holidays"] == {"ok": True, "missing_years": [], "detail": "ok"}
    assert 'leadbot_holiday_schedule_missing{year="2027"} 0.0' in await (await client.get("/metrics")).text()
    listed = await (await client.get("/admin/holidays", headers=admin_headers)).json()
    assert [s["year"] for s in listed["schedules"]] == [2027] and listed["missing_years"] == []
    shown = await (await client.get("/admin/holidays/2027", headers=admin_headers)).json()
    assert "2027-02-20" in shown["workdays"] and len(shown["holidays"]) == 28


async def test_readiness_asks_for_next_year_from_1_november_by_the_services_clock(client, clocked_services,
                                                                                 clock) -> None:
    clock.set(sh(2026, 10, 31, 23, 59))
    assert (await (await client.get("/readyz")).json())["holidays"]["missing_years"] == []
    clock.advance(minutes=1)  # 1 November in Shanghai (still 31 October, 16:00, in UTC)
    assert (await (await client.get("/readyz")).json())["holidays"]["missing_years"] == [2027]
    clock.set(sh(2027, 1, 1, 0, 0))  # the new year still without its schedule: the current year stays missing
    assert (await (await client.get("/readyz")).json())["holidays"]["missing_years"] == [2027]


async def test_loading_is_the_operators_and_refuses_bad_schedules(client, services, admin_headers) -> None:
    r = await client.post("/admin/tenants", json={"name": "甲"}, headers=admin_headers)
    tenant = (await r.json())["id"]
    r = await client.post(f"/admin/tenants/{tenant}/tokens", json={"name": "a", "scope": "admin"},
                          headers=admin_headers)
    tenant_admin = {"Authorization": f"Bearer {(await r.json())['token']}"}
    assert (await client.put("/admin/holidays/2027", json=SCHEDULE, headers=tenant_admin)).status == 403
    assert (await client.get("/admin/holidays", headers=tenant_admin)).status == 200
    r = await client.put("/admin/holidays/2028", json=SCHEDULE, headers=admin_headers)
    assert (r.status, (await r.json())["field"]) == (400, "year")
    r = await client.put("/admin/holidays/2027", json=SCHEDULE | {"workdays": ["2027-02-15"]}, headers=admin_headers)
    assert (r.status, (await r.json())["field"]) == (400, "workdays")
    assert (await client.get("/admin/holidays/2027", headers=admin_headers)).status == 404
    assert holidays.official().years == frozenset()


@pytest.mark.slow
def test_one_command_loads_a_year(tmp_path, settings) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADBOT_")}
    env["LEADBOT_DATA_DIR"] = str(tmp_path / "cli-data")
    if settings.database_url:
        env["LEADBOT_DATABASE_URL"] = settings.database_url
    (tmp_path / "2027.json").write_text(json.dumps(SCHEDULE, ensure_ascii=False), encoding="utf-8")

    def leadbot(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True,
                              timeout=120)

    done = leadbot("holidays", "load", str(tmp_path / "2027.json"))
    assert done.returncode == 0, done.stderr
    assert "loaded 2027: 28 holidays, 5 make-up workdays" in done.stdout
    listed = json.loads(leadbot("holidays", "list").stdout)
    assert listed["schedules"] == [{"year": 2027, "source": SCHEDULE["source"], "holidays": 28, "workdays": 5}]
    (tmp_path / "bad.json").write_text(json.dumps(SCHEDULE | {"year": 2028}), encoding="utf-8")
    bad = leadbot("holidays", "load", str(tmp_path / "bad.json"))
    assert bad.returncode == 1 and bad.stderr.strip().startswith("leadbot: holidays:")
