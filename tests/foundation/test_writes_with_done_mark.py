"""A follow-up's bookkeeping write goes with its outbox rows' done mark (`outbox.with_done_mark`), through
`storage.db.changed_together`: one statement on PostgreSQL, one after another on SQLite.

What a user depends on: the write is made whenever the row is marked done, a write that changed no row runs its
fallback, a later row of the same run sees what an earlier one recorded, and on PostgreSQL the writes and the done
mark are one commit (all or none).
"""

from __future__ import annotations

import pytest
from tortoise.exceptions import IntegrityError

from bot.runtime import outbox
from storage import db
from storage.models import Outbox, Tenant

_NAME_SQL = 'UPDATE "tenants" SET "name" = ? WHERE "id" = ?'


@pytest.fixture
def handlers():
    saved = dict(outbox.HANDLERS)
    yield outbox.HANDLERS
    outbox.HANDLERS.clear()
    outbox.HANDLERS.update(saved)


async def test_writes_together_count_each_write_and_make_them_all(services) -> None:
    a, b, c = [await Tenant.create(name=n) for n in "abc"]
    counts = await db.changed_together([(_NAME_SQL, ["a2", a.id]), (_NAME_SQL, ["none", 10**9]),
                                        ('UPDATE "tenants" SET "timezone" = ? WHERE "id" IN (?, ?)',
                                         ["Asia/Tokyo", b.id, c.id])])
    assert counts == [1, 0, 2]
    assert [(t.name, t.timezone) for t in await Tenant.all().order_by("id")] == [
        ("a2", "Asia/Shanghai"), ("b", "Asia/Tokyo"), ("c", "Asia/Tokyo")]


async def test_writes_together_are_all_or_none_on_postgresql(services) -> None:
    if db.dialect() != "postgres":
        pytest.skip("one statement on PostgreSQL only; SQLite runs them one after another")
    a = await Tenant.create(name="a")
    b = await Tenant.create(name="b")
    with pytest.raises(IntegrityError):
        await db.changed_together([(_NAME_SQL, ["a2", a.id]), (_NAME_SQL, [None, b.id])])  # name is NOT NULL
    assert (await Tenant.get(id=a.id)).name == "a"


async def test_a_follow_ups_write_is_made_with_its_done_mark(services, handlers) -> None:
    tenant = await Tenant.create(name="before")
    seen, fallbacks = [], []

    async def record(_services, row) -> None:
        seen.append((await Tenant.get(id=tenant.id)).name)  # what the row before recorded, already written

        async def fallback() -> None:
            fallbacks.append(row.id)

        assert outbox.with_done_mark(_NAME_SQL, [f"after {row.id}", tenant.id], fallback)
        assert outbox.with_done_mark(_NAME_SQL, ["nobody", 10**9], fallback)  # changes no row: its fallback runs

    handlers["test_record"] = record
    rows = [await Outbox.create(tenant_id=tenant.id, kind="test_record") for _ in range(2)]
    await outbox.run(services, [r.id for r in rows])

    assert seen == ["before", f"after {rows[0].id}"]
    assert (await Tenant.get(id=tenant.id)).name == f"after {rows[1].id}"
    assert fallbacks == [rows[0].id, rows[1].id]
    assert await Outbox.filter(done_at=None).count() == 0
    assert not outbox.with_done_mark(_NAME_SQL, ["outside", tenant.id])  # no run here: the caller writes it


async def test_a_failed_follow_ups_earlier_write_is_still_made(services, handlers) -> None:
    """A follow-up that recorded what it did and then failed: the record stands, the row is retried, not done."""
    tenant = await Tenant.create(name="before")

    async def half(_services, row) -> None:
        outbox.with_done_mark(_NAME_SQL, ["shown", tenant.id])
        raise RuntimeError("the second card failed")

    handlers["test_half"] = half
    row = await Outbox.create(tenant_id=tenant.id, kind="test_half")
    await outbox.run(services, [row.id])

    assert (await Tenant.get(id=tenant.id)).name == "shown"
    row = await Outbox.get(id=row.id)
    assert row.done_at is None and row.last_error == "RuntimeError: the second card failed"
