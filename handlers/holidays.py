"""`/admin/holidays`: China's official holiday schedules (public holidays and 调休 workdays), one year at a time.

The operator loads next year's schedule once the State Council announces it (`bot.calendar.holidays`); every tenant's
deadlines count it from then on. Tenant admins may read the schedules but not change them: they are the country's,
and a tenant's own days off are its calendar overrides.
"""

from __future__ import annotations

from datetime import date

from aiohttp import web
from pydantic import BaseModel

from bot.calendar import holidays
from bot.runtime.appkeys import SERVICES
from handlers.admin import _admin, _operator
from handlers.http import HttpProblem, json_out, positive_id, read_json
from handlers.openapi import ApiRoutes

API = ApiRoutes()


class ScheduleOut(BaseModel):
    year: int
    source: str
    holidays: list[date]
    workdays: list[date]


class SchedulesOut(BaseModel):
    schedules: list[ScheduleOut]
    missing_years: list[int]  # needed now (this year; the next from 1 November) and known to no source


def _year(request: web.Request) -> int:
    return positive_id(request.match_info["year"], "year", 2100)


@API.route("GET", "/admin/holidays", summary="The official holiday schedules loaded, and the years still missing",
           tags=("holidays",), response=SchedulesOut)
async def list_schedules(request: web.Request) -> web.Response:
    await _admin(request)
    schedules = [ScheduleOut(**s.model_dump()) for s in await holidays.stored()]
    today = holidays.today(request.app[SERVICES].clock)
    return json_out(SchedulesOut(schedules=schedules, missing_years=holidays.missing_years(today)))


@API.route("PUT", "/admin/holidays/{year}", summary="Load a year's official holiday schedule (holidays and 调休 "
           "workdays, days or ranges `a..b`; validated, replaces that year's)", tags=("holidays",),
           body=holidays.ScheduleIn, response=ScheduleOut)
async def load_schedule(request: web.Request) -> web.Response:
    await _operator(request)
    year = _year(request)
    schedule = holidays.parse_schedule(await read_json(request), year=year)
    await holidays.store(schedule)
    return json_out(ScheduleOut(**schedule.model_dump()))


@API.route("GET", "/admin/holidays/{year}", summary="One year's official holiday schedule", tags=("holidays",),
           response=ScheduleOut)
async def show_schedule(request: web.Request) -> web.Response:
    await _admin(request)
    year = _year(request)
    for schedule in await holidays.stored():
        if schedule.year == year:
            return json_out(ScheduleOut(**schedule.model_dump()))
    raise HttpProblem(404, "not_found", f"no official schedule loaded for {year}")
