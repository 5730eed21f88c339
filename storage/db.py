"""Database setup: Tortoise on SQLite (embedded default) or PostgreSQL, schema managed by aerich migrations.

Migrations are applied by `leadbot migrate` and on every `serve`/`worker` start. Two processes starting together
must not both apply them: PostgreSQL takes an advisory lock, SQLite a file lock beside the database file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import importlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.exceptions import DBConnectionError
from tortoise.models import Model

from storage.private import private_dir, private_file

log = logging.getLogger(__name__)


def _utc_text(value: datetime) -> str:
    """A datetime as SQLite stores it. SQLite has no time type: it compares the texts, so every row must carry the
    same offset, or '10:00+08:00' (02:00 UTC) sorts after '05:00+00:00' and a deadline computed in a tenant's zone
    is not found overdue for eight hours. In UTC, as PostgreSQL's timestamptz keeps them."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(" ")


# Tortoise registers `isoformat(" ")` as sqlite3's adapter when its SQLite executor is imported: import it first,
# then replace the adapter (adapters are process-wide; PostgreSQL is not affected).
importlib.import_module("tortoise.backends.sqlite.executor")
sqlite3.register_adapter(datetime, _utc_text)


class Settings(Protocol):
    """What storage needs of the service's settings (`bot.runtime.config.Settings` satisfies it); a protocol, so storage
    does not import the layer above it."""

    @property
    def data_dir(self) -> Path: ...

    def effective_database_url(self) -> str: ...


MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MODEL_MODULES = ["storage.models", "aerich.models"]
try:  # what asyncpg raises when the server refuses us (wrong password, no such database) rather than a query
    from asyncpg.exceptions import InvalidAuthorizationSpecificationError, InvalidCatalogNameError

    _PG_CONNECT: tuple[type[BaseException], ...] = (InvalidAuthorizationSpecificationError, InvalidCatalogNameError)
except ImportError:  # pragma: no cover - asyncpg is a declared dependency
    _PG_CONNECT = ()
# Refused, reset, an unknown host (socket.gaierror), a timeout: asyncpg raises them bare, Tortoise wraps some.
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (OSError, DBConnectionError, *_PG_CONNECT)
# Any fixed 64-bit number: the advisory lock that serialises migrations across processes on PostgreSQL.
_PG_MIGRATION_LOCK = 0x1EADB07


async def _keep_session(connection: Any) -> None:
    """asyncpg's pool `reset`, run as a pooled connection is handed back (after asyncpg has rolled back a transaction
    left open and dropped its listeners). The default sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` each time: a round trip after every autocommit statement and every transaction, eight a card click.
    Nothing of ours leaves that state behind on a pooled connection: no SET outside a transaction, no cursor held past
    one, LISTEN on a connection of its own (`bot.webhooks.wakeup`), and the one session advisory lock (migrations)
    unlocked on the connection that took it."""


def tortoise_config(database_url: str) -> dict[str, Any]:
    connection: str | dict[str, Any] = database_url
    if database_url.startswith("sqlite"):
        # tortoise's SQLite client, running the statements that need not wait on the loop's thread
        connection = {**expand_db_url(database_url), "engine": "storage.sqlite_inline"}
    elif (expanded := expand_db_url(database_url))["engine"] == "tortoise.backends.asyncpg":
        # tortoise hands options it does not know to asyncpg.create_pool
        connection = {**expanded, "credentials": {**expanded["credentials"], "reset": _keep_session}}
    return {
        "connections": {"default": connection},
        "apps": {"models": {"models": MODEL_MODULES, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def dialect() -> str:
    return connections.get("default").capabilities.dialect


def numbered(sql: str) -> str:
    """A statement written with `?` placeholders, as the database in use wants them (asyncpg: $1, $2, ...). For
    statements with no `?` inside a literal."""
    if dialect() != "postgres":
        return sql
    parts = sql.split("?")
    return "".join(p + (f"${i}" if i < len(parts) else "") for i, p in enumerate(parts, 1))


M = TypeVar("M", bound=Model)
N = TypeVar("N", bound=Model)


async def fetch(model: type[M], sql: str, params: Sequence[Any] = ()) -> list[M]:
    """Instances of `model` from a statement written with `?` placeholders that selects every column of its table
    (`SELECT t.*`, or a write's `RETURNING *`), built as the ORM builds them. For the few reads of a card click's
    path: there, building each query through the ORM's query builder cost more CPU than the database spent answering
    it. (`execute_query_dict`: asyncpg's `execute_query` drops the rows of a write.)"""
    rows = await connections.get("default").execute_query_dict(numbered(sql), list(params))
    return [model._init_from_db(**row) for row in rows]


def columns_of(model: type[Model], alias: str) -> str:
    """Every column of `model`'s table under `alias`, each named `alias.column`: a second table's row in a `fetch_two`
    statement. Only once the models are initialised (build the statement at its first use, not at import): before,
    a model's columns lack its foreign keys, and the rows built from them would too."""
    return ", ".join(f'{alias}."{c}" AS "{alias}.{c}"' for c in model._meta.db_fields)


async def fetch_two(first: type[M], second: type[N], alias: str, sql: str,
                    params: Sequence[Any] = ()) -> list[tuple[M, N]]:
    """`fetch`, for a join that selects every column of `first`'s table and `columns_of(second, alias)`: a row of
    each, built as the ORM builds them, in one statement instead of two (`fetch_joined` with one table joined; an
    inner join, so the second is always there)."""
    return [(own, other) for own, other in await fetch_joined(first, [(alias, second)], sql, params)]


async def fetch_joined(first: type[M], joined: Sequence[tuple[str, type[Model]]], sql: str,
                       params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """`fetch`, for a join that selects every column of `first`'s table and each further table's as
    `columns_of(model, alias)`: per row, the `first` instance and one per (alias, model) of `joined`, in that order,
    built as the ORM builds them; None for a table whose primary key is NULL (a LEFT JOIN that found no row)."""
    rows = await connections.get("default").execute_query_dict(numbered(sql), list(params))
    prefixes = [(alias + ".", model) for alias, model in joined]
    out = []
    for row in rows:
        own: dict[str, Any] = {}
        others: list[dict[str, Any]] = [{} for _ in prefixes]
        for key, value in row.items():
            for i, (prefix, _) in enumerate(prefixes):
                if key.startswith(prefix):
                    others[i][key[len(prefix):]] = value
                    break
            else:
                own[key] = value
        out.append((first._init_from_db(**own), *(
            model._init_from_db(**values) if values.get(model._meta.db_pk_column) is not None else None
            for (_, model), values in zip(prefixes, others, strict=True))))
    return out


async def changed(sql: str, params: Sequence[Any] = ()) -> int:
    """Run a write written with `?` placeholders; how many rows it changed (the hot path's conditional updates)."""
    count, _ = await connections.get("default").execute_query(numbered(sql), list(params))
    return count


async def changed_together(writes: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
    """Run writes written with `?` placeholders (each an UPDATE, INSERT or DELETE with no RETURNING, each on rows the
    others do not touch); how many rows each changed. On PostgreSQL in one statement, each write a data-modifying
    WITH (PostgreSQL runs every one of them to completion): one round trip and one commit, all or none. Elsewhere one
    after another (SQLite has no writes in WITH; its statements do not leave the process)."""
    if len(writes) == 1 or dialect() != "postgres":
        return [await changed(sql, params) for sql, params in writes]
    steps = ", ".join(f"w{i} AS ({sql} RETURNING 1)" for i, (sql, _) in enumerate(writes))
    counts = ", ".join(f'(SELECT count(*) FROM w{i}) AS "n{i}"' for i in range(len(writes)))
    params = [value for _, values in writes for value in values]
    rows = await connections.get("default").execute_query_dict(numbered(f"WITH {steps} SELECT {counts}"), params)
    return [int(rows[0][f"n{i}"]) for i in range(len(writes))]


def db_value(model: type[Model], field: str, value: Any) -> Any:
    """`value` as the database in use takes it for `model.field` (a datetime on SQLite is stored as text)."""
    return model._meta.fields_map[field].to_db_value(value, None)


def _sqlite_file(url: str) -> Path | None:
    path = url.removeprefix("sqlite://").split("?", 1)[0]
    return None if not path or path == ":memory:" else Path(path)


class DatabaseUnreachable(Exception):
    """The database named by LEADBOT_DATABASE_URL cannot be reached (refused, unknown host, wrong password or
    database): a configuration or operations problem, reported in one line, not a traceback."""


def _unreachable(error: BaseException) -> str | None:
    """Why the database could not be reached, when `error` (or what caused it) says so: the deepest such cause
    (asyncpg's 'database "x" does not exist' under Tortoise's "Can't establish connection")."""
    seen: set[int] = set()
    e: BaseException | None = error
    why = None
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, _CONNECT_ERRORS):
            why = str(e) or type(e).__name__
        e = e.__cause__ or e.__context__
    return why


def shown_url(url: str) -> str:
    """The database URL without its password (it is printed and logged)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def open_db(settings: Settings, *, migrate: bool = True) -> None:
    url = settings.effective_database_url()
    if url.startswith("sqlite"):
        private_dir(settings.data_dir)
        if (path := _sqlite_file(url)) is not None:
            # Made 0600 before SQLite opens it: its journal and WAL files take the database file's mode.
            private_file(path)
            for suffix in ("-wal", "-shm", "-journal"):
                if (sibling := path.with_name(path.name + suffix)).exists():
                    private_file(sibling)
    try:
        await Tortoise.init(config=tortoise_config(url))
        if migrate:
            await apply_migrations(settings)
        elif dialect() == "postgres":
            await connections.get("default").execute_query("SELECT 1")  # reached now, not at the first command
    except Exception as e:
        if (why := _unreachable(e)) is None:
            raise
        await Tortoise.close_connections()
        raise DatabaseUnreachable(f"cannot reach the database at LEADBOT_DATABASE_URL ({shown_url(url)}): "
                                  f"{why}") from None


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
                try:
                    await raw.execute("SELECT pg_advisory_unlock($1)", _PG_MIGRATION_LOCK)
                except BaseException:
                    # The pool no longer clears session state (`_keep_session`): a connection that may still hold
                    # the lock must not go back to it, or every later migration would wait on it forever.
                    raw.terminate()
                    raise
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
