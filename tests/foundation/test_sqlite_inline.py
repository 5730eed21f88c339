"""The embedded SQLite client runs short statements on the loop's thread without ever making the loop wait: a statement
that must wait for another process's write lock waits on aiosqlite's thread, and a long read runs there too."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.sqlite_inline import InlineSqliteClient

# A read that takes SQLite far more steps than the inline budget allows.
LONG_READ = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000) "
             "SELECT count(*) AS n, sum(x) AS total FROM c")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[InlineSqliteClient]:
    db = InlineSqliteClient(file_path=str(tmp_path / "inline.sqlite3"), connection_name="inline",
                            journal_mode="WAL", busy_timeout="10000")
    await db.create_connection(with_db=True)
    await db.execute_script("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    try:
        yield db
    finally:
        await db.close()


class Ticker:
    """Counts the loop's turns while it runs: none pass while a statement holds the loop's thread."""

    def __init__(self) -> None:
        self.turns = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0)
            self.turns += 1

    async def __aenter__(self) -> Ticker:
        await asyncio.sleep(0)  # let the ticker start
        self.turns = 0
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._task.cancel()


async def test_short_statements_run_without_a_hop_and_answer_as_before(client) -> None:
    async with Ticker() as ticker:
        await client.execute_insert("INSERT INTO t (v) VALUES (?)", ["a"])
        count, rows = await client.execute_query("UPDATE t SET v = ? WHERE id = ? RETURNING v", ["b", 1])
        read = await client.execute_query_dict("SELECT id, v FROM t")
    assert ticker.turns == 0  # all three ran on the loop's thread
    assert (count, [dict(r) for r in rows]) == (1, [{"v": "b"}])
    assert read == [{"id": 1, "v": "b"}]


async def test_a_long_read_runs_off_the_loop_and_is_answered_in_full(client) -> None:
    async with Ticker() as ticker:
        rows = await client.execute_query_dict(LONG_READ)
    assert rows == [{"n": 400000, "total": 400000 * 400001 // 2}]
    assert ticker.turns > 0  # interrupted inline and run on aiosqlite's thread while the loop went on


async def test_a_write_waits_for_another_writer_on_the_thread_while_the_loop_runs(client, tmp_path) -> None:
    other = sqlite3.connect(tmp_path / "inline.sqlite3", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's write transaction holds the lock
    other.execute("INSERT INTO t (v) VALUES ('theirs')")
    write = asyncio.create_task(client.execute_insert("INSERT INTO t (v) VALUES (?)", ["ours"]))
    for _ in range(20):  # the loop keeps turning while our write waits: it is not waiting on this thread
        await asyncio.sleep(0.005)
    assert not write.done()
    other.execute("COMMIT")  # run by this coroutine: had the write blocked the loop, this line would never run
    await write
    other.close()
    assert [r["v"] for r in await client.execute_query_dict("SELECT v FROM t ORDER BY id")] == ["theirs", "ours"]


async def test_a_long_write_in_a_transaction_is_never_interrupted(client) -> None:
    from tortoise.backends.sqlite.client import SqliteTransactionWrapper

    tx = SqliteTransactionWrapper(client)
    await tx.begin()
    await tx.execute_query("INSERT INTO t (v) " + LONG_READ.replace("count(*) AS n, sum(x) AS total", "'r' || x"))
    await tx.execute_insert("INSERT INTO t (v) VALUES (?)", ["last"])
    await tx.commit()
    assert (await client.execute_query_dict("SELECT count(*) AS n FROM t")) == [{"n": 400001}]



@pytest.mark.parametrize("synchronous, inline", [("NORMAL", True), ("FULL", False)])
async def test_a_commit_runs_inline_only_where_it_does_not_wait_for_the_disk(tmp_path, synchronous, inline) -> None:
    from tortoise.backends.sqlite.client import SqliteTransactionWrapper

    path = tmp_path / f"commit-{synchronous}.sqlite3"
    db = InlineSqliteClient(file_path=str(path), connection_name="commit", journal_mode="WAL",
                            synchronous=synchronous, busy_timeout="10000")
    await db.create_connection(with_db=True)
    try:
        await db.execute_script("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        tx = SqliteTransactionWrapper(db)
        async with Ticker() as ticker:
            await tx.begin()
            await tx.execute_insert("INSERT INTO t (v) VALUES (?)", ["kept"])
            await tx.commit()
        assert (ticker.turns == 0) is inline  # synchronous=FULL: the commit's fsync is waited for off the loop
        other = sqlite3.connect(path)  # committed: another connection (process) sees it
        assert other.execute("SELECT v FROM t").fetchall() == [("kept",)]
        other.close()
    finally:
        await db.close()
