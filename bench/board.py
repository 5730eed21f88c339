"""Board figures benchmark: computing one tenant's board from its history, against a bare pass over the same events.

Run: PYTHONPATH=. python bench/board.py [--leads 2000,20000]
     PYTHONPATH=. python bench/board.py --db [--pg postgres://postgres@127.0.0.1:5432/postgres] [--leads 20000,200000]
         [--profile]

With `--db`: the page a manager gets, uncached, through the service's own code (`bot.board.report.build`: the kept
facts summed in SQL, the people, steps, notes and alerts, the team's open leads), against a scratch database
(embedded SQLite in a temporary directory, or a scratch PostgreSQL database on the `--pg` server) filled with the
same synthetic history by bulk inserts, its facts built by `bot.board.kept.rebuild` (timed too; then, on PostgreSQL,
VACUUM ANALYZE as autovacuum would do). With `--profile`, where one page's time goes: the parts `build` awaits
(the people, steps, notes and alerts; the sums; the counts of the leads needing attention; the most pressing of
them), each timed, then
cProfile's busiest functions. The baseline, run in the same process on the same database: one bare
`SELECT kind, tag, COUNT(*), SUM(value) ... GROUP BY` over the team's facts of the last 30 days (the rows the
page's widest window sums), and, for scale, the bare sort-and-read of the team's events of 60 days that the page
read before (ORDER BY, rows fetched to Python, nothing computed).

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


async def _fill(inputs: Inputs) -> tuple[int, int]:
    """The synthetic history as rows (bulk inserts): a tenant, its people, leads and their audit events. Returns the
    tenant's id and the first manager's."""
    from storage.models import Lead as LeadRow
    from storage.models import LeadEvent, Tenant, User

    tenant = await Tenant.create(name="bench", timezone="Asia/Shanghai")
    ids: dict[int, int] = {}
    for p in inputs.people:  # managers first: a rep's manager exists when the rep is made
        user = await User.create(tenant=tenant, name=p.name, role=p.role, manager_id=ids.get(p.manager_id or 0))
        ids[p.id] = user.id
    events: dict[int, list[EventIn]] = {}
    for e in inputs.events:
        events.setdefault(e.lead_id, []).append(e)
    leads, rows = [], []
    for lead in inputs.leads:
        evs = sorted(events[lead.id], key=lambda e: e.seq)
        rep = ids[int(evs[1].after["assignee_id"])]  # type: ignore[arg-type]
        leads.append(LeadRow(id=lead.id, tenant_id=tenant.id, company=f"客户{lead.id}", status=str(lead.status),
                             assignee_id=rep, assigned_at=evs[1].at, last_activity_at=evs[-1].at,
                             evidence=[{"ref": "voice:1", "kind": e.kind, "at": e.at.isoformat()}
                                       for e in lead.evidence]))
        for e in evs:
            after = {**e.after, "assignee_id": rep} if "assignee_id" in e.after else dict(e.after)
            rows.append(LeadEvent(tenant_id=tenant.id, lead_id=lead.id, seq=e.seq, at=e.at,
                                  actor_id=ids.get(e.actor_id or 0), actor_role="rep", source="api", action=e.action,
                                  before=dict(e.before), after=after, reason="", hash="0" * 64))
    await LeadRow.bulk_create(leads, batch_size=2000)
    await LeadEvent.bulk_create(rows, batch_size=2000)
    return tenant.id, ids[inputs.people[0].id]


async def _timed_async(fn, repeat: int = 5) -> float:
    """The median of `repeat` runs, in ms (the first run warms the database's cache like any page after it)."""
    spent = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        spent.append(time.perf_counter() - started)
    return sorted(spent)[len(spent) // 2] * 1000


async def _profile(build) -> None:
    """Where one page's time goes: each part `report.build` awaits, timed (the median of 5 pages), then the
    functions cProfile finds the most time in (the database's own time shows as the awaits it is in)."""
    import asyncio
    import cProfile
    import pstats

    from bot.board import needs, queries, sums

    spent: dict[str, list[float]] = {}
    parts = [(queries, "load_inputs"), (sums, "sums"), (needs, "counted"), (needs, "most_pressing")]
    saved = [(owner, name, getattr(owner, name)) for owner, name in parts]

    def timed_part(name, fn):
        if asyncio.iscoroutinefunction(fn):
            async def part(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    spent.setdefault(name, []).append(time.perf_counter() - started)
        else:
            def part(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    spent.setdefault(name, []).append(time.perf_counter() - started)
        return part

    for owner, name, fn in saved:
        setattr(owner, name, timed_part(name, fn))
    try:
        total = await _timed_async(build)
    finally:
        for owner, name, fn in saved:
            setattr(owner, name, fn)
    print(f"  profile: page {total:.1f} ms; " + ", ".join(
        f"{name} {sorted(v)[len(v) // 2] * 1000:.1f} ms" for name, v in spent.items()))
    profiler = cProfile.Profile()
    profiler.enable()
    await build()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


async def _db_size(n: int, pg: str | None, profile: bool = False) -> dict[str, float]:
    import tempfile

    from tortoise import connections

    from bench.load import _drop_database, _scratch_database
    from bot.board import kept, report
    from bot.runtime.config import Settings
    from storage import db
    from storage.models import Tenant, User

    url = await _scratch_database(pg, "leadbot_board") if pg else None
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="lbb-", dir="/tmp")), database_url=url)
    await db.open_db(settings)
    try:
        inputs = history(n)
        started = time.perf_counter()
        tenant_id, manager_id = await _fill(inputs)
        filled = time.perf_counter() - started
        started = time.perf_counter()
        facts = await kept.rebuild(tenant_id)
        rebuilt = time.perf_counter() - started
        if url:  # what autovacuum does to a PostgreSQL table that has grown: statistics for the planner
            await connections.get("default").execute_script("VACUUM ANALYZE")
        tenant, manager = await Tenant.get(id=tenant_id), await User.get(id=manager_id)
        team = [manager_id, *await User.filter(manager_id=manager_id).values_list("id", flat=True)]
        conn = connections.get("default")
        mark = (lambda i: f"${i}") if conn.capabilities.dialect == "postgres" else (lambda i: "?")
        team_marks = ", ".join(mark(i) for i in range(3, 3 + len(team)))
        at = kept.BoardFact._meta.fields_map["at"].to_db_value
        since, events_since = at((NOW - timedelta(days=30)).astimezone(UTC), None), at(
            (NOW - timedelta(days=60)).astimezone(UTC), None)
        grouped = (f'SELECT "kind", "tag", COUNT(*), SUM("value") FROM "board_facts" WHERE "tenant_id" = {mark(1)} '
                   f'AND "at" >= {mark(2)} AND "person_id" IN ({team_marks}) GROUP BY "kind", "tag"')
        # What the page read before: every event of the tenant's last 60 days (the walk then kept the team's).
        events = ('SELECT "lead_id", "seq", "at", "actor_id", "action", "before", "after", "reason" '
                  f'FROM "lead_events" WHERE "tenant_id" = {mark(1)} AND "at" >= {mark(2)} ORDER BY "lead_id", "seq"')
        page = await _timed_async(lambda: report.build(tenant, manager, NOW))
        if profile:
            await _profile(lambda: report.build(tenant, manager, NOW))
        bare = await _timed_async(lambda: conn.execute_query_dict(grouped, [tenant_id, since, *team]))
        read = await _timed_async(lambda: conn.execute_query_dict(events, [tenant_id, events_since]))
        return {"events": len(inputs.events), "facts": facts, "fill_s": filled, "rebuild_s": rebuilt,
                "page_ms": page, "group_ms": bare, "read_ms": read}
    finally:
        await db.close_db()
        if pg and url:
            await _drop_database(pg, url)


def main_db(sizes: list[int], pg: str | None, profile: bool = False) -> None:
    import asyncio
    import os

    print(f"backend: {'PostgreSQL' if pg else 'SQLite (embedded)'}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'leads':>8} {'events':>8} {'facts':>8} {'fill s':>7} {'rebuild s':>9} {'GROUP BY ms':>11} "
          f"{'page ms':>8} {'ratio':>6} {'old read ms':>11}")
    for n in sizes:
        r = asyncio.run(_db_size(n, pg, profile))
        print(f"{n:>8} {r['events']:>8} {r['facts']:>8} {r['fill_s']:>7.1f} {r['rebuild_s']:>9.1f} "
              f"{r['group_ms']:>11.1f} {r['page_ms']:>8.1f} {r['page_ms'] / r['group_ms']:>6.1f} "
              f"{r['read_ms']:>11.1f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def main() -> None:
    from bot.runtime import wiring

    wiring.install()  # the follow-ups and hooks the service runs, as its entry points install them
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", default=None)
    parser.add_argument("--db", action="store_true", help="the page through the service against a real database")
    parser.add_argument("--pg", default=None, help="with --db: a PostgreSQL server URL to make a scratch database on")
    parser.add_argument("--profile", action="store_true",
                        help="with --db: where the page's time goes (its parts timed, then cProfile)")
    args = parser.parse_args()
    if args.db:
        main_db([int(x) for x in (args.leads or "20000,200000").split(",")], args.pg, args.profile)
        return
    sizes = [int(x) for x in (args.leads or "2000,20000").split(",")]
    print(f"{'leads':>8} {'events':>8} {'baseline ms':>12} {'board ms':>10} {'ratio':>7}")
    for n in sizes:
        inputs = history(n)
        calendar = WorkCalendar("Asia/Shanghai")
        base, full = timed(baseline, inputs), timed(board, inputs, calendar)
        print(f"{n:>8} {len(inputs.events):>8} {base:>12.1f} {full:>10.1f} {full / base:>7.1f}")


if __name__ == "__main__":
    main()
