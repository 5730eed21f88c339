"""When the daily digest goes out: each working morning of the tenant's calendar, at its digest time. Pure.

The cron asks every minute; `digest_day` answers with the day whose digest is due now (or None), and the digest is
raised once per manager and day (its dedup key names the day). A digest its time passed without (workers down,
a deploy) still goes out later that working day, never after its last working period: a stale morning digest
in the evening helps nobody.
"""

from __future__ import annotations

from datetime import date, datetime, time

from bot.calendar.worktime import WorkCalendar


def digest_day(now: datetime, calendar: WorkCalendar, at: time) -> date | None:
    local = now.astimezone(calendar.tz)
    day = local.date()
    if not calendar.is_working_day(day):
        return None
    start = datetime.combine(day, at, calendar.tz)
    end = datetime.combine(day, calendar.hours[-1][1], calendar.tz)
    return day if start <= local < end else None


def next_digest(now: datetime, calendar: WorkCalendar, at: time) -> datetime:
    """When the next digest after `now` goes out (shown on the board)."""
    return calendar.next_working_morning(now, at)
