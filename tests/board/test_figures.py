"""The board's figures from a seeded history, checked against numbers worked out by hand (see each comment).

The team: 王经理 (1) manages 张三 (2) and 李四 (3); 赵经理 (4) manages 钱五 (5). Shanghai time, the default
calendar (09:00-12:00, 13:30-18:00). "Now" is Wednesday 2026-06-10 10:00.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.board.figures import (
    AlertIn,
    Colour,
    EventIn,
    EvidenceIn,
    Figures,
    Inputs,
    LeadIn,
    NoteIn,
    Person,
    StepIn,
    Threshold,
    Window,
    colour,
    daily_windows,
    facts_of,
    figures,
    p90,
    rep_scope,
    team_scope,
    tenant_scope,
    windows,
)
from bot.calendar.worktime import WorkCalendar
from bot.leads.types import Status

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 10, 10, 0, tzinfo=SH)
CAL = WorkCalendar("Asia/Shanghai")


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH)


PEOPLE = (Person(1, "王经理", "manager"), Person(2, "张三", "rep", 1), Person(3, "李四", "rep", 1),
          Person(4, "赵经理", "manager"), Person(5, "钱五", "rep", 4))


class History:
    """Events of one lead, with sequence numbers given in order."""

    def __init__(self, lead_id: int) -> None:
        self.lead_id = lead_id
        self.events: list[EventIn] = []

    def add(self, when: datetime, action: str, before: dict, after: dict, actor: int | None = None,
            reason: str = "") -> History:
        self.events.append(EventIn(self.lead_id, len(self.events) + 1, when, actor, action, before, after, reason))
        return self

    def assign(self, when: datetime, rep: int) -> History:
        return self.add(when, "assign", {"status": "pool", "assignee_id": None},
                        {"status": "assigned", "assignee_id": rep}, actor=1, reason="manual")

    def advance(self, when: datetime, frm: Status, to: Status, actor: int) -> History:
        return self.add(when, "advance", {"status": str(frm)}, {"status": str(to)}, actor=actor)


def seeded() -> Inputs:
    h10 = (History(10).add(at(6, 8, 9), "create", {}, {"status": "pool"}).assign(at(6, 8, 9), 2)
           .advance(at(6, 8, 10, 30), Status.ASSIGNED, Status.CONTACTED, 2)    # 90 working minutes
           .add(at(6, 8, 14), "attach_evidence", {}, {}, actor=2)
           .advance(at(6, 8, 15), Status.CONTACTED, Status.QUALIFIED, 2)       # voice 14:00 since 10:30: backed
           .advance(at(6, 9, 11), Status.QUALIFIED, Status.DEMO, 2))           # nothing since 06-08 15:00
    h11 = History(11).assign(at(6, 9, 9), 2)                                   # never contacted: 24 h at 06-10 09:00
    h12 = (History(12).assign(at(6, 5, 17), 3)                                 # Friday 17:00
           .advance(at(6, 8, 10), Status.ASSIGNED, Status.CONTACTED, 3)        # 60 + 60 working min; 24 h at Sat 17:00
           .advance(at(6, 8, 16), Status.CONTACTED, Status.QUALIFIED, 3))      # no evidence
    h13 = (History(13).assign(at(6, 9, 14), 5)
           .advance(at(6, 9, 14, 30), Status.ASSIGNED, Status.CONTACTED, 5))   # 30 min
    h14 = (History(14).assign(at(6, 8, 9), 3)
           .add(at(6, 8, 13), "assign", {"assignee_id": 3}, {"assignee_id": 5}, reason="escalation")
           .advance(at(6, 9, 9, 30), Status.ASSIGNED, Status.CONTACTED, 5))    # 13:30-18:00 + 09:00-09:30 = 300
    h15 = (History(15).assign(at(5, 6, 9), 2)
           .advance(at(5, 6, 9, 10), Status.ASSIGNED, Status.CONTACTED, 2))    # 35 days ago: in no window
    h16 = (History(16).assign(at(6, 1, 9), 2)
           .advance(at(6, 1, 9, 20), Status.ASSIGNED, Status.CONTACTED, 2)     # 20 min
           .advance(at(6, 1, 11), Status.CONTACTED, Status.QUALIFIED, 2)       # attachment 10:00: backed
           .advance(at(6, 2, 10), Status.QUALIFIED, Status.DEMO, 2)            # voice 06-02 09:30: backed
           .advance(at(6, 3, 11), Status.DEMO, Status.NEGOTIATION, 2)          # none of the rest is backed
           .advance(at(6, 4, 10), Status.NEGOTIATION, Status.CONTRACT, 2)
           .advance(at(6, 5, 10), Status.CONTRACT, Status.WON, 2))
    leads = (LeadIn(10, Status.DEMO, (EvidenceIn("voice_summary", at(6, 8, 14)),)),
             LeadIn(11, Status.ASSIGNED), LeadIn(12, Status.QUALIFIED), LeadIn(13, Status.CONTACTED),
             LeadIn(14, Status.CONTACTED), LeadIn(15, Status.CONTACTED),
             LeadIn(16, Status.WON, (EvidenceIn("attachment", at(6, 1, 10)), EvidenceIn("note", at(6, 3, 10)),
                                     EvidenceIn("voice_summary", at(6, 2, 9, 30)))))
    events = tuple(e for h in (h10, h11, h12, h13, h14, h15, h16) for e in h.events)
    steps = (StepIn(11, 2, "remind_rep", at(6, 9, 11), "lock:7:3"), StepIn(11, 2, "alert_manager", at(6, 9, 11, 30),
                                                                          "lock:7:3"))
    notes = (NoteIn(2, at(6, 8, 14)), NoteIn(2, at(6, 2, 9, 30)), NoteIn(2, at(6, 10, 9, 30)), NoteIn(5, at(6, 9, 12)))
    alerts = (AlertIn(2, at(6, 9, 11), False), AlertIn(1, at(6, 9, 11, 30), True))
    return Inputs(PEOPLE, leads, events, steps, notes, alerts)


@pytest.fixture(scope="module")
def facts():
    return facts_of(seeded(), NOW, CAL)


def window(name: str) -> Window:
    return {w.name: w for w in windows(NOW, SH)}[name]


def test_windows_end_now_and_today_starts_at_local_midnight() -> None:
    today, week, month = windows(NOW, SH)
    assert today.start == at(6, 10, 0) and week.start == at(6, 3, 10) and month.start == at(5, 11, 10)
    assert {w.end for w in (today, week, month)} == {NOW}
    assert today.days == 1 and week.days == 7


def test_team_seven_days(facts) -> None:
    team = team_scope(PEOPLE[0], PEOPLE)
    f = figures(facts, team, window("7d"))
    assert f.untouched_24h == 2                        # lead 11 (06-10 09:00), lead 12 (Sat 17:00)
    assert f.first_contacts == 2 and f.ttfc_median_min == 105 and f.ttfc_p90_min == 120   # 90, 120
    assert f.lock_breaches == 1
    assert f.escalations == {"remind_rep": 1, "alert_manager": 1, "reassign": 1, "release": 0}
    assert (f.advances, f.unevidenced) == (6, 5)       # 10: 2 (1 bare), 12: 1 bare, 16: 3 bare
    assert f.unevidenced_rate == pytest.approx(5 / 6)
    assert (f.contacted, f.to_demo, f.to_won) == (2, 1, 0) and f.conv_demo == 0.5 and f.conv_won == 0
    assert f.voice_notes == 2 and f.reps == 2 and f.voice_per_rep == 1.0
    assert (f.alerts, f.fallback_alerts, f.fallback_rate) == (2, 1, 0.5)


def test_team_today(facts) -> None:
    f = figures(facts, team_scope(PEOPLE[0], PEOPLE), window("today"))
    assert f == Figures(untouched_24h=1, voice_notes=1, reps=2,
                        escalations={"remind_rep": 0, "alert_manager": 0, "reassign": 0, "release": 0})
    assert f.ttfc_median_min is None and f.unevidenced_rate is None and f.conv_demo is None


def test_team_thirty_days(facts) -> None:
    f = figures(facts, team_scope(PEOPLE[0], PEOPLE), window("30d"))
    assert (f.first_contacts, f.ttfc_median_min, f.ttfc_p90_min) == (3, 90, 120)    # 20, 90, 120; lead 15 too old
    assert (f.advances, f.unevidenced) == (8, 5)
    assert (f.contacted, f.to_demo, f.to_won) == (3, 2, 1)                          # leads 10, 12, 16
    assert f.voice_notes == 3


def test_tenant_and_rep_scopes(facts) -> None:
    everyone = figures(facts, tenant_scope(PEOPLE), window("7d"))
    assert (everyone.first_contacts, everyone.ttfc_median_min, everyone.ttfc_p90_min) == (4, 105, 300)
    assert everyone.contacted == 4 and everyone.reps == 3 and everyone.voice_notes == 3
    qian = figures(facts, rep_scope(PEOPLE[4]), window("7d"))
    assert (qian.first_contacts, qian.ttfc_median_min, qian.ttfc_p90_min) == (2, 165, 300)
    assert qian.escalations["reassign"] == 0            # the handover counts for 李四, who lost the lead
    li = figures(facts, rep_scope(PEOPLE[2]), window("7d"))
    assert (li.untouched_24h, li.escalations["reassign"], li.unevidenced) == (1, 1, 1)
    other_team = figures(facts, team_scope(PEOPLE[3], PEOPLE), window("7d"))
    assert other_team.untouched_24h == 0 and other_team.voice_notes == 1 and other_team.alerts == 0


def test_daily_windows_split_the_week(facts) -> None:
    team = team_scope(PEOPLE[0], PEOPLE)
    days = daily_windows(NOW, SH, 7)
    assert [w.name for w in days][-2:] == ["2026-06-09", "2026-06-10"] and days[-1].end == NOW
    untouched = [figures(facts, team, w).untouched_24h for w in days]
    assert untouched == [0, 0, 1, 0, 0, 0, 1]          # Saturday 06-06 and today


def test_nothing_counts_after_now() -> None:
    earlier = NOW - timedelta(days=1)      # Tuesday 10:00: lead 11 not yet 24 h old, no lock run yet
    facts = facts_of(seeded(), earlier, CAL)
    f = figures(facts, team_scope(PEOPLE[0], PEOPLE), Window("x", earlier - timedelta(days=7), earlier))
    assert f.untouched_24h == 1 and f.lock_breaches == 0 and f.voice_notes == 1
    # From 06-02 10:00 (inclusive: lead 16's demo) to lead 12's qualification; lead 10's demo is later.
    assert (f.advances, f.unevidenced) == (6, 4)


@pytest.mark.parametrize(("values", "expected"), [([], None), ([5], 5), (list(range(1, 11)), 9),
                                                  (list(range(1, 12)), 10), ([3, 1, 2], 3)])
def test_p90_nearest_rank(values, expected) -> None:
    assert p90(values) == expected


WEEK = Window("7d", NOW - timedelta(days=7), NOW)
DAY = Window("today", at(6, 10, 0), NOW)


@pytest.mark.parametrize(("name", "value", "win", "expected"), [
    ("ttfc_median_min", 59, DAY, Colour.GREEN),
    ("ttfc_median_min", 60, DAY, Colour.YELLOW),
    ("ttfc_median_min", 240, WEEK, Colour.RED),         # not a count: the window's length does not matter
    ("untouched_24h", 3, DAY, Colour.RED),
    ("untouched_24h", 3, WEEK, Colour.GREEN),           # 3 in a week is 0.43 a day
    ("untouched_24h", 7, WEEK, Colour.YELLOW),
    ("conv_demo", 0.5, WEEK, Colour.GREEN),             # more is better: colours come as it falls
    ("conv_demo", 0.3, WEEK, Colour.YELLOW),
    ("conv_demo", 0.1, WEEK, Colour.RED),
    ("unevidenced_rate", None, WEEK, Colour.NONE),
])
def test_colours(name, value, win, expected) -> None:
    bounds = {"ttfc_median_min": (60, 240), "untouched_24h": (1, 3), "conv_demo": (0.3, 0.15),
              "unevidenced_rate": (0.2, 0.4)}[name]
    assert colour(name, value, Threshold(*bounds), win) is expected
