"""The time-sensitive paths at the instants that have bitten before (issue 21), on the injected clock.

This replaces `.ci/clock-sweep`, which ran the whole suite under libfaketime at these wall-clock times (ten minutes
per instant, so never in CI). Here each path that reads the time runs with the services' clock set to each instant,
through the production entry points (the workflow, arq's queue, the crons), against figures worked out by hand for
Shanghai's default office hours (09:00-12:00, 13:30-18:00), a 240-minute response lock and a 09:00 digest.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.alerting.ladder import AlertKind
from bot.board import digest
from bot.calendar import holidays
from bot.jobs.board import send_digests
from bot.jobs.timers import check_stale_deals
from bot.leads import service as leadservice
from bot.leads.actions import Assign
from bot.leads.types import EventSource
from bot.runtime.worker import drain
from storage.models import Alert
from storage.models import Lead as LeadRow
from tests.escalation.support import World, alerts_of, deadline_of, new_lead
from tests.support.clock import INSTANTS, sh
from tests.support.jobclock import fast_forward, queued
from tests.worktime.test_holidays import SCHEDULE

# instant -> (when a lock armed then runs out, is it digest time, is it working time)
EXPECTED: dict[str, tuple[datetime, bool, bool]] = {
    "sunday_morning": (sh(2026, 12, 7, 14, 30), False, False),  # Monday 09:00 + 3 h + 1 h after lunch
    "monday_before_work": (sh(2026, 12, 7, 14, 30), False, False),
    "lunch_break": (sh(2026, 12, 9, 17, 30), True, False),  # counting starts at 13:30; a late digest still goes
    "before_midnight": (sh(2026, 12, 11, 14, 30), False, False),  # the next day, counted from 09:00
    "end_of_day": (sh(2026, 12, 14, 14, 28), True, True),  # 2 min on Friday, 238 on Monday
    "digest_hour": (sh(2026, 12, 8, 14, 30), True, True),
    "national_day": (sh(2026, 10, 8, 14, 30), False, False),  # 国庆 1-7 October: Thursday the 8th
    "make_up_saturday": (sh(2026, 10, 10, 15, 30), True, True),  # 调休: a Saturday worked like a weekday
    "new_years_eve": (sh(2027, 1, 4, 14, 30), False, False),  # 2027's 1-3 January off (the loaded schedule)
}
assert EXPECTED.keys() == INSTANTS.keys()


@pytest.fixture(params=list(INSTANTS))
async def at(request: pytest.FixtureRequest, world: World) -> str:
    """The instant's name, with the clock set to it (and 2027's schedule loaded, as an operator does in November)."""
    await holidays.store(holidays.parse_schedule(SCHEDULE))
    await holidays.refresh()
    world.services.clock.set(INSTANTS[request.param])
    return request.param


async def _assigned(world: World, now: datetime | None = None) -> int:
    """A new lead the manager gives 张三 at `now` (None: the workflow reads the services' clock, as for a click)."""
    lead_id = await new_lead(world)
    assign = Assign(leadservice.user_view(world.rep))
    outcome = await leadservice.act(
        world.services, lead_id, assign, leadservice.actor_for(world.manager), source=EventSource.API, now=now
    )
    assert outcome.ok
    return lead_id


async def test_a_response_lock_runs_out_after_its_working_minutes(world: World, at: str) -> None:
    lead_id = await _assigned(world)
    due = EXPECTED[at][0]
    row = await deadline_of(lead_id)
    assert row.due_at == due and row.next_at == due
    assert list((await queued(world.services)).values()) == [due.timestamp()]

    await fast_forward(world.services, due - timedelta(seconds=1))
    await drain(world.services)
    assert (await deadline_of(lead_id)).history == []  # a second early: the timer has not come due
    await fast_forward(world.services, due)
    await drain(world.services)
    [step] = (await deadline_of(lead_id)).history
    assert datetime.fromisoformat(step["at"]) == due  # it ran when the clock said so, not the machine
    assert len(await alerts_of(lead_id, "lock_reminder")) == 1


async def test_the_digest_cron_asks_the_clock_whether_it_is_digest_time(world: World, at: str) -> None:
    await _assigned(world, INSTANTS[at] - timedelta(days=1))  # the manager's team has work: a digest is due
    await send_digests.coroutine({"services": world.services})  # the cron's job, run whatever minute the machine is in
    raised = await Alert.filter(kind=digest.KIND)
    assert len(raised) == int(EXPECTED[at][1])
    if raised:
        day = world.services.clock.today(INSTANTS[at].tzinfo)
        assert raised[0].dedup_key.endswith(day.isoformat()) and raised[0].user_id == world.manager.id


async def test_stale_deals_are_told_only_in_working_time(world: World, at: str) -> None:
    lead_id = await _assigned(world, INSTANTS[at] - timedelta(days=10))
    await LeadRow.filter(id=lead_id).update(status="contacted")  # an open deal, silent for ten days
    await check_stale_deals.coroutine({"services": world.services})
    assert len(await alerts_of(lead_id, str(AlertKind.STALE_DEAL))) == int(EXPECTED[at][2])
