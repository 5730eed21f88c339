"""Intake benchmark: leads per second through `POST /api/leads` with routing, at 20 000 open leads already held,
beside a bare insert of the same rows over the same HTTP route machinery, measured in the same run.

Run: PYTHONPATH=. python bench/intake.py [--open 20000] [--leads 1500] [--concurrency 8]
                                         [--postgres postgres://postgres@127.0.0.1:5432/postgres]
                                         [--redis-url redis://127.0.0.1:6379] [--profile]

Method
- One `serve` process (bot.runtime.app.create_app on a fresh data dir, as `leadbot serve --no-worker` builds it: the
  card send jobs intake enqueues wait in the queue, they are not what is measured). Embedded defaults (SQLite, the
  embedded Redis) unless `--postgres` names a server (a scratch database is made and dropped) and `--redis-url` a
  Redis server (a free database index on it is claimed for the run, as the test sessions claim theirs).
- Set-up: one tenant with 5 managers and 50 reps (region 华东, industry 制造), a least-loaded routing rule over all of
  them, and `--open` leads already held by the reps (inserted in bulk, counts rebuilt as `leadbot admin recount`
  does); a tenant API token.
- Measured: `--leads` new leads (region 华东, so the rule routes each one) posted by `--concurrency` keep-alive
  clients; leads/s = leads / wall time. Each lead is created, audited, routed (least loaded: the kept per-rep
  counts), assigned with its response-lock deadline row, its outbox rows written and its send job enqueued.
- Baseline, same process, same clients, same token check: `POST /bench/bare` inserts the same lead row in one
  transaction and answers it (no audit, routing, deadline, outbox, queue): the floor for a route that stores a
  lead. Then intake again, so a drift in the machine's load between the two shows.
- Also per lead: the CPU time the serve process used (user + system, all its threads), which a busy shared machine
  sways less than wall time (the PostgreSQL server's share is not in it). The load average is printed with each
  figure.
- SQL statements per lead (and commits: a write outside a transaction, or a transaction's commit), counted in the
  serve process (`bench.clicks.StatementCounter`): a figure no load on the machine sways.
- With --profile, the first intake pass runs under cProfile in the serve process and the project's functions are
  printed by cumulative time (`--profile-lines` of them; `--profile-sort tottime`: by own time).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "lbt_bench_intake_token_0123456789"
REPS, MANAGERS = 50, 5


def _settings(args: argparse.Namespace):
    from bot.runtime.config import Settings

    return Settings(data_dir=Path(args.data_dir), redis_url=args.redis_url or None,
                    database_url=args.database_url or None, admin_token="bench-admin-token-0123456789abcdef",
                    master_key=base64.b64encode(b"\x07" * 32).decode(), allow_private_urls=True,
                    public_url="http://127.0.0.1:1",
                    # The quota is not what is measured: a burst of thousands a minute from one token is the point.
                    api_calls_per_token_per_min=10_000_000)


async def _seed(open_leads: int) -> int:
    import random

    from bot.leads import open_counts as openleads
    from handlers.auth import token_digest
    from storage.models import ApiToken, Lead, Role, RoutingRule, Tenant, TokenScope, User

    tenant = await Tenant.create(name="bench-intake")
    managers = [await User.create(tenant=tenant, name=f"经理{m}", role=Role.MANAGER) for m in range(MANAGERS)]
    reps = [await User.create(tenant=tenant, name=f"销售{r}", role=Role.REP, manager=managers[r % MANAGERS],
                              region="华东", industries=["制造"]) for r in range(REPS)]
    await RoutingRule.create(tenant=tenant, position=1, name="all", spec={"strategy": "least_loaded"})
    await ApiToken.create(tenant=tenant, name="crm", scope=TokenScope.API, token_sha256=token_digest(TOKEN))
    rnd = random.Random(24)
    statuses = ["assigned", "contacted", "qualified", "demo", "negotiation", "contract"]
    for start in range(0, open_leads, 1000):
        await Lead.bulk_create([
            Lead(tenant_id=tenant.id, company=f"存量{i}", region="华东", industry="制造", status=rnd.choice(statuses),
                 assignee_id=rnd.choice(reps).id, version=2)
            for i in range(start, min(open_leads, start + 1000))])
    await openleads.recount()
    return tenant.id


async def serve(args: argparse.Namespace) -> None:
    from aiohttp import web
    from tortoise.transactions import in_transaction

    from bench import ingest
    from bot.runtime.app import create_app
    from bot.runtime.logs import setup_logging
    from bot.runtime.services import open_services
    from handlers.auth import authenticate
    from storage.models import Lead, TokenScope

    async def bare(request: web.Request) -> web.Response:
        principal = await authenticate(request, need=TokenScope.API)
        data = await request.json()
        async with in_transaction():
            row = await Lead.create(tenant_id=principal.tenant_for(None), company=data["company"],
                                    region=data["region"], industry=data["industry"], status="pool")
        return web.json_response({"id": row.id}, status=201)

    from bench.clicks import StatementCounter

    counter = StatementCounter()
    counter.install()
    profiler: list[cProfile.Profile] = []

    async def measure_start(request: web.Request) -> web.Response:
        counter.kinds.clear()
        counter.commits, counter.on = 0, True
        if request.query.get("profile"):
            profiler.append(cProfile.Profile())
            profiler[-1].enable()
        return web.json_response({})

    async def measure_stop(request: web.Request) -> web.Response:
        counter.on = False
        text = ""
        if profiler:
            prof = profiler.pop()
            prof.disable()
            out = io.StringIO()
            # By own time every function is shown (the event loop, JSON, validation and logging among them).
            only = () if args.profile_sort == "tottime" else (
                r"(bot|cards|storage|handlers|tortoise|pypika|arq|redis|aiosqlite|asyncpg)/",)
            pstats.Stats(prof, stream=out).sort_stats(args.profile_sort).print_stats(*only, args.profile_lines)
            text = out.getvalue()
        return web.json_response({"statements": counter.statements, "commits": counter.commits,
                                  "kinds": dict(counter.kinds), "profile": text})

    settings = _settings(args)
    with open(Path(args.data_dir) / "serve.log", "a") as log_file:
        setup_logging("warning", "text", stream=log_file)
        async with open_services(settings) as services:
            tenant_id = await _seed(args.open)
            app = create_app(services)
            app.router.add_post("/bench/bare", bare)
            app.router.add_post("/bench/measure/start", measure_start)
            app.router.add_post("/bench/measure/stop", measure_stop)
            await ingest._serve(app, {"tenant_id": tenant_id})


async def drive(port: int, path: str, count: int, concurrency: int, tag: str) -> float:
    """Post `count` leads with `concurrency` clients; returns leads per second."""
    import aiohttp

    headers = {"Authorization": f"Bearer {TOKEN}"}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", connector=connector) as session:

        async def client() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                async with session.post(path, headers=headers, json={
                        "company": f"{tag}{n}", "region": "华东", "industry": "制造"}) as r:
                    body = await r.json()
                    if r.status != 201:
                        raise RuntimeError(f"{path}: {r.status} {body}")
                    if path == "/api/leads" and body.get("assignee_id") is None:
                        raise RuntimeError(f"lead {body.get('id')} was not routed")

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


async def _control(port: int, what: str, *, profile: bool = False) -> dict:
    """Start or stop the serve process's statement count (and profile): `/bench/measure/start|stop`."""
    import aiohttp

    async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{port}/bench/measure/{what}", params={"profile": "1"} if profile else {}) as r:
        return await r.json()


def _cpu_s(pid: int) -> float:
    """CPU seconds the serve process has used (user + system, its threads included: SQLite runs in one). Less
    swayed than wall time by what else the shared machine runs; the database server's own share is not in it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


async def orchestrate(args: argparse.Namespace) -> None:
    from bench.scratch import claimed_redis

    with claimed_redis(args.redis_url) as args.redis_url:  # a free index, so a test run never shares the queue
        await _measure(args)


async def _measure(args: argparse.Namespace) -> None:
    from bench.load import _drop_database, _scratch_database  # the scratch PostgreSQL database every bench uses

    data_dir = Path(tempfile.mkdtemp(prefix="lb-intake-"))
    database_url = await _scratch_database(args.postgres, "leadbot_intake") if args.postgres else ""
    backend = ("postgres" if database_url else "sqlite") + "+" + ("redis" if args.redis_url else "embedded-redis")
    argv = [sys.executable, __file__, "--serve", "--data-dir", str(data_dir), "--open", str(args.open),
            "--database-url", database_url, "--redis-url", args.redis_url, "--profile-lines", str(args.profile_lines),
            "--profile-sort", args.profile_sort]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the server did not start (see serve.log in the data dir)")
        started = json.loads(line)
        port, pid = started["port"], started["pid"]
        await drive(port, "/api/leads", min(200, args.leads), args.concurrency, "预热")  # warm-up
        rows = []
        profile = ""
        for n, (path, tag) in enumerate((("/api/leads", "客户"), ("/bench/bare", "裸"), ("/api/leads", "再测"))):
            await _control(port, "start", profile=args.profile and n == 0)
            cpu = _cpu_s(pid)
            rate = await drive(port, path, args.leads, args.concurrency, tag)
            cpu_ms = (_cpu_s(pid) - cpu) * 1000 / args.leads
            counted = await _control(port, "stop")
            profile = profile or counted["profile"]
            rows.append((path, rate, cpu_ms, counted["statements"] / args.leads, counted["commits"] / args.leads,
                         _load()))
        print(f"backend {backend}, {args.open} open leads held, {args.leads} leads per pass, "
              f"{args.concurrency} clients")
        print(f"{'route':<14} {'leads/s':>9} {'ms/lead':>8} {'x bare':>7} {'cpu ms/lead':>12} {'x bare':>7}"
              f" {'SQL/lead':>9} {'commits':>8}  load avg (1 5 15 min)")
        bare_rate, bare_cpu = rows[1][1], rows[1][2]
        for path, rate, cpu_ms, stmts, commits, load in rows:
            print(f"{path:<14} {rate:>9.1f} {1000 / rate:>8.2f} {bare_rate / rate:>7.2f} {cpu_ms:>12.2f} "
                  f"{cpu_ms / bare_cpu:>7.2f} {stmts:>9.1f} {commits:>8.1f}  {load}")
        if profile:
            print(profile)
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=60)
        if database_url:
            await _drop_database(args.postgres, database_url)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--open", type=int, default=20000)
    parser.add_argument("--leads", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--postgres", default="", help="a PostgreSQL server URL (a scratch database is made)")
    parser.add_argument("--redis-url", default="", help="a Redis server URL (default: the embedded Redis); a free "
                        "database index on it is claimed for the run")
    parser.add_argument("--profile", action="store_true", help="profile the first intake pass in the serve process "
                        "(cProfile) and print the project's functions by cumulative time")
    parser.add_argument("--profile-lines", type=int, default=60)
    parser.add_argument("--profile-sort", default="cumulative", help="pstats sort key: cumulative, or tottime to "
                        "see where the time is spent rather than what it is spent under (coroutines' cumulative times "
                        "count every resumption)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from bot.runtime import eventloop

    if args.serve:  # on the loop `leadbot serve` runs on (LEADBOT_EVENT_LOOP, as there)
        eventloop.run(serve(args), os.environ.get("LEADBOT_EVENT_LOOP", "uvloop"))
    else:
        asyncio.run(orchestrate(args))


if __name__ == "__main__":
    main()
