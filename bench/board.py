"""Board figures benchmark: computing one tenant's board from its history, against a bare pass over the same events.

Run: PYTHONPATH=. python bench/board.py [--leads 2000,20000]

Synthetic history, made in this process: per lead a creation, an assignment to one of 50 reps (5 teams), a contact
some working minutes later for 80 % of them, and two evidence-checked advances for half of those; 30 days of it.
Measured: `facts_of` (the walk over every event, working-time arithmetic on the tenant's calendar) and the
figures a manager's page needs (3 windows of the team, each rep's week, 14 daily windows), against a baseline that
only sorts the same events per lead and reads each one (the least any computation over them costs). Figures: ms
and the ratio.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.board.figures import (  # noqa: E402
    EventIn,
    EvidenceIn,
    FactIndex,
    Inputs,
    LeadIn,
    Person,
    daily_windows,
    facts_of,
    figures,
    rep_scope,
    team_scope,
    windows,
)
from bot.calendar.worktime import WorkCalendar  # noqa: E402
from bot.leads.types import Status  # noqa: E402

SH = ZoneInfo("Asia/Shanghai")
# UTC, as the database hands times back (comparing times of one tzinfo skips the zone lookups).
NOW = datetime(2026, 6, 30, 10, 0, tzinfo=SH).astimezone(UTC)


def history(n: int) -> Inputs:
    rnd = random.Random(9)
    people = [Person(m, f"经理{m}", "manager") for m in range(1, 6)]
    people += [Person(100 + r, f"销售{r}", "rep", 1 + r % 5) for r in range(50)]
    events, leads = [], []
    for lead_id in range(1, n + 1):
        t = NOW - timedelta(minutes=rnd.randrange(30 * 24 * 60))
        rep = 100 + rnd.randrange(50)
        ev = [EventIn(lead_id, 1, t, None, "create", {}, {"status": "pool"}),
              EventIn(lead_id, 2, t, 1, "assign", {"status": "pool"}, {"status": "assigned", "assignee_id": rep})]
        status, evidence = Status.ASSIGNED, []
        if rnd.random() < 0.8:
            t += timedelta(minutes=rnd.randrange(5, 3000))
            ev.append(EventIn(lead_id, 3, t, rep, "advance", {"status": "assigned"}, {"status": "contacted"}))
            status = Status.CONTACTED
            if rnd.random() < 0.5:
                evidence.append(EvidenceIn("voice_summary", t + timedelta(hours=2)))
                for seq, (a, b) in enumerate(((Status.CONTACTED, Status.QUALIFIED), (Status.QUALIFIED, Status.DEMO)),
                                             4):
                    t += timedelta(hours=rnd.randrange(1, 48))
                    ev.append(EventIn(lead_id, seq, t, rep, "advance", {"status": str(a)}, {"status": str(b)}))
                    status = b
        events += ev
        leads.append(LeadIn(lead_id, status, tuple(evidence)))
    rnd.shuffle(events)
    return Inputs(tuple(people), tuple(leads), tuple(events))


def baseline(inputs: Inputs) -> int:
    by_lead: dict[int, list[EventIn]] = {}
    for e in inputs.events:
        by_lead.setdefault(e.lead_id, []).append(e)
    seen = 0
    for evs in by_lead.values():
        evs.sort(key=lambda e: e.seq)
        seen += sum(1 for e in evs if e.after.get("status"))
    return seen


def board(inputs: Inputs, calendar: WorkCalendar) -> int:
    """What `bot.board.report.build` computes for a manager (the loading aside)."""
    team = team_scope(inputs.people[0], inputs.people)
    facts = FactIndex(facts_of(inputs, NOW, calendar)).only(team)
    reps = [rep_scope(p) for p in inputs.people if p.manager_id == 1]
    count = 0
    for w in windows(NOW, SH):
        count += figures(facts.within(w), team, w).first_contacts
    week = windows(NOW, SH)[1]
    count += sum(figures(facts.within(week), r, week).first_contacts for r in reps)
    count += sum(figures(facts.within(w), team, w).untouched_24h for w in daily_windows(NOW, SH, 14))
    return count


def timed(fn, *args) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - started)
    return best * 1000


def main() -> None:
    from bot.runtime import wiring

    wiring.install()  # the follow-ups and hooks the service runs, as its entry points install them
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", default="2000,20000")
    sizes = [int(x) for x in parser.parse_args().leads.split(",")]
    print(f"{'leads':>8} {'events':>8} {'baseline ms':>12} {'board ms':>10} {'ratio':>7}")
    for n in sizes:
        inputs = history(n)
        calendar = WorkCalendar("Asia/Shanghai")
        base, full = timed(baseline, inputs), timed(board, inputs, calendar)
        print(f"{n:>8} {len(inputs.events):>8} {base:>12.1f} {full:>10.1f} {full / base:>7.1f}")


if __name__ == "__main__":
    main()
