"""SQLite statements run on the event loop's own thread when they finish at once; aiosqlite's thread for the rest.

aiosqlite runs every statement on its own thread: a queue put, a thread wake-up, the GIL handed over and back and the
loop woken through its self-pipe — about 60-120 µs of CPU a statement (measured here), against 3 µs for SQLite to
answer an indexed read or write. A card click is a few dozen statements, and on the embedded defaults that hop was a
large part of the worker's CPU per click; under load each hop also waits for the GIL while other jobs run.

So, on this client (the `sqlite://` engine `storage.db` configures):
- a statement runs inline, on the calling thread, with SQLite's busy timeout at 0: it either finishes at once or
  fails at once with SQLITE_BUSY (another process holds the write lock), and then runs again on aiosqlite's thread
  with the configured busy timeout, waiting there as before. A statement that failed busy changed nothing.
- a read (`SELECT`, or `WITH` with no write in it) runs inline only up to a budget of SQLite VM steps (a progress
  handler); one that goes past it (a board aggregate over many rows) is interrupted — which aborts a read and
  nothing else — and runs on the thread, where it does not hold up the loop. Writes are never interrupted: inside a
  transaction that would roll the whole transaction back.
- `BEGIN` runs inline (it takes no lock); so does `COMMIT` in WAL mode with synchronous=NORMAL (no fsync, and
  no lock the transaction does not hold already); with synchronous=FULL it stays on the thread, where it waits for
  the fsync, and so does `ROLLBACK`; "commit" outside a transaction, which tortoise issues before every BEGIN, is
  skipped.
- while anything is queued on the thread, every statement goes there too, behind it: the sqlite3 connection is
  never used from two threads at once, and statements keep their order.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from functools import partial
from typing import Any

import aiosqlite
from tortoise.backends.sqlite.client import SqliteClient

# A read runs inline for at most this many progress callbacks of STEPS_PER_CALL VM steps each (a millisecond or two of
# SQLite's work); past that it is interrupted and runs on aiosqlite's thread.
STEPS_PER_CALL = 1000
INLINE_READ_CALLS = 100


def _busy(error: sqlite3.OperationalError) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _interrupted(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_INTERRUPT


# A statement that only reads: SELECT, or WITH … whose body writes nothing.
_READ = re.compile(r"\s*(SELECT\b|WITH\b(?!.*\b(INSERT|UPDATE|DELETE|REPLACE)\b))", re.IGNORECASE | re.DOTALL)


def _is_read(sql: str) -> bool:
    return _READ.match(sql) is not None


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's connection, running statements on the calling thread whenever they need not wait."""

    def __init__(self, connector: Any, iter_chunk_size: int, busy_timeout_ms: int,
                 commits_inline: bool = False) -> None:
        super().__init__(connector, iter_chunk_size)
        self.commits_inline = commits_inline
        self._queued = 0  # operations submitted to aiosqlite's thread and not yet finished
        self._busy_timeout_ms = busy_timeout_ms
        self._steps_left = 0

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Everything aiosqlite runs on its thread (statements, commits, scripts, closing) waits for locks there."""
        self._queued += 1
        try:
            return await super()._execute(self._waiting, partial(fn, *args, **kwargs))
        finally:
            self._queued -= 1

    def _waiting(self, fn: Any) -> Any:
        """Run `fn` (on aiosqlite's thread) with the configured busy timeout; inline statements run with none."""
        conn = self._connection
        if conn is None:
            return fn()
        conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        try:
            return fn()
        finally:
            with contextlib.suppress(sqlite3.ProgrammingError):  # fn closed the connection
                conn.execute("PRAGMA busy_timeout=0")

    def _progress(self) -> int:
        self._steps_left -= 1
        return self._steps_left < 0  # non-zero interrupts the statement

    def _inline(self, fn: Any, sql: str, parameters: Any) -> tuple[bool, Any]:
        """(True, result) when the statement ran inline; (False, None) when it must run on the thread."""
        if self._queued or self._connection is None:
            return False, None
        conn = self._connection
        guarded = _is_read(sql)
        if guarded:
            self._steps_left = INLINE_READ_CALLS
            conn.set_progress_handler(self._progress, STEPS_PER_CALL)
        try:
            return True, fn(sql, parameters)
        except sqlite3.OperationalError as e:
            if _busy(e) or (guarded and _interrupted(e)):
                return False, None
            raise
        finally:
            if guarded:
                conn.set_progress_handler(None, 0)

    async def _statement(self, fn: Any, sql: str, parameters: Any) -> Any:
        """`fn(sql, parameters)` inline when it can be, else on aiosqlite's thread."""
        parameters = [] if parameters is None else parameters
        ran, result = self._inline(fn, sql, parameters)
        return result if ran else await self._execute(fn, sql, parameters)

    async def execute_fetchall(self, sql: str, parameters: Any = None) -> Any:
        return await self._statement(self._execute_fetchall, sql, parameters)

    async def execute_insert(self, sql: str, parameters: Any = None) -> Any:
        return await self._statement(self._execute_insert, sql, parameters)

    async def execute(self, sql: str, parameters: Any = None) -> aiosqlite.Cursor:
        parameters = [] if parameters is None else parameters
        if sql.strip().upper() == "BEGIN":
            ran, cursor = self._inline(self._conn.execute, sql, parameters)
            if ran:
                return aiosqlite.Cursor(self, cursor)
        return aiosqlite.Cursor(self, await self._execute(self._conn.execute, sql, parameters))

    async def commit(self) -> None:
        if not self._queued and self._connection is not None:
            if not self._connection.in_transaction:
                return  # nothing to commit: tortoise commits before each BEGIN to end a transaction never begun
            if self.commits_inline:
                # No fsync (synchronous=NORMAL), and in WAL mode a commit takes no lock the transaction's first
                # write did not already take: it never waits. (The checkpoint a commit may run copies pages; one that
                # cannot get its lock is skipped, not waited for.)
                try:
                    self._connection.commit()
                    return
                except sqlite3.OperationalError as e:
                    if not _busy(e):
                        raise
        await self._execute(self._conn.commit)


class InlineSqliteClient(SqliteClient):
    """Tortoise's SQLite client on an `InlineConnection`."""

    async def create_connection(self, with_db: bool) -> None:
        if self._connection:
            return
        busy_timeout_ms = int(self.pragmas.get("busy_timeout", 0))
        # check_same_thread: the connection is made on aiosqlite's thread and used on the loop's as well, never at
        # the same time (see the module's docstring)
        # timeout=0: inline statements never wait for a lock (the thread's operations set the configured one)
        connector = partial(sqlite3.connect, self.filename, isolation_level=None, check_same_thread=False, timeout=0)
        # A commit runs inline only where it does not wait for the disk: WAL with synchronous=NORMAL (or OFF)
        synced = str(self.pragmas.get("synchronous", "FULL")).upper() not in ("NORMAL", "OFF", "1", "0")
        inline_commit = str(self.pragmas.get("journal_mode", "")).upper() == "WAL" and not synced
        connection = InlineConnection(connector, 64, busy_timeout_ms, commits_inline=inline_commit)
        self._connection = await connection
        self._connection._conn.row_factory = sqlite3.Row
        for pragma, val in self.pragmas.items():
            if pragma != "busy_timeout":  # 0 on the connection; the thread's operations set it (`_waiting`)
                cursor = await self._connection.execute(f"PRAGMA {pragma}={val}")
                await cursor.close()
        await self._post_connect()


client_class = InlineSqliteClient
