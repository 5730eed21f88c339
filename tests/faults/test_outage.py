"""Which errors count as "the database or Redis is away for a while" (answered 503, the job tried again later)."""

from __future__ import annotations

import sqlite3

import aiohttp
import asyncpg
import pytest
import redis
from tortoise.exceptions import IntegrityError, OperationalError

from bot.errors import TransientError
from storage.outage import is_outage


def chained(outer: Exception, inner: Exception) -> Exception:
    """`outer` raised while handling `inner`, as drivers wrap each other's errors."""
    try:
        try:
            raise inner
        except Exception:
            raise outer  # noqa: B904 - the implicit context is the point
    except Exception as e:
        return e


@pytest.mark.parametrize(("error", "outage"), [
    (redis.ConnectionError("Connection refused"), True),
    (redis.TimeoutError("Timeout reading from socket"), True),
    (redis.BusyLoadingError("Redis is loading the dataset in memory"), True),
    (ConnectionRefusedError(111, "Connect call failed"), True),
    (chained(OperationalError("reset"), ConnectionResetError(104, "Connection reset by peer")), True),
    (OperationalError(sqlite3.OperationalError("database is locked")), True),
    (chained(OperationalError("x"), sqlite3.OperationalError("unable to open database file")), True),
    (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), True),
    (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), True),
    # a query that did not finish within the caller's deadline (a callback's `asyncio.timeout`: Redis hangs)
    (TimeoutError(), True),
    (OperationalError(sqlite3.OperationalError("no such column: foo")), False),
    (IntegrityError("duplicate key"), False),
    (redis.ResponseError("WRONGTYPE"), False),
    (ValueError("a bug"), False),
    # a platform's API being down is its adapter's business, not a database outage
    (chained(TransientError("wecom unreachable"), aiohttp.ClientConnectionError("refused")), False),
])
def test_outage_or_not(error: Exception, outage: bool) -> None:
    assert is_outage(error) is outage
