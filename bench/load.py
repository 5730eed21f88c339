"""Load benchmark: many tenants' card clicks as encrypted WeCom callbacks through the real route, processed by a real
worker up to the card update the simulator receives, at a rising rate until the acknowledgement's p99 passes 100 ms;
then a soak at a steady rate watching the memory of the web and worker processes.

Run: PYTHONPATH=. python bench/load.py [--tenants 50] [--step-seconds 10] [--soak-seconds 600 | 0: no soak]
                                       [--redis-url redis://127.0.0.1:6379/N] [--database-url postgres://…/postgres]
                                       [--serves 1] [--workers 1]

Method
- Processes: `serve` (bot.runtime.app.create_app on a fresh data dir, SQLite and the embedded Redis unless
  --redis-url, as `leadbot serve --no-worker` builds it) pinned to CPU 0; one `worker` process
  (bot.runtime.worker.running_worker, as `leadbot worker`) on CPU 1; this process (the WeCom simulator,
  tests/sim/wecom.py, and the load generator) beside serve on CPU 0 (`--generator-cpu serve`, the default) or beside
  the worker (`--generator-cpu worker`, the layout of the figures before 2026-12-08). The worker costs several times
  the CPU per click of serve, so the default leaves the worker's core to the worker (the database and Redis float
  over both); either way the generator takes a share of one of the service's two cores, which a host with a core
  for each would not: the end-to-end figures are pessimistic. Its CPU per click is printed with the service's.
- Set-up: `--tenants` tenants, each with its own WeCom app (its own agent on the simulator), a manager, reps (one
  per 20 leads: WeCom's 30 messages a member a minute would pace set-up), a round-robin routing rule and the
  evidence gates off (so a lead takes six clicks from 已分配 to 赢单); leads posted
  through `POST /api/leads`; the worker sends each lead's card to the simulator.
- A click: the rep presses the next stage's button on a lead's card; the callback is built as WeCom builds it (a
  fresh ResponseCode from the simulator, encrypted and signed with the app's keys) and sent over keep-alive raw
  HTTP/1.1 connections (bench/ingest.py's load generator). Ack latency = send -> the route's 200. End to end = send
  -> the simulator receiving `message/update_template_card` for that card. A card has one click in flight at a time
  (its next button carries the lead's new version).
- Ramp: open loop at each rate of `--rates` for `--step-seconds`, latency counted from when each request was due;
  stops after the first step whose click -> card update p99 is over 100 ms (issue #24's figure: what the rep waits
  for), whose ack p99 is over 100 ms, or whose clicks did not all reach their card. The sustained rate is the highest
  step that did none of these, with every step below it clean too.
- Reported apart: the highest step whose acknowledgements alone stayed within 100 ms (the web tier's pace), and the
  worker's pace, the highest step whose clicks reached their cards with p99 within 1 s (above it the queue grows:
  acknowledgements stay fast, card updates fall behind).
- Soak: `--soak-rate` clicks/s (default: `--soak-fraction` of the rate the worker keeps up with) for
  `--soak-seconds`, sampling the RSS of serve and worker (and the embedded Redis) every 5 s; prints first, last,
  minute by minute, and the least-squares slope in MB per minute. The clicks take the six stages in turn (cards are
  first staggered so each stage has free cards), so the work per click is the same throughout: the later stages
  alert the manager (evidence gates off), and each unacknowledged alert holds an ack timer in Redis for 15 minutes
  (state, not a leak), so memory can only level off after that; a soak of 30 minutes shows it.
- Baseline in the same run: a bare aiohttp hello world (bench/ingest.py's) at the sustained rate with the same client.
- Scale-out: `--serves` serve processes share the port (SO_REUSEPORT: the kernel spreads the connections) and
  `--workers` worker processes take the jobs. Each step prints every process's CPU time per click (from /proc) and
  the SQL statements and commits per click (counted in the workers, bench/clicks.py's counter); after the ramp, what
  those figures allow on a host with a core per process.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ingest  # noqa: E402  (its load generator, pinning and hello-world server)
from bot.runtime import eventloop  # noqa: E402

CORP_ID = "wwloadcorp000001"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TOKEN = "loadCallbackToken"
FIRST_AGENT = 1_100_000
STAGES = ["已联系", "需求确认", "方案演示", "商务谈判", "合同签署", "赢单"]
ACK_P99_LIMIT_MS = 100.0
E2E_P99_LIMIT_MS = 100.0  # click -> card update (issue #24)


def _secret(i: int) -> str:
    return f"load-secret-{i:05d}-xxxxxxxx"


# -- the server processes -------------------------------------------------------------------------------------


def _settings(args: argparse.Namespace):
    from bot.runtime.config import Settings

    return Settings(data_dir=args.data_dir, redis_url=args.redis_url, database_url=args.database_url,
                    admin_token=args.admin_token,
                    master_key=base64.b64encode(b"\x07" * 32).decode(), allow_private_urls=True,
                    public_url="http://127.0.0.1:1")


async def serve_leadbot(args: argparse.Namespace) -> None:
    from bot.admin.apps import register_app
    from bot.admin.platform_ids import set_id
    from bot.admin.schemas import AppIn
    from bot.runtime import wiring
    from bot.runtime.app import create_app
    from bot.runtime.logs import setup_logging
    from bot.runtime.services import open_services
    from storage.models import Role, RoutingRule, Tenant, User

    wiring.install()  # the platforms an app may be of, as every entry point of the service installs them

    settings = _settings(args)
    with open(args.data_dir / "serve.log", "a") as log_file:
        setup_logging("info", "text", stream=log_file)
        async with open_services(settings) as services:
            if args.port:  # a further serve process, on the first one's port (SO_REUSEPORT), set-up already done
                await _serve_on(create_app(services), args.port, {})
                return
            apps = []
            for i in range(args.tenants):
                tenant = await Tenant.create(name=f"load-{i}", settings={"workflow": {
                    "gate_demo_needs_evidence": False, "gate_negotiation_needs_budget": False,
                    "gate_contract_needs_decision_maker": False}})
                data = AppIn.model_validate({"platform": "wecom", "name": f"app{i}", "api_base": args.sim_url,
                                             "credentials": {"corp_id": CORP_ID, "agent_id": FIRST_AGENT + i,
                                                             "secret": _secret(i), "token": TOKEN,
                                                             "encoding_aes_key": AES_KEY}}).root
                app = await register_app(services.box, settings, tenant.id, data)
                manager = await User.create(tenant=tenant, name="经理", role=Role.MANAGER)
                await set_id(manager, "wecom", f"mgr{i}")
                # WeCom lets an app send one member 30 messages a minute (and the service keeps to it): enough reps
                # that set-up is not paced by it.
                reps = [await User.create(tenant=tenant, name=f"销售{j}", role=Role.REP, manager=manager)
                        for j in range(args.reps)]
                for j, rep in enumerate(reps):
                    await set_id(rep, "wecom", f"rep{i}-{j}")
                await RoutingRule.create(tenant=tenant, position=1, name="all",
                                         spec={"strategy": "round_robin", "rep_ids": [r.id for r in reps]})
                apps.append({"tenant_id": tenant.id, "app_id": app.id, "agent_id": FIRST_AGENT + i})
            redis_pid = ingest._embedded_redis_pid(args.data_dir) if args.redis_url is None else None
            await _serve_on(create_app(services), 0, {"apps": apps, "redis_pid": redis_pid})


async def _serve_on(app: Any, port: int, info: dict[str, Any]) -> None:
    """bench/ingest.py's `_serve`, on `port` (0: a free one) with SO_REUSEPORT, so that several serve processes
    share one port and the kernel spreads the connections over them."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, reuse_port=True)
    await site.start()
    print(json.dumps({"port": runner.addresses[0][1], "pid": os.getpid(), **info}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


async def run_worker(args: argparse.Namespace) -> None:
    from bench.clicks import StatementCounter
    from bot.runtime.logs import setup_logging
    from bot.runtime.services import open_services
    from bot.runtime.worker import running_worker

    counter = StatementCounter()
    counter.install()
    counter.on = True

    async def report_statements() -> None:  # read by the orchestrator at each step's start and end
        path = args.data_dir / f"sql-{os.getpid()}.json"
        while True:
            # Written aside and renamed: the orchestrator never reads half a file.
            path.with_suffix(".tmp").write_text(json.dumps({"statements": counter.statements,
                                                            "commits": counter.commits}))
            path.with_suffix(".tmp").replace(path)
            await asyncio.sleep(0.25)

    settings = _settings(args)
    with open(args.data_dir / "worker.log", "a") as log_file:
        setup_logging("info", "text", stream=log_file)
        async with open_services(settings) as services, running_worker(services):
            reporter = asyncio.create_task(report_statements())  # noqa: F841 - runs until the process ends
            print(json.dumps({"pid": os.getpid()}), flush=True)
            # A diagnostic (LOAD_OBJECTS=S): which object types the worker gained between S s after its start and
            # its end, to tell a leak from a working set.
            # LOAD_TRACEMALLOC=1 with it: also the source lines whose live allocations grew most (slows the worker).
            probe = float(os.environ.get("LOAD_OBJECTS", 0))
            traced = bool(os.environ.get("LOAD_TRACEMALLOC"))
            if traced:
                tracemalloc.start(8)
            if probe:
                await asyncio.sleep(probe)
                first = _object_counts()
                snapshot = tracemalloc.take_snapshot() if traced else None
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            if probe:
                gained = _object_counts()
                gained.subtract(first)
                print("worker objects gained:", ", ".join(f"{k} {v:+d}" for k, v in gained.most_common(15)),
                      file=sys.stderr, flush=True)
                if snapshot is not None:
                    for stat in tracemalloc.take_snapshot().compare_to(snapshot, "lineno")[:15]:
                        print("worker allocations gained:", stat, file=sys.stderr, flush=True)


def _object_counts():
    import collections
    import gc

    gc.collect()
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


# -- the simulator, timing card updates -----------------------------------------------------------------------


def make_simulator():
    from tests.sim.wecom import WeComSimulator

    class TimedSimulator(WeComSimulator):
        """The simulator, noting when each card update arrives (for the end-to-end figure)."""

        def __init__(self) -> None:
            super().__init__(CORP_ID)
            self.PER_MEMBER_PER_MINUTE = self.PER_MEMBER_PER_HOUR = 10**9  # one rep gets many cards in set-up
            self.on_update: Any = None

        async def _update_card(self, request, body):
            response = await super()._update_card(request, body)
            if self.on_update is not None and isinstance(body, dict):
                code = self.codes.get(str(body.get("response_code", "")))
                if code is not None:
                    self.on_update(code.agent_id, code.task_id)
            return response

    return TimedSimulator()


# -- clicks ---------------------------------------------------------------------------------------------------


@dataclass
class Card:
    app_id: int
    agent_id: int
    rep: str
    task_id: str
    busy_since: float | None = None  # a click in flight, sent at this perf_counter()


GENERATOR = "simulator + generator"  # this process, in the CPU per click figures
POSTGRES = "postgresql"  # the server's backends for the run's database


def _backends_cpu(database: str) -> float:
    """CPU seconds used by the PostgreSQL backends serving `database` (a backend's process title names its database:
    `postgres: user database host(port) idle`). The service's pools keep their connections, so the difference
    between two readings is what the server spent on the service in between."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if f" {database} ".encode() in (proc / "cmdline").read_bytes():
                    total += ingest._cpu_of(int(proc.name))
    return total


@dataclass
class Step:
    name: str
    target_rate: float
    acks_ms: list[float] = field(default_factory=list)
    e2e_ms: list[float] = field(default_factory=list)
    sent: int = 0
    starved: int = 0  # ticks with no card free to click
    off_turn: int = 0  # soak: clicks on another stage than the turn's (that stage had no free card)
    non_200: int = 0
    wall_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)  # by process ("serve 1", "worker 2", ...)
    statements: int = 0  # SQL statements the workers ran during the step
    commits: int = 0

    def summary(self) -> dict[str, Any]:
        acks, e2e = sorted(self.acks_ms), sorted(self.e2e_ms)
        n = max(1, len(e2e))
        return {"name": self.name, "target": self.target_rate, "rate": self.sent / self.wall_s if self.wall_s else 0,
                "sent": self.sent, "updated": len(e2e), "starved": self.starved, "non_200": self.non_200,
                "off_turn": self.off_turn,
                "cpu_ms_per_click": {k: v * 1000 / n for k, v in self.cpu_s.items()},
                "statements_per_click": self.statements / n, "commits_per_click": self.commits / n,
                "ack_p50": ingest._pct(acks, 50), "ack_p99": ingest._pct(acks, 99),
                "e2e_p50": ingest._pct(e2e, 50), "e2e_p99": ingest._pct(e2e, 99)}


class Clicker:
    def __init__(self, sim: Any, port: int, cards: list[Card], pids: dict[str, int] | None = None,
                 data_dir: Path | None = None, database: str | None = None) -> None:
        from tests.sim.wecom import CallbackSender

        self.sim, self.port = sim, port
        self.pids = pids or {}  # the service's processes, by name: CPU per click is measured for each
        self.data_dir = data_dir
        self.database = database  # PostgreSQL: the run's scratch database, whose backends' CPU is measured too
        self.cards = {(c.agent_id, c.task_id): c for c in cards}
        # Free cards (no click in flight) by the stage their next click moves them to.
        self.buckets: list[collections.deque[Card]] = [collections.deque() for _ in STAGES]
        for c in cards:
            self._free(c)
        self.senders = {c.agent_id: CallbackSender(None, token=TOKEN, encoding_aes_key=AES_KEY,  # type: ignore[arg-type]
                                                   corp_id=CORP_ID, agent_id=c.agent_id, simulator=sim)
                        for c in cards}
        self.step: Step | None = None
        self.last_update = 0.0
        sim.on_update = self._updated

    def _cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each process measured, and by the PostgreSQL backends of the run's database."""
        used = {k: ingest._cpu_of(pid) for k, pid in self.pids.items()}
        if self.database:
            used[POSTGRES] = _backends_cpu(self.database)
        return used

    async def quiet(self, seconds: float = 5.0, limit_s: float = 600.0) -> float:
        """Wait until no card update has come for `seconds` (the worker drained what the ramp left queued)."""
        start = time.perf_counter()
        while time.perf_counter() - self.last_update < seconds and time.perf_counter() - start < limit_s:
            await asyncio.sleep(0.5)
        return time.perf_counter() - start

    def _updated(self, agent_id: int, task_id: str) -> None:
        self.last_update = time.perf_counter()
        card = self.cards.get((agent_id, task_id))
        if card is None or card.busy_since is None:
            return
        if self.step is not None:
            self.step.e2e_ms.append((time.perf_counter() - card.busy_since) * 1000)
        card.busy_since = None
        self._free(card)

    def _next(self, card: Card) -> tuple[int, str] | None:
        """The stage the card's next click moves it to, and that button's key; None once it is won."""
        shown = self.sim.cards[(card.agent_id, card.task_id)].shown
        buttons = {b["text"]: b["key"] for b in shown.get("button_list", []) if "key" in b}  # not the URL ones
        return next(((i, buttons[t]) for i, t in enumerate(STAGES) if t in buttons), None)

    def _free(self, card: Card) -> None:
        if (nxt := self._next(card)) is not None:
            self.buckets[nxt[0]].append(card)

    @property
    def free(self) -> int:
        return sum(len(b) for b in self.buckets)

    def earliest(self, i: int) -> Card | None:
        """The ramp's pick: a card at its earliest stage (the cheapest clicks; every card starts there)."""
        return next((b.popleft() for b in self.buckets if b), None)

    def in_turn(self, i: int) -> Card | None:
        """The soak's pick: the stages in turn, so the work per click is the same from the first minute to the
        last (the later stages alert the manager); another stage when that one has no free card (counted)."""
        bucket = self.buckets[i % len(STAGES)]
        if bucket:
            return bucket.popleft()
        if self.step is not None:
            self.step.off_turn += 1
        return self.earliest(i)

    async def stagger(self, conns: list[ingest.Connection], rate: float, per_stage: int) -> None:
        """Before the soak, advance cards so that every stage has `per_stage` free cards: in round r, (6 - r) x
        `per_stage` cards move on from stage r - 1, leaving `per_stage` of them there."""
        for r in range(1, len(STAGES)):
            n = (len(STAGES) - r) * per_stage
            bucket = self.buckets[r - 1]
            await self.run(conns, Step(f"stagger {r}", rate), n / rate,
                           pick=lambda i, b=bucket: b.popleft() if b else None)

    def request(self, card: Card) -> bytes:
        sender = self.senders[card.agent_id]
        nxt = self._next(card)
        params, body = sender.signed(sender.click(card.rep, card.task_id, nxt[1] if nxt else ""))
        head = (f"POST /wecom/{card.app_id}/callback?{urlencode(params)} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        return head + body

    async def run(self, conns: list[ingest.Connection], step: Step, seconds: float,
                  pick: Callable[[int], Card | None] | None = None) -> Step:
        """Open loop at `step.target_rate` for `seconds`, the i-th click on `pick(i)`'s card; then up to 10 s for
        the last clicks to reach their cards."""
        pick = pick or self.earliest
        self.step = step
        cpu0 = self._cpu()
        sql0 = self._statements()
        idle: asyncio.Queue[ingest.Connection] = asyncio.Queue()
        for c in conns:
            idle.put_nowait(c)
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.02
        tasks = []

        async def one(raw: bytes, due: float) -> None:
            conn = await idle.get()
            status = await conn.request(raw)
            step.acks_ms.append((loop.time() - due) * 1000)
            if status != 200:
                step.non_200 += 1
            idle.put_nowait(conn)

        total = int(step.target_rate * seconds)
        for i in range(total):
            due = start + i / step.target_rate
            if (delay := due - loop.time()) > 0:
                await asyncio.sleep(delay)
            card = pick(i)
            if card is None:
                step.starved += 1
                continue
            card.busy_since = time.perf_counter()
            step.sent += 1
            tasks.append(asyncio.create_task(one(self.request(card), due)))
        step.wall_s = loop.time() - start
        await asyncio.gather(*tasks)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                while any(c.busy_since is not None for c in self.cards.values()):
                    await asyncio.sleep(0.05)
        for c in self.cards.values():  # a click whose update never came: the card is stuck, leave it out
            c.busy_since = None
        await asyncio.sleep(0.3)  # the workers' statement counts are written every 0.25 s
        step.cpu_s = {k: v - cpu0[k] for k, v in self._cpu().items()}
        sql1 = self._statements()
        step.statements, step.commits = sql1[0] - sql0[0], sql1[1] - sql0[1]
        return step

    def _statements(self) -> tuple[int, int]:
        """SQL statements and commits run so far by the worker processes (bench/clicks.py's counter in each)."""
        total = [0, 0]
        for path in self.data_dir.glob("sql-*.json") if self.data_dir else ():
            with contextlib.suppress(OSError, ValueError):
                got = json.loads(path.read_text())
                total[0] += got["statements"]
                total[1] += got["commits"]
        return total[0], total[1]


# -- memory ---------------------------------------------------------------------------------------------------


def rss_mb(pid: int | None) -> float:
    if not pid:
        return 0.0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def slope_per_min(samples: list[tuple[float, float]]) -> float:
    if len(samples) < 2:
        return 0.0
    xs, ys = [t for t, _ in samples], [v for _, v in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den * 60 if den else 0.0


# -- orchestration --------------------------------------------------------------------------------------------


async def _scratch_database(server_url: str, prefix: str = "leadbot_load") -> str:
    """A fresh database on that PostgreSQL server for this run (dropped after); the other benches use it too."""
    import asyncpg

    name = f"{prefix}_{os.getpid()}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server_url.rsplit("/", 1)[0] + "/" + name


async def _drop_database(server_url: str, url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


def _child(*argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _first_line(proc: subprocess.Popen[str], what: str) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"{what} did not start")
    return json.loads(line)


async def post_leads(port: int, admin_token: str, apps: list[dict], per_tenant: int) -> None:
    import aiohttp

    headers = {"Authorization": f"Bearer {admin_token}"}
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
        sem = asyncio.Semaphore(16)

        async def one(app: dict, n: int) -> None:
            async with sem, session.post("/api/leads", headers=headers, json={
                    "tenant_id": app["tenant_id"], "company": f"客户{n}", "external_id": f"load-{app['tenant_id']}-{n}"
            }) as r:
                assert r.status in (200, 201), await r.text()

        await asyncio.gather(*(one(app, n) for app in apps for n in range(per_tenant)))


def _print_step(s: dict[str, Any]) -> None:
    print(f"  {s['name']:>12}  sent {s['rate']:6.1f}/s  ack p50 {s['ack_p50']:6.1f} ms  p99 {s['ack_p99']:7.1f} ms   "
          f"to card update p50 {s['e2e_p50']:6.1f} ms  p99 {s['e2e_p99']:7.1f} ms   updated {s['updated']}/{s['sent']}"
          + (f"   non-200 {s['non_200']}" if s["non_200"] else "")
          + (f"   starved {s['starved']}" if s["starved"] else "")
          + (f"   off-turn {s['off_turn']}" if s["off_turn"] else ""), flush=True)
    if s.get("cpu_ms_per_click"):
        print("               CPU per click: " + ", ".join(f"{k} {v:.1f} ms" for k, v in s["cpu_ms_per_click"].items())
              + f";  SQL per click {s['statements_per_click']:.1f} statements, {s['commits_per_click']:.1f} commits"
              + f";  load average {os.getloadavg()[0]:.1f}", flush=True)


async def orchestrate(args: argparse.Namespace) -> None:
    from bench.scratch import claimed_redis

    with claimed_redis(args.redis_url) as args.redis_url:  # a free, empty index (see bench/scratch.py)
        await _orchestrate(args)


async def _orchestrate(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="lbl-", dir="/tmp"))
    admin_token = secrets.token_urlsafe(24)
    # Cards: the ramp's clicks each take a fresh card (the earliest stage first); the stagger takes 5 x its
    # per-stage count off the first stage; the soak starts a fresh card on one click in six. 15 % more, for cards
    # the per-member limit delays past the set-up.
    soak_most = min(args.soak_rate or args.soak_rate_cap, args.soak_rate_cap)
    soaking = args.soak_seconds > 0
    cards_needed = 1.15 * (sum(r * args.step_seconds for r in args.rates) + 5 * max(10, 3 * soak_most) * soaking
                          + soak_most * args.soak_seconds / len(STAGES))
    per_tenant = max(2, -(-int(cards_needed) // args.tenants))
    reps = -(-per_tenant // 20)
    sim = make_simulator()
    await sim.start()
    for i in range(args.tenants):
        sim.add_app(FIRST_AGENT + i, _secret(i), {f"mgr{i}", *(f"rep{i}-{j}" for j in range(reps))})
    database_url = await _scratch_database(args.database_url) if args.database_url else None
    common = ["--data-dir", str(data_dir), "--admin-token", admin_token,
              *(["--redis-url", args.redis_url] if args.redis_url else []),
              *(["--database-url", database_url] if database_url else [])]
    serve = _child("--serve-leadbot", "--sim-url", sim.url, "--tenants", str(args.tenants), "--reps", str(reps),
                   *common)
    worker = None
    procs: list[subprocess.Popen[str]] = [serve]
    try:
        info = await asyncio.to_thread(_first_line, serve, "serve")
        ncpu = os.cpu_count() or 1
        ingest._pin(serve.pid, ingest.SERVER_CPU)
        if info.get("redis_pid"):
            ingest._pin(info["redis_pid"], ingest.CLIENT_CPU)
        pids = {"serve 1": serve.pid}
        for j in range(1, args.serves):  # further serve processes on the same port (SO_REUSEPORT)
            more = _child("--serve-leadbot", "--sim-url", sim.url, "--port", str(info["port"]), *common)
            procs.append(more)
            await asyncio.to_thread(_first_line, more, f"serve {j + 1}")
            ingest._pin(more.pid, (ingest.SERVER_CPU + j) % ncpu)
            pids[f"serve {j + 1}"] = more.pid
        winfo: dict[str, Any] = {}
        for j in range(args.workers):
            w = _child("--run-worker", *common)
            procs.append(w)
            got = await asyncio.to_thread(_first_line, w, f"worker {j + 1}")
            winfo = winfo or got
            worker = worker or w
            ingest._pin(w.pid, (ingest.CLIENT_CPU + j) % ncpu)
            pids[f"worker {j + 1}"] = w.pid
        if info.get("redis_pid"):
            pids["redis"] = info["redis_pid"]
        generator_cpu = ingest.SERVER_CPU if args.generator_cpu == "serve" else ingest.CLIENT_CPU
        ingest._pin(os.getpid(), generator_cpu)
        port = info["port"]
        backends = f"{'PostgreSQL' if database_url else 'SQLite'}, {args.redis_url or 'embedded Redis'}"
        print(f"{backends}; {args.tenants} tenants x {reps} reps, {per_tenant} leads a tenant "
              f"({args.tenants * per_tenant} cards, six clicks each); {args.serves} serve + {args.workers} worker "
              f"processes on {ncpu} CPUs (serve 1 on CPU {ingest.SERVER_CPU}, worker 1 on CPU {ingest.CLIENT_CPU}, "
              f"simulator + load generator on CPU {generator_cpu % ncpu} beside {args.generator_cpu} 1, further "
              f"ones spread over the CPUs)")
        t0 = time.perf_counter()
        await post_leads(port, admin_token, info["apps"], per_tenant)
        want = args.tenants * per_tenant
        # A card refused by the per-member limit comes later, on the outbox's backoff: do not wait for stragglers.
        last, quiet_since = 0, time.perf_counter()
        while len(sim.cards) < want and time.perf_counter() - quiet_since < 20:
            await asyncio.sleep(0.2)
            if len(sim.cards) != last:
                last, quiet_since = len(sim.cards), time.perf_counter()
        print(f"set-up: {want} leads posted, {len(sim.cards)} cards delivered in {time.perf_counter() - t0:.0f} s\n")
        by_agent = {a["agent_id"]: a for a in info["apps"]}
        cards = [Card(by_agent[agent]["app_id"], agent, sorted(card.to)[0], task)
                 for (agent, task), card in sim.cards.items()]
        # The generator's own CPU is counted with the service's (not a process of the service: left out of the
        # capacity figures and the soak's memory).
        clicker = Clicker(sim, port, cards, {**pids, GENERATOR: os.getpid()}, data_dir,
                          database_url.rsplit("/", 1)[1] if database_url else None)
        conns = await ingest._connect(port, 64)

        await clicker.run(conns, Step("warm-up", args.rates[0]), 5)  # first connections, caches, token fetches
        await clicker.quiet()
        print("ramp (open loop, latency from when each click was due):")
        sustained: dict[str, Any] | None = None  # click -> card update p99 within 100 ms
        acked: dict[str, Any] | None = None  # acknowledgements within 100 ms, whatever the card's delay
        last_step: dict[str, Any] | None = None
        keeps_up: dict[str, Any] | None = None  # the worker's pace: clicks reach their card within a second
        held_so_far = True
        for rate in args.rates:
            s = (await clicker.run(conns, Step(f"{rate:g}/s", rate), args.step_seconds)).summary()
            _print_step(s)
            kept_up = s["updated"] >= 0.99 * s["sent"] and s["starved"] == 0 and s["non_200"] == 0
            last_step = s
            if kept_up and s["ack_p99"] <= ACK_P99_LIMIT_MS:
                acked = s
                if s["e2e_p99"] <= 1000:
                    keeps_up = s
            why = ("clicks not kept up" if not kept_up else "ack p99 over 100 ms" if s["ack_p99"] > ACK_P99_LIMIT_MS
                   else "card update p99 over 100 ms" if s["e2e_p99"] > E2E_P99_LIMIT_MS else "")
            if not why:
                # Only while every lower step held too: a step that holds after one that did not (noise from other
                # work on the machine) is printed, not reported as sustained.
                if held_so_far:
                    sustained = s
                continue
            held_so_far = False
            print(f"  {'over' if args.keep_going or keeps_up is s else 'stop'}: {why}")
            # Past the card update limit the worker may still keep up (within a second): go on until it does not,
            # so the worker's pace is measured too.
            if not args.keep_going and keeps_up is not s:
                break
            await clicker.quiet()  # the next step starts on an empty queue
        if last_step is not None:
            _print_capacity(last_step, args.serves, args.workers)
        figures = [f"{sustained['target']:.0f} clicks/s (p50 {sustained['e2e_p50']:.1f} ms, p99 "
                   f"{sustained['e2e_p99']:.1f} ms)" if sustained else "no step"]
        if acked is not None:
            figures.append(f"acknowledged within 100 ms: {acked['target']:.0f}/s")
        if keeps_up is not None:
            figures.append(f"worker keeps up (p99 <= 1 s): {keeps_up['target']:.0f}/s")
        print("\n  sustained (click -> card update p99 <= 100 ms): " + ";  ".join(figures)
              + f"   [{args.serves} serve + {args.workers} worker]", flush=True)
        if sustained is None or keeps_up is None:
            print("no step held: nothing to soak at")
            return
        if args.soak_seconds <= 0:
            return
        # Soak below what the worker keeps up with: above it the queue only grows, and so does Redis.
        soak_rate = min(args.soak_rate or args.soak_fraction * keeps_up["target"], args.soak_rate_cap,
                        clicker.free * len(STAGES) / max(args.soak_seconds, 1))
        drained_s = await clicker.quiet()
        print(f"\n(the worker drained the ramp's backlog in {drained_s:.0f} s)")
        # Every stage gets a few seconds' worth of free cards, so the soak can take the stages in turn at once.
        per_stage = max(10, int(3 * soak_rate))
        await clicker.stagger(conns, soak_rate, per_stage)
        await clicker.quiet()
        print(f"staggered: {per_stage} cards at each stage; free by stage "
              + " ".join(f"{t} {len(b)}" for t, b in zip(STAGES, clicker.buckets, strict=True)))
        print(f"soak at {soak_rate:.1f} clicks/s for {args.soak_seconds} s (RSS every 5 s):")
        pids = {"serve": serve.pid, "worker": winfo["pid"], "redis": info.get("redis_pid")}  # RSS: the first ones
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in pids}
        soak_start = time.perf_counter()

        async def sample() -> None:
            while True:
                now = time.perf_counter() - soak_start
                for k, pid in pids.items():
                    samples[k].append((now, rss_mb(pid)))
                await asyncio.sleep(5)

        sampler = asyncio.create_task(sample())
        soak = Step("soak", soak_rate)
        try:
            # In slices, so a long soak reports as it goes.
            slice_s = min(60.0, float(args.soak_seconds))
            done = 0.0
            while done < args.soak_seconds:
                seconds = min(slice_s, args.soak_seconds - done)
                part = await clicker.run(conns, Step(f"soak {done:.0f}s", soak_rate), seconds, pick=clicker.in_turn)
                _print_step(part.summary())
                for k in ("acks_ms", "e2e_ms"):
                    getattr(soak, k).extend(getattr(part, k))
                soak.sent += part.sent
                soak.non_200 += part.non_200
                soak.starved += part.starved
                soak.off_turn += part.off_turn
                soak.wall_s += part.wall_s
                done += slice_s
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        for k in pids:
            samples[k].append((time.perf_counter() - soak_start, rss_mb(pids[k])))
        for c in conns:
            if c.transport is not None:
                c.transport.close()

        await clicker.quiet()
        # Baseline: the bare hello world, same client, same rate.
        hello, hinfo = ingest._start("--serve", "hello")
        try:
            hconns = await ingest._connect(hinfo["port"], 64)
            raw = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{hinfo['port']}\r\n\r\n".encode()
            hphase = ingest.Phase("hello")
            await ingest.fixed_rate(hconns, [raw] * int(sustained["target"] * args.step_seconds),
                                    sustained["target"], hphase)
            hthroughput = ingest.Phase("hello max")
            with ingest._measured(hthroughput, hello.pid):
                await ingest.closed_loop(hconns[:32], [raw] * 20000, hthroughput)
            for c in hconns:
                if c.transport is not None:
                    c.transport.close()
        finally:
            ingest._stop(hello)
        h, hmax = hphase.summary(), hthroughput.summary()
        s = soak.summary()
        print("\nsummary")
        print(f"  sustained click rate          {sustained['target']:7.0f} /s  (last step with card update "
              f"p99 <= 100 ms and every click reaching its card)")
        print(f"  ack at that rate              p50 {sustained['ack_p50']:6.1f} ms   p99 {sustained['ack_p99']:6.1f} ms"
              f"   (bare hello world at the same rate: p50 {h['p50_ms']:.1f} ms, p99 {h['p99_ms']:.1f} ms)")
        print(f"  click -> card update          p50 {sustained['e2e_p50']:6.1f} ms   "
              f"p99 {sustained['e2e_p99']:6.1f} ms   (at the sustained rate)")
        print(f"  worker keeps up to            {keeps_up['target']:7.0f} /s  (click -> card p50 "
              f"{keeps_up['e2e_p50']:.1f} ms, p99 {keeps_up['e2e_p99']:.1f} ms; one worker process)")
        print(f"  soak                          {s['rate']:.1f} /s: ack p50 {s['ack_p50']:.1f} ms p99 "
              f"{s['ack_p99']:.1f} ms, to card p50 {s['e2e_p50']:.1f} ms p99 {s['e2e_p99']:.1f} ms, "
              f"{s['updated']}/{s['sent']} updated")
        print(f"  baseline ratio                sustained clicks / hello-world max throughput = "
              f"{sustained['target']:.0f} / {hmax['rps']:.0f} = {sustained['target'] / hmax['rps']:.1%}")
        for k, rows in samples.items():
            if pids[k]:
                print(f"  RSS {k:<7}  first {rows[0][1]:6.1f} MB  last {rows[-1][1]:6.1f} MB  "
                      f"slope {slope_per_min(rows[len(rows) // 5:]):+.2f} MB/min (after the first fifth)")
                # Minute by minute: growth that levels off (a working set) reads differently from a steady climb.
                print("             by minute: " + " ".join(f"{v:.1f}" for t, v in rows if t % 60 < 5))
    finally:
        for proc in reversed(procs):
            ingest._stop(proc)
        await sim.close()
        shutil.rmtree(data_dir, ignore_errors=True)
        if database_url:
            await _drop_database(args.database_url, database_url)


def _print_capacity(step: dict[str, Any], serves: int, workers: int) -> None:
    """What the processes' CPU per click says about a host with a core for each process: each kind of process
    keeps up with 1000 / (its CPU ms per click) clicks a second; the slower kind, times how many there are, bounds
    the service (Redis, the database and the simulator left out; they had the rest of this machine)."""
    cpu = step.get("cpu_ms_per_click") or {}
    serve = sum(v for k, v in cpu.items() if k.startswith("serve"))
    worker = sum(v for k, v in cpu.items() if k.startswith("worker"))
    if not serve or not worker:
        return
    print(f"\n  CPU per click at {step['name']}: serve processes {serve:.1f} ms, worker processes {worker:.1f} ms, "
          f"redis {cpu.get('redis', 0):.1f} ms, {POSTGRES} {cpu.get(POSTGRES, 0):.1f} ms; "
          f"{GENERATOR} {cpu.get(GENERATOR, 0):.1f} ms "
          f"(load average {os.getloadavg()[0]:.1f})")
    for s_n, w_n in ((1, 1), (2, 2), (2, 4), (4, 12)):
        bound = min(s_n * 1000 / serve, w_n * 1000 / worker)
        print(f"  one core per process, {s_n} serve + {w_n} worker: at most {bound:.0f} clicks/s (CPU bound)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--rates", type=lambda v: [float(x) for x in v.split(",")],
                        default=[10, 20, 40, 80, 120, 160, 240, 320], help="comma-separated clicks/s")
    parser.add_argument("--step-seconds", type=float, default=8.0)
    parser.add_argument("--soak-seconds", type=float, default=600.0)
    # Well below that pace: the ramp's clicks are mostly a card's first (已联系), the cheapest; later ones, with the
    # evidence gates off, also alert the manager (a chat send and its ack timer), about doubling the work per click.
    parser.add_argument("--soak-fraction", type=float, default=0.4, help="of the rate the worker keeps up with")
    parser.add_argument("--soak-rate", type=float, default=None, help="clicks/s (instead of --soak-fraction)")
    parser.add_argument("--soak-rate-cap", type=float, default=60.0, help="clicks/s at most (sizes the set-up)")
    parser.add_argument("--keep-going", action="store_true",
                        help="run every rate of --rates, past the first that fails (CPU per click at each)")
    parser.add_argument("--generator-cpu", choices=("serve", "worker"), default="serve",
                        help="the core the simulator and load generator share: the first serve's or the first "
                             "worker's")
    parser.add_argument("--serves", type=int, default=1, help="serve processes (sharing one port)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--redis-url", default=None, help="a Redis instead of the embedded one (a scratch index)")
    parser.add_argument("--database-url", default=None,
                        help="a PostgreSQL server (postgres://…/postgres): the run gets a scratch database on it")
    parser.add_argument("--serve-leadbot", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--reps", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--run-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sim-url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--admin-token", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # serve and worker run on the loop `leadbot serve` / `leadbot worker` run on (LEADBOT_EVENT_LOOP, as there);
    # the simulator and the load generator on asyncio's, whatever the service's
    if args.serve_leadbot:
        eventloop.run(serve_leadbot(args), os.environ.get("LEADBOT_EVENT_LOOP", "uvloop"))
    elif args.run_worker:
        eventloop.run(run_worker(args), os.environ.get("LEADBOT_EVENT_LOOP", "uvloop"))
    else:
        asyncio.run(orchestrate(args))


if __name__ == "__main__":
    main()
