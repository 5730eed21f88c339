"""Callback ingest benchmark: encrypted WeCom callbacks through the real route, beside a bare aiohttp hello world.

Run: PYTHONPATH=. python bench/ingest.py [--requests 30000] [--connections 32] [--rate 200] [--rounds 1]
                                         [--redis-url redis://127.0.0.1:6379/N]
(on an otherwise idle machine; the ratio is the figure that survives a busy one)

Method
- Three processes, so the load generator never takes the server's core: the server under test pinned to CPU 0
  (`sched_setaffinity`), the load generator pinned to CPU 1, and the embedded Redis server (when used) moved to
  CPU 1 as well. On a 2-core machine the client and Redis share a core; the server has one to itself, as a
  one-worker deployment would.
- Server A is a bare aiohttp hello world (`web.Response(text="Hello, world")`, no middleware). Server B is
  `bot.runtime.app.create_app(services)` exactly as `leadbot serve --no-worker` builds it, on a fresh data dir: SQLite,
  the embedded Redis (or `--redis-url`), logging at info as `serve` sets it up (to a file), one registered WeCom
  app. Server C, the second baseline, is a bare aiohttp route doing only verify + decrypt (wechatpy) and one
  pipelined Redis write, on the same kind of Redis as B. All are measured in the same run, one after the other,
  with the same client and the same request bytes (A gets them at `/`, C at `/bare`, B at `/wecom/{app_id}/callback`).
- Every request is a distinct text message (its own MsgId), encrypted and signed beforehand with the app's keys
  (`WeComCrypto.encrypt`), so B verifies, decrypts, parses, de-duplicates and queues each one: the real hot path,
  never the duplicate path. After the run the bench counts the jobs B queued: every 200 must be one job.
- The load generator speaks HTTP/1.1 over raw asyncio sockets with keep-alive (no client library in the way).
  Throughput: a closed loop, `--connections` connections each sending its next request as soon as the answer
  arrives, after a warm-up of 2000 requests; requests/s = answered / wall time; latency = send -> full answer.
  Fixed rate: an open loop sending one request every 1/`--rate` s over a pool of connections; latency is counted
  from the moment each request was due, so a stall shows up in the figures instead of delaying the schedule.
- Alongside, the CPU time used by the server process (/proc) and by the load generator during each phase: a
  server near 100 % and a client below it means the figure is the server's; otherwise it says so.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CORP_ID = "wwbenchcorp00001"
AGENT_ID = 1000002
TOKEN = "benchCallbackToken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
WARMUP = 2000
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)\r\n", re.IGNORECASE)
SERVER_CPU, CLIENT_CPU = 0, 1


# -- servers ------------------------------------------------------------------------------------------------------


async def serve_hello() -> None:
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="Hello, world")

    app = web.Application()
    app.router.add_route("*", "/", hello)
    await _serve(app, {})


async def serve_bare(data_dir: Path, redis_url: str | None) -> None:
    """The second baseline the issue names: a bare aiohttp route doing only what a callback must (verify and decrypt
    with wechatpy, read the MsgId, one pipelined Redis write: the de-dup mark, the job, its place in the queue),
    on the same kind of Redis as server B (the embedded one in its own data dir, or `--redis-url`)."""
    import xmltodict
    from aiohttp import web
    from wechatpy.enterprise.crypto import WeChatCrypto

    from storage.redis import connect, start_embedded

    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    embedded = await start_embedded(data_dir) if redis_url is None else None
    redis = connect(redis_url or embedded.url)

    async def callback(request: web.Request) -> web.Response:
        q = request.query
        body = await request.read()
        plain = crypto.decrypt_message(body, q["msg_signature"], q["timestamp"], q["nonce"])
        msg_id = xmltodict.parse(plain)["xml"]["MsgId"]
        pipe = redis.pipeline(transaction=False)
        pipe.set(f"bare:dedup:{msg_id}", 1, nx=True, ex=3600)
        pipe.set(f"bare:job:{msg_id}", plain, ex=3600)
        pipe.zadd("bare:queue", {msg_id: 0})
        await pipe.execute()
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/bare", callback)
    try:
        await _serve(app, {"redis_url": redis_url or embedded.url})
    finally:
        await redis.aclose()
        if embedded is not None:
            await embedded.release()


async def serve_leadbot(data_dir: Path, redis_url: str | None) -> None:
    from bot.admin.apps import register_app
    from bot.admin.schemas import AppIn
    from bot.runtime import wiring
    from bot.runtime.app import create_app
    from bot.runtime.config import Settings
    from bot.runtime.logs import setup_logging
    from bot.runtime.services import open_services
    from storage.models import Tenant

    wiring.install()  # the platforms an app may be of, as every entry point of the service installs them

    # One app takes all the load here: its callback quota is set out of reach, so the quota is counted on every
    # callback (the production path) without refusing any.
    settings = Settings(data_dir=data_dir, redis_url=redis_url, admin_token=secrets.token_urlsafe(32),
                        master_key=base64.b64encode(os.urandom(32)).decode(), allow_private_urls=True,
                        callbacks_per_app_per_s=1_000_000)
    with open(data_dir / "server.log", "a") as log_file:
        setup_logging(settings.log_level, settings.log_format, stream=log_file)
        async with open_services(settings) as services:
            tenant = await Tenant.create(name=f"bench-{secrets.token_hex(4)}")
            data = AppIn.model_validate({"platform": "wecom", "name": "bench", "credentials": {
                "corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": "bench-secret-unused", "token": TOKEN,
                "encoding_aes_key": AES_KEY}}).root
            app = await register_app(services.box, settings, tenant.id, data)
            redis_pid = _embedded_redis_pid(data_dir) if redis_url is None else None
            await _serve(create_app(services), {"app_id": app.id, "redis_pid": redis_pid,
                                                "redis_url": redis_url or services.embedded.url})


def _embedded_redis_pid(data_dir: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int((data_dir / "redis" / "redis.pid").read_text().strip())
    return None


async def _serve(app: Any, info: dict[str, Any]) -> None:
    """Listen on a free port, say where on stdout, run until stdin closes (the parent is done)."""
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(json.dumps({"port": runner.addresses[0][1], "pid": os.getpid(), **info}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


# -- requests -----------------------------------------------------------------------------------------------------


def build_requests(path: str, port: int, first_msg_id: int, count: int) -> list[bytes]:
    """`count` distinct encrypted text messages as complete HTTP/1.1 requests (MsgIds from `first_msg_id`)."""
    from urllib.parse import urlencode

    from bot.platforms.wecom.crypto import WeComCrypto

    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    now = int(time.time())
    out = []
    for i in range(count):
        inner = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[rep{i % 50}]]>"
                 f"</FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                 f"<Content><![CDATA[客户杭州云帆，预算八十万，下周二再约]]></Content><MsgId>{first_msg_id + i}</MsgId>"
                 f"<AgentID>{AGENT_ID}</AgentID></xml>").encode()
        fields = crypto.encrypt(inner, nonce=str(secrets.randbelow(10**10)), timestamp=now)
        body = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><AgentID><![CDATA[{AGENT_ID}]]></AgentID>"
                f"<Encrypt><![CDATA[{fields['Encrypt']}]]></Encrypt></xml>").encode()
        query = urlencode({"msg_signature": fields["MsgSignature"], "timestamp": fields["TimeStamp"],
                           "nonce": fields["Nonce"]})
        head = (f"POST {path}?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench\r\n"
                f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        out.append(head + body)
    return out


# -- the load generator -------------------------------------------------------------------------------------------


class Connection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time; answers parsed by Content-Length."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = b""
        self._waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buf += data
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            return
        m = _CONTENT_LENGTH.search(self._buf, 0, end + 2)
        length = int(m.group(1)) if m else 0
        if len(self._buf) < end + 4 + length:
            return
        status = int(self._buf[9:12])
        self._buf = self._buf[end + 4 + length:]
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("server closed the connection"))

    async def request(self, raw: bytes) -> int:
        self._waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(raw)
        return await self._waiter


@dataclass
class Phase:
    name: str
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0

    def record(self, status: int, latency_s: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies_ms.append(latency_s * 1000)

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)
        return {"name": self.name, "sent": self.sent, "statuses": self.statuses, "wall_s": self.wall_s,
                "rps": len(lat) / self.wall_s if self.wall_s else 0.0,
                "p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99), "max_ms": lat[-1] if lat else 0.0,
                "server_cpu": self.server_cpu_s / self.wall_s if self.wall_s else 0.0,
                "server_cpu_us": self.server_cpu_s / len(lat) * 1e6 if lat else 0.0,
                "client_cpu": self.client_cpu_s / self.wall_s if self.wall_s else 0.0}


def _pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


def _cpu_of(pid: int) -> float:
    fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def _measured(phase: Phase, server_pid: int):
    server0, client0, wall0 = _cpu_of(server_pid), _own_cpu(), time.perf_counter()
    yield
    phase.wall_s = time.perf_counter() - wall0
    phase.client_cpu_s = _own_cpu() - client0
    phase.server_cpu_s = _cpu_of(server_pid) - server0


async def _connect(port: int, n: int) -> list[Connection]:
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(n):
        _, proto = await loop.create_connection(Connection, "127.0.0.1", port)
        conns.append(proto)
    return conns


async def closed_loop(conns: list[Connection], requests: list[bytes], phase: Phase) -> None:
    it = iter(requests)

    async def run(conn: Connection) -> None:
        for raw in it:
            phase.sent += 1
            started = time.perf_counter()
            status = await conn.request(raw)
            phase.record(status, time.perf_counter() - started)

    await asyncio.gather(*(run(c) for c in conns))


async def fixed_rate(conns: list[Connection], requests: list[bytes], rate: float, phase: Phase) -> None:
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for c in conns:
        idle.put_nowait(c)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    tasks = []

    async def one(raw: bytes, due: float) -> None:
        conn = await idle.get()  # waiting for a free connection counts against the latency: it is due already
        status = await conn.request(raw)
        phase.record(status, loop.time() - due)
        idle.put_nowait(conn)

    for i, raw in enumerate(requests):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        phase.sent += 1
        tasks.append(asyncio.create_task(one(raw, due)))
    await asyncio.gather(*tasks)


async def load(args: argparse.Namespace) -> None:
    requests = build_requests(args.path, args.port, args.first_msg_id, WARMUP + args.requests + args.rate_requests)
    warm, closed, paced = (requests[:WARMUP], requests[WARMUP:WARMUP + args.requests],
                           requests[WARMUP + args.requests:])
    conns = await _connect(args.port, args.connections)
    await closed_loop(conns, warm, Phase("warm-up"))
    throughput = Phase("throughput")
    with _measured(throughput, args.server_pid):
        await closed_loop(conns, closed, throughput)
    paced_phase = Phase(f"at {args.rate:g} req/s")
    with _measured(paced_phase, args.server_pid):
        await fixed_rate(conns[:8], paced, args.rate, paced_phase)
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    print(json.dumps([throughput.summary(), paced_phase.summary()]), flush=True)


# -- orchestration ------------------------------------------------------------------------------------------------


def _pin(pid: int, cpu: int) -> None:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(pid, {cpu % os.cpu_count()})  # type: ignore[operator]


def _start(*argv: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, __file__, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"server {argv} did not start")
    info = json.loads(line)
    _pin(proc.pid, SERVER_CPU)
    if info.get("redis_pid"):
        _pin(info["redis_pid"], CLIENT_CPU)
    return proc, info


def _stop(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def _run_load(info: dict[str, Any], path: str, args: argparse.Namespace, first_msg_id: int) -> list[dict]:
    cmd = [sys.executable, __file__, "--load", "--port", str(info["port"]), "--path", path,
           "--server-pid", str(info["pid"]), "--first-msg-id", str(first_msg_id),
           "--requests", str(args.requests), "--rate-requests", str(args.rate_requests),
           "--connections", str(args.connections), "--rate", str(args.rate)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    _pin(proc.pid, CLIENT_CPU)
    out, _ = proc.communicate(timeout=1800)
    if proc.returncode:
        raise RuntimeError("load generator failed")
    return json.loads(out.strip().splitlines()[-1])


async def _count_and_clear_jobs(redis_url: str, app_id: int, first_msg_id: int, total: int) -> int:
    """How many of our messages were queued as jobs; removes exactly those (a shared Redis keeps the rest)."""
    from arq.constants import default_queue_name, job_key_prefix

    from bot.runtime.queue import job_id_for
    from storage import redis_keys
    from storage.redis import connect

    redis = connect(redis_url)
    found = 0
    try:
        for start in range(0, total, 5000):
            pipe = redis.pipeline(transaction=False)
            for i in range(start, min(total, start + 5000)):
                key = redis_keys.dedup("wecom", app_id, f"msg:{first_msg_id + i}")
                job_id = job_id_for(key)
                pipe.delete(key)
                pipe.delete(job_key_prefix + job_id)
                pipe.zrem(default_queue_name, job_id)
            results = await pipe.execute()
            found += sum(results[2::3])
    finally:
        await redis.aclose()
    return found


async def _clear_bare(redis_url: str) -> None:
    from storage.redis import connect

    redis = connect(redis_url)
    try:
        keys = [k async for k in redis.scan_iter("bare:*", count=5000)]
        for start in range(0, len(keys), 5000):
            await redis.delete(*keys[start:start + 5000])
    finally:
        await redis.aclose()


def _line(label: str, s: dict[str, Any]) -> str:
    bad = {k: v for k, v in s["statuses"].items() if str(k) != "200"}
    return (f"  {label:<28} {s['rps']:>9.0f} req/s   p50 {s['p50_ms']:6.2f} ms   p99 {s['p99_ms']:6.2f} ms   "
            f"server CPU {s['server_cpu']:4.0%} ({s['server_cpu_us']:4.0f} us/req)   client CPU {s['client_cpu']:4.0%}"
            + (f"   NON-200: {bad}" if bad else ""))


def orchestrate(args: argparse.Namespace) -> None:
    print(f"{os.cpu_count()} CPUs; server on CPU {SERVER_CPU}, load generator (and embedded Redis) on CPU {CLIENT_CPU}")
    print(f"{args.requests} requests over {args.connections} connections after {WARMUP} warm-up; "
          f"then {args.rate_requests} at {args.rate:g} req/s\n")
    per_run = WARMUP + args.requests + args.rate_requests
    results: dict[str, list[list[dict]]] = {"hello": [], "bare": [], "callback": []}
    for round_ in range(args.rounds):
        proc, info = _start("--serve", "hello")
        try:
            results["hello"].append(_run_load(info, "/", args, 0))
        finally:
            _stop(proc)
        data_dir = Path(tempfile.mkdtemp(prefix="lbb-", dir="/tmp"))
        proc, info = _start("--serve", "bare", "--data-dir", str(data_dir),
                            *(["--redis-url", args.redis_url] if args.redis_url else []))
        try:
            results["bare"].append(_run_load(info, "/bare", args, 10**18))
            asyncio.run(_clear_bare(info["redis_url"]))
        finally:
            _stop(proc)
            shutil.rmtree(data_dir, ignore_errors=True)
        data_dir = Path(tempfile.mkdtemp(prefix="lbb-", dir="/tmp"))
        proc, info = _start("--serve", "leadbot", "--data-dir", str(data_dir),
                            *(["--redis-url", args.redis_url] if args.redis_url else []))
        first = secrets.randbelow(10**17) * 100 + 7 * 10**18
        try:
            path = f"/wecom/{info['app_id']}/callback"
            results["callback"].append(_run_load(info, path, args, first))
            queued = asyncio.run(_count_and_clear_jobs(info["redis_url"], info["app_id"], first, per_run))
        finally:
            _stop(proc)
            shutil.rmtree(data_dir, ignore_errors=True)
        print(f"round {round_ + 1}:")
        for name in ("hello", "bare", "callback"):
            for s in results[name][-1]:
                print(_line(f"{name} {s['name']}", s))
        print(f"  callbacks answered 200 and queued as jobs: {queued} of {per_run}\n")
    _report(results)


def _report(results: dict[str, list[list[dict]]]) -> None:
    def med(name: str, phase: int, key: str) -> float:
        return statistics.median(r[phase][key] for r in results[name])

    hello, callback = med("hello", 0, "rps"), med("callback", 0, "rps")
    print("summary (median over rounds)")
    print(f"  hello world throughput      {hello:9.0f} req/s")
    print(f"  callback ingest throughput  {callback:9.0f} req/s   p50 {med('callback', 0, 'p50_ms'):.2f} ms   "
          f"p99 {med('callback', 0, 'p99_ms'):.2f} ms")
    print(f"  ratio callback / hello      {callback / hello:9.1%}   (target >= 50 %)")
    bare = med("bare", 0, "rps")
    print(f"  bare verify+decrypt+Redis   {bare:9.0f} req/s   (wechatpy, one pipelined write)")
    print(f"  ratio callback / bare       {callback / bare:9.1%}   (target >= 80 %)")
    hello_us, callback_us = med("hello", 0, "server_cpu_us"), med("callback", 0, "server_cpu_us")
    bare_us = med("bare", 0, "server_cpu_us")
    print(f"  server CPU per request      hello {hello_us:.0f} us, bare {bare_us:.0f} us, "
          f"callback {callback_us:.0f} us: ratios {hello_us / callback_us:.1%} and {bare_us / callback_us:.1%}")
    print("                              (the same ratios, by CPU time: steadier on a busy machine)")
    print(f"  callback at fixed rate      p50 {med('callback', 1, 'p50_ms'):.2f} ms   "
          f"p99 {med('callback', 1, 'p99_ms'):.2f} ms   (target p99 <= 20 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30000, help="measured requests in the throughput phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second in the fixed-rate phase")
    parser.add_argument("--rate-requests", type=int, default=3000, help="requests sent at the fixed rate")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--redis-url", default=None,
                        help="a Redis to queue into instead of the embedded one (use a scratch database index)")
    # internal: the child processes
    parser.add_argument("--serve", choices=["hello", "bare", "leadbot"], help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--first-msg-id", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "hello":
        asyncio.run(serve_hello())
    elif args.serve == "bare":
        asyncio.run(serve_bare(args.data_dir, args.redis_url))
    elif args.serve == "leadbot":
        asyncio.run(serve_leadbot(args.data_dir, args.redis_url))
    elif args.load:
        asyncio.run(load(args))
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()
