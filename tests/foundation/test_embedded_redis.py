"""The embedded Redis: started by the first process, shared by the next, stopped by the last; data persists."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import redis

from storage.redis import EmbeddedRedis, connect


@pytest.fixture
def data_dir():
    path = Path(tempfile.mkdtemp(prefix="lbe-", dir="/tmp"))
    yield path
    sock = path / "redis" / "redis.sock"
    if sock.exists():
        try:
            redis.Redis(unix_socket_path=str(sock)).shutdown(nosave=True)
        except redis.ConnectionError:
            pass
    shutil.rmtree(path, ignore_errors=True)


async def test_shared_then_stopped_by_the_last_user_and_data_survives(data_dir: Path) -> None:
    first = EmbeddedRedis(data_dir)
    first.ensure_running()
    assert first.started_here
    second = EmbeddedRedis(data_dir)
    second.ensure_running()
    assert not second.started_here  # found the running one

    client = connect(first.url, client_name="leadbot-999999")  # another leadbot process, still connected
    await client.set("job", "queued")
    await first.release()
    assert await client.get("job") == b"queued"  # left running for the other process
    await client.aclose()

    await second.release()  # nobody else: stopped, with its data flushed to disk
    with pytest.raises(redis.ConnectionError):
        redis.Redis(unix_socket_path=str(first.socket)).ping()

    again = EmbeddedRedis(data_dir)
    again.ensure_running()
    r = connect(again.url)
    assert await r.get("job") == b"queued"
    await r.aclose()
    await again.release()


def test_appendonly_persistence_is_configured(data_dir: Path) -> None:
    e = EmbeddedRedis(data_dir)
    e.ensure_running()
    cfg = redis.Redis(unix_socket_path=str(e.socket)).config_get("appendonly")
    assert cfg["appendonly"] == "yes"
