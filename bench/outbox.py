"""Webhook outbox benchmark: events per second from commit to a local receiver, and commit-to-delivery latency.

Run: PYTHONPATH=. python bench/outbox.py [--postgres postgres://postgres@127.0.0.1:5432/postgres]
         [--events 2000] [--leads 100] [--rate 50] [--concurrency 16]
(SQLite in a temporary data dir unless --postgres or LEADBOT_DATABASE_URL names a server, where a scratch database is
created and dropped; Redis is the embedded one. Run on an otherwise idle machine: both cores are shared.)

The receiver is a separate process (aiohttp on 127.0.0.1) that checks every signature, answers 200 and notes each
event's arrival time. In this process a dispatcher runs as in a worker, and lead changes are committed through
`bot.leads.service.act` (UpdateFields by the system: one `lead.updated` event each), round-robin over --leads leads, so
per-lead order is exercised with --concurrency sends in flight.

0. Commit: --events changes to a tenant without subscriptions and to one with, in alternating batches, no
   dispatcher running: what capturing the webhook events costs a commit.
1. Drain: the subscribed tenant's changes from 0, sent once a dispatcher starts: the outbox's own throughput.
2. Live: one writer commits --events changes as fast as it can while the dispatcher sends: commits/s, delivered
   events/s (first commit to last arrival; bounded by the commit rate) and commit-to-arrival latency p50/p99.
3. Paced: --rate changes per second for --events/4 events: latency p50/p99 below capacity.
4. Baseline, same process, same receiver: bare signed POSTs of the same bodies with --concurrency in flight (no
   database, no ordering). The ratios compare the outbox to that ceiling.
Every run checks that each event arrived, and that each lead's events arrived in sequence order.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp

from bot.leads import service as leadservice
from bot.leads import types as lt
from bot.leads.actions import UpdateFields
from bot.runtime.config import Settings
from bot.runtime.services import open_services
from bot.webhooks import dispatcher, payloads, signing
from bot.webhooks import subscriptions as ops
from bot.webhooks.schemas import SubscriptionIn
from storage.models import Tenant, WebhookEvent

RECEIVER = textwrap.dedent("""
    import sys, time
    from aiohttp import web
    from bot.webhooks.signing import verify
    secret, log = sys.argv[1], []

    async def hook(request):
        raw = await request.read()
        verify(secret, request.headers["Leadbot-Signature"], raw, now=time.time())
        log.append((request.headers["Leadbot-Event-Id"], time.time(), raw))
        return web.Response(status=200)

    async def dump(request):
        import json
        out = [(e, t, json.loads(raw).get("lead_id"), json.loads(raw).get("seq")) for e, t, raw in log]
        log.clear()
        return web.json_response(out)

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/log", dump)

    async def main():
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)
        import asyncio
        await asyncio.Event().wait()
    import asyncio
    asyncio.run(main())
""")


@dataclass
class Run:
    committed: dict[str, float]  # event id -> commit time (epoch s)
    first_commit: float
    last_commit: float


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("LEADBOT_DATABASE_URL"),
                        help="a PostgreSQL server URL (a scratch database is created there)")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--leads", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50.0, help="paced phase: changes per second")
    parser.add_argument("--concurrency", type=int, default=16)
    return parser.parse_args()


async def _scratch_pg(url: str, name: str, create: bool) -> str:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"' if create else f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _commit(services, tenant_id: int, lead_id: int, n: int) -> None:
    outcome = await leadservice.act(services, lead_id, UpdateFields(decision_maker=f"决策人{n}"),
                                    lt.Actor.system(tenant_id), source=lt.EventSource.API, inline=False)
    assert outcome.ok, outcome.decision


async def _produce(services, tenant_id: int, leads: list[int], count: int, rate: float | None,
                   start_n: int, *, track: bool = True) -> Run:
    committed: dict[str, float] = {}
    first = time.time()
    pending: list[tuple[int, float]] = []
    for i in range(count):
        if rate:
            due = first + i / rate
            if due > time.time():
                await asyncio.sleep(due - time.time())
        lead_id = leads[i % len(leads)]
        await _commit(services, tenant_id, lead_id, start_n + i)
        pending.append((lead_id, time.time()))
    last = time.time()
    if not track:
        return Run(committed, first, last)
    # map commit times to event ids: each lead's events in seq order match its commits in order
    by_lead: dict[int, list[float]] = {}
    for lead_id, at in pending:
        by_lead.setdefault(lead_id, []).append(at)
    for lead_id, times in by_lead.items():
        rows = await WebhookEvent.filter(lead_id=lead_id).order_by("-seq").limit(len(times)).values(
            "event_id", "seq")
        for row, at in zip(reversed(rows), times, strict=True):
            committed[row["event_id"]] = at
    return Run(committed, first, last)


async def _received(http: aiohttp.ClientSession, base: str, expected: int, timeout_s: float = 600) -> list:
    got: list = []
    deadline = time.monotonic() + timeout_s
    while len(got) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        async with http.get(f"{base}/log") as r:
            got.extend(await r.json())
    return got


def _check(run: Run, got: list) -> tuple[list[float], float]:
    arrived = {e: t for e, t, _, _ in got}
    missing = set(run.committed) - set(arrived)
    assert not missing, f"{len(missing)} events never arrived"
    per_lead: dict[int, list[int]] = {}
    for _, _, lead_id, seq in sorted(got, key=lambda g: g[1]):
        per_lead.setdefault(lead_id, []).append(seq)
    assert all(s == sorted(s) for s in per_lead.values()), "a lead's events arrived out of order"
    latencies = [(arrived[e] - c) * 1000 for e, c in run.committed.items()]
    return latencies, max(arrived[e] for e in run.committed)


async def _baseline(url: str, secret: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    async with aiohttp.ClientSession() as http:
        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                headers = signing.request_headers(secret, int(time.time()), body, event_id=f"evt_{uuid.uuid4().hex}",
                                                  event_type="lead.updated", attempt=1)
                started = time.perf_counter()
                async with http.post(url, data=body, headers=headers) as r:
                    await r.read()
                    assert r.status == 200, r.status
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(bodies) / elapsed, latencies


async def _tenant_with_leads(services, name: str, count: int) -> tuple[int, list[int]]:
    tenant = await Tenant.create(name=name)
    actor = lt.Actor(user_id=None, tenant_id=tenant.id, role=lt.Role.SYSTEM, name="bench")
    leads = [(await leadservice.create_lead(services, tenant.id, {"company": f"客户{n}"}, actor))[0].id
             for n in range(count)]
    return tenant.id, leads


async def _subscribe_receiver(services, tenant_id: int) -> tuple[subprocess.Popen, str, str]:
    """The receiver process, and the subscription pointing at it (it needs the secret before it starts)."""
    sub, secret = await ops.create(services.box, services.settings, tenant_id,
                                   SubscriptionIn(url="http://127.0.0.1:9/hook", event_types=["lead.updated"]))
    proc = subprocess.Popen([sys.executable, "-c", RECEIVER, secret], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    base = f"http://127.0.0.1:{int(proc.stdout.readline())}"
    sub.url = f"{base}/hook"
    await sub.save(update_fields=["url"])
    return proc, base, secret


async def _commit_side_by_side(services, plain: tuple[int, list[int]], hooked: tuple[int, list[int]],
                               count: int, batch: int = 50) -> tuple[float, float, Run]:
    """Commit `count` changes to each tenant in alternating batches (machine load hits both alike); returns the
    commit rates without and with a subscription, and the subscribed tenant's commits."""
    spent = [0.0, 0.0]
    runs: list[Run] = []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        for side, (tenant_id, leads) in enumerate((plain, hooked)):
            run = await _produce(services, tenant_id, leads, n, None, start, track=side == 1)
            spent[side] += run.last_commit - run.first_commit
            if side == 1:
                runs.append(run)
    merged = Run({k: v for r in runs for k, v in r.committed.items()}, runs[0].first_commit, runs[-1].last_commit)
    return count / spent[0], count / spent[1], merged


async def _phases(services, args: argparse.Namespace, http: aiohttp.ClientSession, base: str,
                  plain: tuple[int, list[int]], hooked: tuple[int, list[int]]) -> tuple[float, list[float]]:
    tenant_id, leads = hooked
    # 0 + 1: commits side by side with no dispatcher running, then the backlog is drained
    bare_rate, hooked_rate, backlog = await _commit_side_by_side(services, plain, hooked, args.events)
    print(f"commit  commits/s: no subscription {bare_rate:8.1f}   with one {hooked_rate:8.1f}   "
          f"(capture costs {1 - hooked_rate / bare_rate:.1%} of the commit rate)")
    started = time.time()
    async with dispatcher.running(services, concurrency=args.concurrency):
        got = await _received(http, base, len(backlog.committed))
    _, last_arrival = _check(backlog, got)
    drain_rate = len(backlog.committed) / (last_arrival - started)
    print(f"drain   {len(backlog.committed)} committed events sent at {drain_rate:8.1f} events/s")

    async with dispatcher.running(services, concurrency=args.concurrency):
        live = await _produce(services, tenant_id, leads, args.events, None, args.events)
        latencies, last_arrival = _check(live, await _received(http, base, len(live.committed)))
        commit_rate = len(live.committed) / (live.last_commit - live.first_commit)
        live_rate = len(live.committed) / (last_arrival - live.first_commit)
        print(f"live    commits/s {commit_rate:8.1f}   delivered events/s {live_rate:8.1f}   "
              f"latency p50 {pct(latencies, .5):7.1f} ms  p99 {pct(latencies, .99):7.1f} ms")

        paced_n = max(1, args.events // 4)
        paced = await _produce(services, tenant_id, leads, paced_n, args.rate, 2 * args.events)
        paced_lat, _ = _check(paced, await _received(http, base, len(paced.committed)))
        print(f"paced   {args.rate:.0f}/s over {paced_n} events             "
              f"latency p50 {pct(paced_lat, .5):7.1f} ms  p99 {pct(paced_lat, .99):7.1f} ms")
    return drain_rate, paced_lat


async def main() -> None:
    from bot.runtime import wiring

    wiring.install()  # the follow-ups and hooks the service runs, as its entry points install them
    args = _parse_args()
    scratch = f"leadbot_bench_{os.getpid()}"
    database_url = await _scratch_pg(args.postgres, scratch, True) if args.postgres else None
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="lbb-", dir="/tmp")), database_url=database_url,
                        allow_private_urls=True, log_level="warning")
    receiver = None
    try:
        async with open_services(settings) as services:
            plain = await _tenant_with_leads(services, "plain", args.leads)
            hooked = await _tenant_with_leads(services, "hooked", args.leads)
            receiver, base, secret = await _subscribe_receiver(services, hooked[0])
            print(f"backend {'postgres' if database_url else 'sqlite'}  events {args.events}  leads {args.leads}  "
                  f"concurrency {args.concurrency}")
            async with aiohttp.ClientSession() as http:
                drain_rate, paced_lat = await _phases(services, args, http, base, plain, hooked)
            bodies = [payloads.body_bytes(p) for p in
                      await WebhookEvent.all().limit(args.events).values_list("payload", flat=True)]
            base_rate, base_lat = await _baseline(f"{base}/hook", secret, bodies, args.concurrency)
            print(f"baseline bare signed POSTs/s {base_rate:8.1f}   "
                  f"round trip p50 {statistics.median(base_lat):6.1f} ms  p99 {pct(base_lat, .99):6.1f} ms")
            print(f"ratio   drain/bare {drain_rate / base_rate:.3f}   "
                  f"paced p50 latency / bare round trip {pct(paced_lat, .5) / statistics.median(base_lat):.1f}x")
    finally:
        if receiver is not None:
            receiver.kill()
            receiver.wait()
        if database_url:
            await _scratch_pg(args.postgres, scratch, False)


if __name__ == "__main__":
    asyncio.run(main())
