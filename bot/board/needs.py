"""The leads that need their manager, counted and listed by the database (`bot.board.attention` defines them).

At 200 000 leads a team holds tens of thousands of open leads past one limit or another; the page used to read
every one of them, rank them all in Python and list them all. Here `attention.assess`'s three reasons are a CASE on
the lead's row (`queries.needs_of`), read from an index, and `attention.ranked`'s order an ORDER BY: the database
counts them exactly, per holder and reason, and hands back one page of the most pressing. Only those rows are read
whole and become `Attention`s, by `assess` itself, so the reason a row shows is the definition's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise import connections

from bot.board import attention, queries
from bot.board.attention import Attention, Need
from bot.leads.types import Status
from storage.db import numbered

SHOWN = 20  # the board lists the most pressing of each of its two lists; the rest is one link away
PAGE_SIZE = 50  # a page of the full list (`/board/needs`)
_PACK = 21  # bits of one reason's count in `counted`'s packed sum (three of them fit a signed 64-bit integer)


@dataclass(frozen=True, slots=True)
class Counts:
    """How many leads need attention in a scope, exactly: per holder, per reason."""

    cells: Mapping[int | None, Mapping[Need, int]] = field(default_factory=dict)

    def of(self, needs: Collection[Need] = tuple(Need), holder: int | None = None) -> int:
        """The leads needing attention for one of `needs`, of one holder (None: of everyone in the scope)."""
        held = self.cells.values() if holder is None else [self.cells.get(holder, {})]
        return sum(n for per in held for need, n in per.items() if need in needs)

    @property
    def total(self) -> int:
        return self.of()


@dataclass(frozen=True, slots=True)
class Page:
    """One page of the leads needing attention for some reasons (and of one holder), most pressing first."""

    items: tuple[Attention, ...]
    total: int  # how many leads the list has, on every page
    number: int  # from 1
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


async def counted(tenant_id: int, holders: set[int] | None, now: datetime, stale_after: timedelta) -> Counts:
    """The exact counts of the leads needing attention at `now`, of `holders` (None: the whole tenant)."""
    sql, params = queries.needs_of(tenant_id, holders, now, stale_after)
    conn = connections.get("default")
    # Each lead's reason packed into one sum, _PACK bits a reason: SQLite works a computed column out again at each
    # use, and grouping by it sorts every lead (twice the time, at 200 000 leads). Exact while a holder has fewer
    # than 2 ** _PACK open leads; past that, the plain grouping.
    packed = " ".join(f"WHEN {int(n)} THEN {1 << (_PACK * i)}" for i, n in enumerate(Need))
    rows = await conn.execute_query_dict(numbered(
        f'SELECT "assignee_id", COUNT(*) AS "held", SUM(CASE "need" {packed} END) AS "packed" FROM ({sql}) AS "h" '
        'GROUP BY "assignee_id"'), params)
    cells: dict[int | None, dict[Need, int]] = {}
    if all(int(r["held"]) < 1 << _PACK for r in rows):
        for r in rows:
            total = int(r["packed"] or 0)
            counts = {n: (total >> (_PACK * i)) & ((1 << _PACK) - 1) for i, n in enumerate(Need)}
            if any(counts.values()):
                cells[r["assignee_id"]] = {n: c for n, c in counts.items() if c}
        return Counts(cells)
    rows = await conn.execute_query_dict(numbered(
        f'SELECT "assignee_id", "need", COUNT(*) AS "n" FROM ({sql}) AS "h" GROUP BY "assignee_id", "need"'), params)
    for r in rows:
        if r["need"] is not None:
            cells.setdefault(r["assignee_id"], {})[Need(int(r["need"]))] = int(r["n"])
    return Counts(cells)


async def most_pressing(tenant_id: int, holders: set[int] | None, now: datetime, stale_after: timedelta, *,
                        needs: Collection[Need] = tuple(Need), holder: int | None = None, limit: int,
                        offset: int = 0) -> list[Attention]:
    """`attention.ranked(...)[offset:offset + limit]` of the leads needing attention for one of `needs` (of
    `holder` only, when given), read as that slice: the ranking's key (reason, priority down, waiting since, id)
    is the ORDER BY."""
    if not needs or limit <= 0:
        return []
    ranked, params = queries.needs_of(tenant_id, holders, now, stale_after)
    wanted = sorted(int(n) for n in needs)
    where = f'"need" IN ({", ".join("?" * len(wanted))})'
    params += wanted
    if holder is not None:
        where += ' AND "assignee_id" = ?'
        params.append(holder)
    # `Attention.since`: a bouncing lead never assigned waits since now.
    since = (f'CASE "need" WHEN {int(Need.OVERDUE)} THEN "assigned_at" '
             f'WHEN {int(Need.BOUNCING)} THEN COALESCE("assigned_at", ?) ELSE "last_activity_at" END')
    params += [queries.db_time(now), limit, offset]
    # The slice is taken from the index alone; only its rows are read whole, with their lock's deadline.
    rows = await connections.get("default").execute_query_dict(numbered(
        f'SELECT {queries.OPEN_LEAD_COLUMNS} FROM (SELECT "id" FROM ({ranked}) AS "n" WHERE {where} '
        f'ORDER BY "need", "priority" DESC, {since}, "id" LIMIT ? OFFSET ?) AS "t" '
        'JOIN "leads" l ON l."id" = t."id" LEFT JOIN "deadlines" d ON d."lead_id" = l."id" '
        'AND d."kind" = \'response_lock\' AND d."state" <> \'cancelled\' AND l."status" = ?'),
        [*params, str(Status.ASSIGNED)])
    return attention.ranked(await queries.open_leads_of(tenant_id, rows), now, stale_after)


async def page(tenant_id: int, holders: set[int] | None, now: datetime, stale_after: timedelta, counts: Counts, *,
               needs: Collection[Need] = tuple(Need), holder: int | None = None, number: int = 1,
               size: int | None = None) -> Page:
    """Page `number` of the list (a page past the last one is the last one), of `size` leads (`PAGE_SIZE`)."""
    size = size or PAGE_SIZE
    total = counts.of(needs, holder)
    number = min(max(1, number), max(1, -(-total // size)))
    items = await most_pressing(tenant_id, holders, now, stale_after, needs=needs, holder=holder, limit=size,
                                offset=(number - 1) * size)
    return Page(tuple(items), total, number, size)
