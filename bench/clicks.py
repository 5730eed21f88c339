"""Single-click benchmark: one card click at a time, from the encrypted WeCom callback to the card update the simulator
receives, on the service as `leadbot serve` runs it (web route and in-process worker in one event loop).

(Named clicks.py, not click.py: a script's own directory comes first on sys.path, and a bench named click.py
shadowed the `click` package the CLI's platform options are built with.)

Run: PYTHONPATH=. python bench/clicks.py [--clicks 120] [--redis-url redis://127.0.0.1:6379/N]
                                        [--database-url postgres://…/postgres] [--profile]

Prints, beside the simulator's own round trip measured in the same run (a direct POST of a card update to the
simulator, same client, same loop):
- click -> card update p50 / p99 (sequential clicks, each on its own card, the lead's next stage);
- SQL statements per click, and how many commits (a write outside a transaction, or a transaction's commit),
  counted with a wrapper on Tortoise's database clients for the whole process between send and card update;
- with --profile, the functions where the clicks' time went (cProfile, cumulative, project code only).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# CLICK_CODE=/path/to/another/checkout: measure that code with this bench (before/after on the same machine).
if os.environ.get("CLICK_CODE"):
    sys.path.insert(0, os.environ["CLICK_CODE"])

CORP_ID = "wwclickbench00001"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TOKEN = "clickBenchToken"
AGENT = 1_200_001
SECRET = "click-bench-secret-xxxxxxxx"
ADMIN_TOKEN = "bench-admin-token-xxxxxxxxxxxx"
STAGES = ["已联系", "需求确认", "方案演示", "商务谈判", "合同签署", "赢单"]


class StatementCounter:
    """Counts SQL statements and commits through Tortoise's clients (SQLite and asyncpg), by statement kind."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.commits = 0
        self.round_trips = 0  # to PostgreSQL, at asyncpg's connection: BEGIN, COMMIT and the pool's reset counted
        self.on = False
        self.trace = bool(os.environ.get("CLICK_SQL"))  # print each counted statement (to see what a click runs)

    def install(self) -> None:
        from tortoise.backends.base.client import TransactionalDBClient

        classes = []
        with contextlib.suppress(ImportError):
            from tortoise.backends.sqlite import client as sqlite

            classes += [sqlite.SqliteClient, sqlite.SqliteTransactionWrapper]
        with contextlib.suppress(ImportError):
            from tortoise.backends.asyncpg import client as pg

            classes += [pg.AsyncpgDBClient, pg.TransactionWrapper]
        counter = self
        for cls in classes:
            for name in ("execute_insert", "execute_many", "execute_query", "execute_query_dict"):
                if name not in cls.__dict__:
                    continue

                def wrap(fn):
                    async def counted(self, query, *a, **kw):
                        if counter.on:
                            verb = query.lstrip().split(None, 1)[0].upper()
                            counter.kinds[verb] += 1
                            if counter.trace:
                                print("  SQL", type(self).__name__, repr(query[:160]), file=sys.stderr)
                            if verb != "SELECT" and not isinstance(self, TransactionalDBClient):
                                counter.commits += 1  # autocommit: the statement is its own transaction
                        return await fn(self, query, *a, **kw)

                    return counted

                setattr(cls, name, wrap(cls.__dict__[name]))
            if "commit" in cls.__dict__:
                def wrap_commit(fn):
                    async def counted(self, *a, **kw):
                        if counter.on:
                            counter.commits += 1
                        return await fn(self, *a, **kw)

                    return counted

                cls.commit = wrap_commit(cls.__dict__["commit"])
        with contextlib.suppress(ImportError):
            self._count_round_trips()

    def _count_round_trips(self) -> None:
        """Every query asyncpg sends: a statement with arguments (`_execute`, `_executemany`) or a plain text one
        (`execute` with none: BEGIN, COMMIT, the pool's reset on handing a connection back)."""
        from asyncpg.connection import Connection

        counter = self

        def wrap(fn, plain_only=False):
            async def counted(self, query, *args, **kw):
                if counter.on and not (plain_only and args):
                    counter.round_trips += 1
                return await fn(self, query, *args, **kw)

            return counted

        Connection._execute = wrap(Connection._execute)
        Connection._executemany = wrap(Connection._executemany)
        Connection.execute = wrap(Connection.execute, plain_only=True)

    @property
    def statements(self) -> int:
        return sum(self.kinds.values())


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


async def run(args: argparse.Namespace) -> None:
    from bench.scratch import claimed_redis

    with claimed_redis(args.redis_url) as args.redis_url:  # a free, empty index (see bench/scratch.py)
        await _run(args)


async def _run(args: argparse.Namespace) -> None:
    import aiohttp
    from aiohttp import web

    from bot.admin.apps import register_app
    from bot.admin.platform_ids import set_id
    from bot.admin.schemas import AppIn
    from bot.runtime import wiring
    from bot.runtime.app import create_app
    from bot.runtime.config import Settings
    from bot.runtime.services import open_services
    from bot.runtime.worker import running_worker
    from storage.models import Role, RoutingRule, Tenant, User
    from tests.sim.wecom import CallbackSender, WeComSimulator

    wiring.install()  # the platforms an app may be of, as every entry point of the service installs them

    counter = StatementCounter()
    counter.install()
    data_dir = Path(tempfile.mkdtemp(prefix="lbc-", dir="/tmp"))
    database_url = None
    if args.database_url:
        from bench.load import _scratch_database

        database_url = await _scratch_database(args.database_url)
    updated: dict[str, asyncio.Future[float]] = {}

    class TimedSimulator(WeComSimulator):
        """Notes when each card's update arrives (the end of a click)."""

        async def _update_card(self, request, body):
            response = await super()._update_card(request, body)
            code = self.codes.get(str(body.get("response_code", ""))) if isinstance(body, dict) else None
            if code is not None and (f := updated.get(code.task_id)) is not None and not f.done():
                f.set_result(time.perf_counter())
            return response

    sim = TimedSimulator(CORP_ID)
    sim.PER_MEMBER_PER_MINUTE = sim.PER_MEMBER_PER_HOUR = 10**9
    await sim.start()
    n_cards = -(-args.clicks // 2) + 5  # two clicks a card (its first two stages), a few spare
    # The service keeps to WeCom's 30 messages a member a minute: enough reps that set-up is not paced by it.
    reps = [f"rep{j}" for j in range(-(-n_cards // 20))]
    sim.add_app(AGENT, SECRET, {"mgr", *reps})
    settings = Settings(data_dir=data_dir, redis_url=args.redis_url, database_url=database_url,
                        admin_token=ADMIN_TOKEN,
                        master_key=base64.b64encode(b"\x07" * 32).decode(), allow_private_urls=True,
                        public_url="http://127.0.0.1:1")
    try:
        async with open_services(settings) as services, running_worker(services):
            tenant = await Tenant.create(name="bench", settings={"workflow": {
                "gate_demo_needs_evidence": False, "gate_negotiation_needs_budget": False,
                "gate_contract_needs_decision_maker": False}})
            data = AppIn.model_validate({"platform": "wecom", "name": "bench", "api_base": sim.url,
                                         "credentials": {"corp_id": CORP_ID, "agent_id": AGENT, "secret": SECRET,
                                                         "token": TOKEN, "encoding_aes_key": AES_KEY}}).root
            app = await register_app(services.box, settings, tenant.id, data)
            manager = await User.create(tenant=tenant, name="经理", role=Role.MANAGER)
            await set_id(manager, "wecom", "mgr")
            rep_ids = []
            for r in reps:
                rep = await User.create(tenant=tenant, name=f"销售{r}", role=Role.REP, manager=manager)
                await set_id(rep, "wecom", r)
                rep_ids.append(rep.id)
            await RoutingRule.create(tenant=tenant, position=1, name="all",
                                     spec={"strategy": "round_robin", "rep_ids": rep_ids})
            runner = web.AppRunner(create_app(services), access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
                for n in range(n_cards):
                    async with http.post("/api/leads", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                                         json={"tenant_id": tenant.id, "company": f"客户{n}",
                                               "external_id": f"c-{n}"}) as r:
                        assert r.status in (200, 201), await r.text()
                for _ in range(600):
                    if len(sim.cards) >= n_cards:
                        break
                    await asyncio.sleep(0.05)
                sender = CallbackSender(http, token=TOKEN, encoding_aes_key=AES_KEY, corp_id=CORP_ID, agent_id=AGENT,
                                        simulator=sim)
                path = f"/wecom/{app.id}/callback"

                async def click(task_id: str) -> tuple[float, int, int, Counter[str]] | None:
                    shown = sim.cards[(AGENT, task_id)].shown
                    buttons = {b["text"]: b["key"] for b in shown.get("button_list", []) if "key" in b}
                    key = next((buttons[t] for t in STAGES if t in buttons), None)
                    if key is None:
                        return None
                    params, body = sender.signed(sender.click(sorted(sim.cards[(AGENT, task_id)].to)[0], task_id, key))
                    fut = asyncio.get_running_loop().create_future()
                    updated[task_id] = fut
                    before, commits, kinds = counter.statements, counter.commits, counter.kinds.copy()
                    trips = counter.round_trips
                    start = time.perf_counter()
                    async with http.post(f"{path}?{urlencode(params)}", data=body,
                                         headers={"Content-Type": "text/xml"}) as r:
                        assert r.status == 200, r.status
                    acked = time.perf_counter()
                    done = await asyncio.wait_for(fut, 10)
                    await asyncio.sleep(0.05)  # let the job's bookkeeping after the update finish (counted)
                    diff = counter.kinds.copy()
                    diff.subtract(kinds)
                    acks.append((acked - start) * 1000)
                    round_trips.append(counter.round_trips - trips)
                    return (done - start) * 1000, counter.statements - before, counter.commits - commits, diff

                acks: list[float] = []
                round_trips: list[int] = []
                tasks = [t for (agent, t) in sim.cards if agent == AGENT]
                for t in tasks[:3]:  # warm-up: connections, caches, the first token
                    await click(t)
                counter.on = True
                os.environ["RC_ON"] = "1"  # (a diagnostic hook may count Redis calls from here)
                e2e, stmts, commits = [], [], []
                kinds: Counter[str] = Counter()
                profiler = cProfile.Profile() if args.profile else None
                # Every card's first click, then every card's second (two stages, so the figure is not one stage's)
                order = tasks[3:3 + args.clicks // 2] * 2
                if profiler:
                    profiler.enable()
                acks.clear()
                round_trips.clear()
                cpu = time.process_time()
                for t in order:
                    got = await click(t)
                    if got is None:
                        continue
                    ms, s, c, k = got
                    e2e.append(ms)
                    stmts.append(s)
                    commits.append(c)
                    kinds.update(k)
                cpu = time.process_time() - cpu
                if profiler:
                    profiler.disable()
                # The simulator's own round trip: a card update POSTed straight to it (a code it rejects: the
                # same route, parsing and answer), same client, same loop.
                rtt = []
                url = f"{sim.url}/cgi-bin/message/update_template_card?access_token=x"
                for _ in range(len(e2e)):
                    start = time.perf_counter()
                    async with http.post(url, json={"userids": ["rep"], "agentid": AGENT, "response_code": "none",
                                                    "template_card": {}}) as r:
                        await r.read()
                    rtt.append((time.perf_counter() - start) * 1000)
            await runner.cleanup()
        load = os.getloadavg()
        backend = f"{'PostgreSQL' if database_url else 'SQLite'}, {args.redis_url or 'embedded Redis'}"
        print(f"{backend}; {len(e2e)} sequential clicks; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print(f"  simulator round trip          p50 {_pct(rtt, 50):6.2f} ms   p99 {_pct(rtt, 99):6.2f} ms (baseline)")
        print(f"  click -> card update          p50 {_pct(e2e, 50):6.2f} ms   p99 {_pct(e2e, 99):6.2f} ms   "
              f"mean {statistics.fmean(e2e):.2f} ms")
        print(f"  over the simulator's trip     p50 {_pct(e2e, 50) - _pct(rtt, 50):6.2f} ms")
        print(f"  of which the acknowledgement  p50 {_pct(acks, 50):6.2f} ms   p99 {_pct(acks, 99):6.2f} ms")
        print(f"  CPU per click (this process)  {cpu / len(e2e) * 1000:6.2f} ms   (serve, worker, simulator and client "
              "share it; the 50 ms pause after each click is idle)")
        print(f"  SQL statements per click      {statistics.fmean(stmts):.1f} (min {min(stmts)}, max {max(stmts)}); "
              f"commits per click {statistics.fmean(commits):.1f}; by kind per click: "
              + ", ".join(f"{k} {v / len(e2e):.1f}" for k, v in kinds.most_common()))
        if database_url:
            print(f"  PostgreSQL round trips per click {statistics.fmean(round_trips):.1f} (min {min(round_trips)}, "
                  f"max {max(round_trips)}; statements, BEGIN, COMMIT, the pool's reset)")
        if profiler:
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(r"(bot|cards|storage|handlers|tortoise|pypika|arq|redis)/",
                                                       args.profile_lines)
            print(out.getvalue())
    finally:
        await sim.close()
        shutil.rmtree(data_dir, ignore_errors=True)
        if database_url:
            from bench.load import _drop_database

            await _drop_database(args.database_url, database_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=120)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server (postgres://…/postgres)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-lines", type=int, default=45)
    # serve, worker, simulator and client share this process: on the loop `leadbot serve` runs on
    from bot.runtime import eventloop

    eventloop.run(run(parser.parse_args()), os.environ.get("LEADBOT_EVENT_LOOP", "uvloop"))


if __name__ == "__main__":
    main()
