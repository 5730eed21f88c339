"""Telling "a dependency is down for a while" (the database or Redis unreachable, restarting, locked) apart from a
bug: the first is answered 503 and retried, so nothing is lost; the second is an error.

Drivers wrap each other's errors (Tortoise wraps asyncpg and sqlite3, redis-py wraps OSError), so the whole chain
of causes is looked at.
"""

from __future__ import annotations

import sqlite3

import aiohttp
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tortoise.exceptions import DBConnectionError

from storage.errors import LeadbotError

try:
    from asyncpg.exceptions import (
        CannotConnectNowError,
        InterfaceError,
        OperatorInterventionError,
        PostgresConnectionError,
        TooManyConnectionsError,
    )

    _PG: tuple[type[BaseException], ...] = (CannotConnectNowError, InterfaceError, OperatorInterventionError,
                                            PostgresConnectionError, TooManyConnectionsError)
except ImportError:  # pragma: no cover - asyncpg is a declared dependency
    _PG = ()

# Connection-level OSErrors only (refused, reset, broken pipe; a missing unix socket): asyncpg raises them bare.
# TimeoutError: the database or Redis did not answer within the caller's own deadline (`asyncio.timeout` around a
# query; a platform API's timeouts are its adapter's `TransientError`, never bare).
_DOWN: tuple[type[BaseException], ...] = (
    ConnectionError, FileNotFoundError, TimeoutError, RedisConnectionError, RedisTimeoutError, DBConnectionError, *_PG,
)
# A verdict someone already gave: a platform's API failing (the adapters' business, with their own retries), or one
# of ours. What caused it underneath is not a database outage.
_NOT_OURS: tuple[type[BaseException], ...] = (aiohttp.ClientError, LeadbotError)
# SQLite's "come back later": another process holds the write lock past busy_timeout, or the file is unreachable.
_SQLITE_DOWN = ("database is locked", "database table is locked", "unable to open database file", "disk i/o error")


def is_outage(error: BaseException) -> bool:
    """True when `error` (or what caused it) says the database or Redis is unreachable, not that a query is wrong."""
    seen: set[int] = set()
    e: BaseException | None = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, _NOT_OURS):
            return False
        if isinstance(e, _DOWN):
            return True
        if isinstance(e, sqlite3.OperationalError) and any(m in str(e).lower() for m in _SQLITE_DOWN):
            return True
        wrapped = e.args[0] if e.args and isinstance(e.args[0], BaseException) else None  # Tortoise's wrapping
        e = e.__cause__ or wrapped or e.__context__
    return False
