"""Per-rep open-lead counts (`storage.models.RepLoad`), kept as leads change instead of counted at every intake.

A lead counts for a rep while it is held: assigned to them and in an open stage past the pool (the same leads
routing's least-loaded choice and a rep's workload mean). `bot.leads.store` calls `shift` in the transaction of every
create and save with who held the lead before and after, so the counts commit with the change or not at all.
`recount` rebuilds them from the leads (the migration that made the table back-fills it the same way); `drift`
says how far the kept counts are from a fresh count.
"""

from __future__ import annotations

from tortoise import connections
from tortoise.transactions import in_transaction

from bot.leads import stages
from bot.leads.types import Status
from storage.models import Lead as LeadRow
from storage.models import RepLoad

HELD = tuple(str(s) for s in stages.HELD)


def holder(status: str | Status, assignee_id: int | None) -> int | None:
    """The rep a lead in this state counts for, or None (in the pool, closed, or nobody's)."""
    return assignee_id if assignee_id is not None and str(status) in HELD else None


def _upsert_sql() -> str:
    dialect = connections.get("default").capabilities.dialect
    a, b, c = ("$1", "$2", "$3") if dialect == "postgres" else ("?", "?", "?")
    return (f'INSERT INTO "rep_loads" ("user_id", "tenant_id", "open_leads") VALUES ({a}, {b}, {c}) '
            f'ON CONFLICT ("user_id") DO UPDATE SET "open_leads" = "rep_loads"."open_leads" + EXCLUDED."open_leads"')


async def shift(tenant_id: int, before: int | None, after: int | None) -> None:
    """Move one open lead's count from `before` to `after` (either None: nobody). Call inside the lead change's
    transaction. Rows are touched in user id order, so two changes moving leads between the same two reps in
    opposite directions never wait on each other's row locks (PostgreSQL) in a cycle."""
    if before == after:
        return
    deltas = sorted((uid, d) for uid, d in ((before, -1), (after, 1)) if uid is not None)
    conn = connections.get("default")
    sql = _upsert_sql()
    for user_id, delta in deltas:
        await conn.execute_query(sql, [user_id, tenant_id, delta])


async def counts(tenant_id: int) -> dict[int, int]:
    """Each rep's open leads (a rep holding none may be missing, or at 0)."""
    return dict(await RepLoad.filter(tenant_id=tenant_id).values_list("user_id", "open_leads"))


async def fresh_counts(tenant_id: int | None = None) -> dict[int, int]:
    """The counts as the leads say now, counted by the database (non-zero ones only)."""
    from tortoise.functions import Count

    query = LeadRow.filter(status__in=list(HELD), assignee_id__not_isnull=True)
    if tenant_id is not None:
        query = query.filter(tenant_id=tenant_id)
    rows = await query.annotate(n=Count("id")).group_by("assignee_id").values("assignee_id", "n")
    return {r["assignee_id"]: r["n"] for r in rows}


async def drift(tenant_id: int | None = None) -> dict[int, tuple[int, int]]:
    """Reps whose kept count differs from a fresh count: user id -> (kept, fresh)."""
    query = RepLoad.all() if tenant_id is None else RepLoad.filter(tenant_id=tenant_id)
    kept = {u: n for u, n in await query.values_list("user_id", "open_leads") if n}
    fresh = await fresh_counts(tenant_id)
    return {u: (kept.get(u, 0), fresh.get(u, 0)) for u in kept.keys() | fresh.keys()
            if kept.get(u, 0) != fresh.get(u, 0)}


REBUILD_SQL = (
    'INSERT INTO "rep_loads" ("user_id", "tenant_id", "open_leads") '
    'SELECT "assignee_id", MIN("tenant_id"), COUNT(*) FROM "leads" '
    'WHERE "assignee_id" IS NOT NULL AND "status" IN (' + ", ".join(f"'{s}'" for s in HELD) + ') '
    'GROUP BY "assignee_id"'
)


async def recount() -> dict[int, tuple[int, int]]:
    """Rebuild every count from the leads; returns the drift it repaired (user id -> (kept, fresh)).

    On PostgreSQL the table is locked against writers first: a change that already moved a count commits before
    the rebuild reads the leads (so its lead is counted once), and one that has not yet waits and moves the
    rebuilt count after (its lead, uncommitted when the rebuild read, was not counted)."""
    async with in_transaction() as conn:
        if conn.capabilities.dialect == "postgres":
            await conn.execute_script('LOCK TABLE "rep_loads" IN EXCLUSIVE MODE')
        repaired = await drift()
        await conn.execute_script('DELETE FROM "rep_loads"')
        await conn.execute_script(REBUILD_SQL)
    return repaired
