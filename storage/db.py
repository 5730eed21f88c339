"""Database setup: Tortoise on SQLite (embedded default) or PostgreSQL, schema managed by aerich migrations.

Migrations are applied by `leadbot migrate` and on every `serve`/`worker` start. Two processes starting together
must not both apply them: PostgreSQL takes an advisory lock, SQLite a file lock beside the database file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tortoise import Tortoise, connections

from bot.config import Settings
from storage.private import private_file

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MODEL_MODULES = ["storage.models", "aerich.models"]
# Any fixed 64-bit number: the advisory lock that serialises migrations across processes on PostgreSQL.
_PG_MIGRATION_LOCK = 0x1EADB07


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": database_url},
        "apps": {"models": {"models": MODEL_MODULES, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def dialect() -> str:
    return connections.get("default").capabilities.dialect


def _sqlite_file(url: str) -> Path | None:
    path = url.removeprefix("sqlite://").split("?", 1)[0]
    return None if not path or path == ":memory:" else Path(path)


async def open_db(settings: Settings, *, migrate: bool = True) -> None:
    url = settings.effective_database_url()
    if url.startswith("sqlite") and (path := _sqlite_file(url)) is not None:
        # Made 0600 before SQLite opens it: its journal and WAL files take the database file's mode.
        private_file(path)
        for suffix in ("-wal", "-shm", "-journal"):
            if (sibling := path.with_name(path.name + suffix)).exists():
                private_file(sibling)
    await Tortoise.init(config=tortoise_config(url))
    if migrate:
        await apply_migrations(settings)


async def close_db() -> None:
    await Tortoise.close_connections()


async def apply_migrations(settings: Settings) -> list[str]:
    """Bring the schema up to date; returns the migration files applied (empty when already current)."""
    from aerich import Command  # imported here: aerich pulls in its CLI machinery

    async with _migration_lock(settings):
        command = Command(tortoise_config=tortoise_config(settings.effective_database_url()), app="models",
                          location=str(MIGRATIONS_DIR))
        await command.init()
        applied = await command.upgrade(run_in_transaction=True)
    if applied:
        log.info("database migrated: %s", ", ".join(applied))
    return applied


@contextlib.asynccontextmanager
async def _migration_lock(settings: Settings) -> AsyncIterator[None]:
    if dialect() == "postgres":
        # Session-level lock: hold one pooled connection for the whole migration so unlock runs where lock did.
        async with connections.get("default").acquire_connection() as raw:
            await raw.execute("SELECT pg_advisory_lock($1)", _PG_MIGRATION_LOCK)
            try:
                yield
            finally:
                await raw.execute("SELECT pg_advisory_unlock($1)", _PG_MIGRATION_LOCK)
        return
    lock_path = private_file(settings.data_dir / "migrate.lock")
    with open(lock_path, "w") as f:
        await asyncio.to_thread(fcntl.flock, f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


async def ping() -> None:
    """Raise if the database cannot answer a trivial query."""
    await connections.get("default").execute_query("SELECT 1")
