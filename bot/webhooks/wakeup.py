"""Waking the dispatchers when there is something to send, so a delivery need not wait for the next poll.

Within one process, a committed lead change sets the event of every dispatcher running here (`wake_local`). Across
processes on PostgreSQL, the transaction that writes a delivery also sends a NOTIFY, which PostgreSQL hands to the
listeners only when that transaction commits — a rolled-back change wakes nobody. On SQLite (one host) other
processes find the work on their next poll. A lost wake-up costs latency, never a delivery: the database is polled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tortoise import connections

log = logging.getLogger(__name__)

CHANNEL = "leadbot_webhooks"
_events: set[asyncio.Event] = set()


def register(event: asyncio.Event) -> None:
    _events.add(event)


def unregister(event: asyncio.Event) -> None:
    _events.discard(event)


def wake_local() -> None:
    for event in list(_events):
        event.set()


def _dialect() -> str:
    return connections.get("default").capabilities.dialect


async def notify_in_transaction() -> None:
    """On PostgreSQL, queue a NOTIFY that is delivered when the current transaction commits."""
    if _dialect() == "postgres":
        await connections.get("default").execute_query(f"NOTIFY {CHANNEL}")


def _asyncpg_dsn(url: str) -> str:
    parts = urlsplit(url)
    # Tortoise's own options (minsize, maxsize, ...) ride in the query string; asyncpg would refuse them.
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))


class PgListener:
    """A dedicated connection LISTENing on CHANNEL; it sets `event` on every notification."""

    def __init__(self, database_url: str, event: asyncio.Event) -> None:
        self._dsn = _asyncpg_dsn(database_url)
        self._event = event
        self._conn: Any = None  # an asyncpg connection, imported only on PostgreSQL

    async def ensure(self) -> None:
        """(Re)connect if needed; a failure is logged and retried on the next call (polling covers the gap)."""
        if self._conn is not None and not self._conn.is_closed():
            return
        import asyncpg

        try:
            conn = await asyncpg.connect(self._dsn, timeout=5)
            await conn.add_listener(CHANNEL, self._on_notify)
            self._conn = conn
        except (OSError, asyncpg.PostgresError, TimeoutError) as e:
            log.warning("webhook dispatcher cannot LISTEN (polling only for now): %s", e)
            self._conn = None

    def _on_notify(self, *_: object) -> None:
        self._event.set()

    async def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()
            self._conn = None
