"""The kept facts (`bot.board.kept`) summed in SQL, the same on SQLite and PostgreSQL: a page's windows in two
queries, whatever the number of leads, and no fact row comes back to Python.

Each window of a page (with whose facts it counts: a team, a rep, everyone) is one branch of a UNION ALL, an index
range on (tenant, person, time). The first query counts the facts of each branch by kind and tag and sums their
values; the second ranks each branch's times to first contact (ROW_NUMBER over the branch) and returns only the
ones its median and its nearest-rank p90 are made of.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections

from bot.board.figures import Contacts, Counts, FactKind
from storage.db import numbered
from storage.models import BoardFact

_AT = BoardFact._meta.fields_map["at"]


@dataclass(frozen=True, slots=True)
class Bucket:
    """One window of facts: from `start` to `end` (both inclusive), of these people (None: everyone)."""

    start: datetime
    end: datetime
    members: frozenset[int] | None


def _when(at: datetime) -> Any:
    # In UTC, as the rows are stored: SQLite compares the texts (the window of "today" starts at local midnight).
    return _AT.to_db_value(at.astimezone(UTC), BoardFact)


def _union(tenant_id: int, buckets: Sequence[Bucket], kind: str | None) -> tuple[str, list[Any]]:
    branches, params = [], []
    for i, b in enumerate(buckets):
        where = '"tenant_id" = ? AND "at" >= ? AND "at" <= ?'
        params += [tenant_id, _when(b.start), _when(b.end)]
        if b.members is not None:
            people = sorted(b.members) or [-1]  # nobody: a list that matches nobody
            where += f' AND "person_id" IN ({", ".join("?" * len(people))})'
            params += people
        if kind is not None:
            where += ' AND "kind" = ?'
            params.append(kind)
        branches.append(f'SELECT {i} AS "w", "kind", "tag", "value" FROM "board_facts" WHERE {where}')
    return " UNION ALL ".join(branches), params


async def sums(tenant_id: int, buckets: Sequence[Bucket]) -> list[tuple[Counts, Contacts]]:
    """Each bucket's counts (by kind and tag: how many, sum of values) and its times to first contact."""
    if not buckets:
        return []
    conn = connections.get("default")
    union, params = _union(tenant_id, buckets, None)
    counted = await conn.execute_query_dict(numbered(
        f'SELECT "w", "kind", "tag", COUNT(*) AS "n", SUM("value") AS "total" FROM ({union}) AS "b" '
        'GROUP BY "w", "kind", "tag"'), params)
    union, params = _union(tenant_id, buckets, str(FactKind.CONTACT))
    ranked = await conn.execute_query_dict(numbered(
        'SELECT "w", "n", "i", "value" FROM ('
        'SELECT "w", "value", ROW_NUMBER() OVER (PARTITION BY "w" ORDER BY "value") AS "i", '
        f'COUNT(*) OVER (PARTITION BY "w") AS "n" FROM ({union}) AS "b") AS "r" '
        'WHERE "i" = ("n" + 1) / 2 OR "i" = "n" / 2 + 1 OR "i" = (9 * "n" + 9) / 10'), params)
    counts: list[Counts] = [{} for _ in buckets]
    for r in counted:
        counts[r["w"]][(r["kind"], r["tag"])] = (int(r["n"]), float(r["total"] or 0.0))
    return [(c, _contacts([r for r in ranked if r["w"] == i])) for i, c in enumerate(counts)]


def _contacts(rows: list[dict[str, Any]]) -> Contacts:
    if not rows:
        return Contacts()
    n = int(rows[0]["n"])
    at = {int(r["i"]): float(r["value"]) for r in rows}
    # statistics.median: the middle value, or the mean of the two middle ones; p90: the ceil(0.9 n)-th value.
    median = at[(n + 1) // 2] if n % 2 else (at[n // 2] + at[n // 2 + 1]) / 2
    return Contacts(n, median, at[(9 * n + 9) // 10])
