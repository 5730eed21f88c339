"""The injected clock for tests (a pytest plugin, see tests/conftest.py): a test decides what time it is.

- `clock`: a `ManualClock` standing at `DEFAULT_AT` (a plain Tuesday morning in Shanghai) until the test moves it
  (`clock.set(sh(2026, 12, 6, 7, 30))`, `clock.advance(minutes=30)`). arq's own reads of the time (queue scores,
  "is this job due") and the CLI's clock follow it, so a deferred timer comes due when the clock says so.
- `clocked_services`: the test's `services`, reading time from `clock` (the same object as `services`, so `client`
  and every helper given `services` see the clock too). A directory where every test should run on the clock
  overrides `services` with `on_clock(services, clock)`.
- `sh(...)`: an instant on Shanghai's wall clock; `INSTANTS`: the instants that have bitten before, by name.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import arq.connections
import arq.jobs
import arq.worker
import pytest

from bot.cli import support as cli_support
from bot.runtime.clock import ManualClock
from bot.runtime.services import Services

SHANGHAI = ZoneInfo("Asia/Shanghai")


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """An instant given as Shanghai wall time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


DEFAULT_AT = sh(2026, 12, 8, 10, 0)  # Tuesday 10:00: working time, no holiday, not the digest minute

# The instants `.ci/clock-sweep` used to run the whole suite at (and a few more), by name: what makes each tricky.
INSTANTS: dict[str, datetime] = {
    "sunday_morning": sh(2026, 12, 6, 7, 30),  # a weekend, before working hours: nothing counts until Monday
    "monday_before_work": sh(2026, 12, 7, 7, 30),  # the morning of a working day, before 09:00
    "lunch_break": sh(2026, 12, 9, 12, 20),  # inside 12:00-13:30: the working clock is stopped
    "before_midnight": sh(2026, 12, 10, 23, 59, 30),  # 30 s before the date (and the UTC offset day) turns
    "end_of_day": sh(2026, 12, 11, 17, 58),  # two minutes of working time left on a Friday
    "digest_hour": sh(2026, 12, 8, 9, 0),  # the default digest time on a working day
    "national_day": sh(2026, 10, 1, 10, 30),  # 国庆: a holiday on a weekday
    "make_up_saturday": sh(2026, 10, 10, 10, 0),  # 调休: a Saturday worked after 国庆 2026
    "new_years_eve": sh(2026, 12, 31, 23, 30),  # the year (and the holiday schedule's year) turns
}


def _ms(clock: ManualClock) -> int:
    return int(clock.time() * 1000)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    at = ManualClock(DEFAULT_AT)
    # arq reads the system time for queue scores and due checks: on a test's clock, a job deferred to 10:30 must
    # come due when the clock reaches 10:30, not when the machine's does.
    for module in (arq.connections, arq.jobs, arq.worker):
        monkeypatch.setattr(module, "timestamp_ms", lambda: _ms(at))
    monkeypatch.setattr(cli_support, "CLOCK", at)
    return at


def on_clock(services: Services, clock: ManualClock) -> Services:
    services.use_clock(clock)
    return services


@pytest.fixture
def clocked_services(services: Services, clock: ManualClock) -> Services:
    return on_clock(services, clock)
