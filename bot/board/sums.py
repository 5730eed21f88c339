"""The kept facts (`bot.board.kept`) summed in SQL, the same on SQLite and PostgreSQL: a page's windows in one
query, whatever the number of windows, and only a few rows per person and stretch of time come back to Python.

A page's windows overlap (the 30 days hold the 7 days, which hold the last days of the chart), so each fact used
to be read once per window it falls in. Instead, the times where any window starts or ends cut the page's span into
stretches (each such time on its own, and the open stretch between two of them: a window includes both its ends),
and one pass over the index range of the people asked for, from the first start to the last end, counts each
person's facts of each stretch by kind and tag. A window's counts are then the sum of its people's stretches, in
Python: a few hundred small rows. Times to first contact come back grouped by value (as many rows as distinct
values), for the exact median and nearest-rank p90 of each window.

A page of everyone (an admin's) is summed per window instead (`_per_window`): grouped by person, the whole tenant's
facts make tens of times more groups than a team's, and there one index range per window, counted by kind and tag
(and the contact times ranked by ROW_NUMBER, returning only the ranks the median and p90 are made of) was faster
on both backends.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise import connections

from bot.board.figures import Contacts, Counts, FactKind
from storage.db import numbered
from storage.models import BoardFact

_AT = BoardFact._meta.fields_map["at"]
_CONTACT = str(FactKind.CONTACT)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One window of facts: from `start` to `end` (both inclusive), of these people (None: everyone)."""

    start: datetime
    end: datetime
    members: frozenset[int] | None


def _when(at: datetime) -> Any:
    # In UTC, as the rows are stored: SQLite compares the texts (the window of "today" starts at local midnight).
    return _AT.to_db_value(at.astimezone(UTC), BoardFact)


def _stretch(cuts: Sequence[datetime], lo: int, hi: int, params: list[Any]) -> str:
    """A CASE giving a time in [cuts[lo], cuts[hi]] its stretch: 2i for cuts[i] itself, 2i + 1 for the open
    stretch after it; nested by halves, so a fact is compared with a handful of cuts, not all of them."""
    if hi - lo == 1:
        params += [_when(cuts[lo]), _when(cuts[hi])]
        return f'CASE WHEN "at" = ? THEN {2 * lo} WHEN "at" < ? THEN {2 * lo + 1} ELSE {2 * hi} END'
    mid = (lo + hi) // 2
    params.append(_when(cuts[mid]))
    below = _stretch(cuts, lo, mid, params)
    above = _stretch(cuts, mid, hi, params)
    return f'CASE WHEN "at" < ? THEN {below} ELSE {above} END'


async def sums(tenant_id: int, buckets: Sequence[Bucket]) -> list[tuple[Counts, Contacts]]:
    """Each bucket's counts (by kind and tag: how many, sum of values) and its times to first contact."""
    if not buckets:
        return []
    if any(b.members is None for b in buckets):
        return await _per_window(tenant_id, buckets)
    cuts = sorted({b.start for b in buckets} | {b.end for b in buckets})
    params: list[Any] = []
    if len(cuts) == 1:
        stretch = "0"
    else:
        stretch = _stretch(cuts, 0, len(cuts) - 1, params)
    # A contact fact's value is kept (grouped by it); the other kinds' values are only summed.
    params += [_CONTACT, tenant_id, _when(cuts[0]), _when(cuts[-1])]
    people = sorted(set().union(*(b.members or () for b in buckets))) or [-1]  # [-1]: nobody
    where = f'"tenant_id" = ? AND "at" >= ? AND "at" <= ? AND "person_id" IN ({", ".join("?" * len(people))})'
    params += people
    rows = await connections.get("default").execute_query_dict(numbered(
        f'SELECT "person_id" AS "p", {stretch} AS "s", "kind", "tag", '
        'CASE WHEN "kind" = ? THEN "value" END AS "v", COUNT(*) AS "n", SUM("value") AS "total" '
        f'FROM "board_facts" WHERE {where} GROUP BY 1, 2, 3, 4, 5'), params)
    # Per person and stretch: counts by (kind, tag), and the times to first contact.
    counted: dict[tuple[int | None, int], Counts] = {}
    contacts: dict[tuple[int | None, int], list[float]] = {}
    for r in rows:
        cell = (r["p"], int(r["s"]))
        n, total = int(r["n"]), float(r["total"] or 0.0)
        here = counted.setdefault(cell, {})
        key = (r["kind"], r["tag"])
        had_n, had_total = here.get(key, (0, 0.0))
        here[key] = (had_n + n, had_total + total)
        if r["kind"] == _CONTACT:
            contacts.setdefault(cell, []).extend([float(r["v"])] * n)
    people_of = sorted({p for p, _ in counted})
    out = []
    for b in buckets:
        first, last = 2 * bisect.bisect_left(cuts, b.start), 2 * bisect.bisect_left(cuts, b.end)
        who = [p for p in people_of if b.members is not None and p in b.members]
        counts: Counts = {}
        minutes: list[float] = []
        for p in who:
            for s in range(first, last + 1):
                for key, (n, total) in counted.get((p, s), {}).items():
                    had_n, had_total = counts.get(key, (0, 0.0))
                    counts[key] = (had_n + n, had_total + total)
                minutes += contacts.get((p, s), ())
        out.append((counts, Contacts.of(minutes)))
    return out


async def _per_window(tenant_id: int, buckets: Sequence[Bucket]) -> list[tuple[Counts, Contacts]]:
    """Each window a branch of a UNION ALL (an index range on (tenant, person, time), or (tenant, time) for
    everyone): its facts counted by kind and tag, and its contact times ranked, only the ranks needed returned."""
    conn = connections.get("default")
    union, params = _union(tenant_id, buckets, None)
    counted = await conn.execute_query_dict(numbered(
        f'SELECT "w", "kind", "tag", COUNT(*) AS "n", SUM("value") AS "total" FROM ({union}) AS "b" '
        'GROUP BY "w", "kind", "tag"'), params)
    union, params = _union(tenant_id, buckets, _CONTACT)
    ranked = await conn.execute_query_dict(numbered(
        'SELECT "w", "n", "i", "value" FROM ('
        'SELECT "w", "value", ROW_NUMBER() OVER (PARTITION BY "w" ORDER BY "value") AS "i", '
        f'COUNT(*) OVER (PARTITION BY "w") AS "n" FROM ({union}) AS "b") AS "r" '
        'WHERE "i" = ("n" + 1) / 2 OR "i" = "n" / 2 + 1 OR "i" = (9 * "n" + 9) / 10'), params)
    counts: list[Counts] = [{} for _ in buckets]
    for r in counted:
        counts[r["w"]][(r["kind"], r["tag"])] = (int(r["n"]), float(r["total"] or 0.0))
    return [(c, _ranks([r for r in ranked if r["w"] == i])) for i, c in enumerate(counts)]


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


def _ranks(rows: list[dict[str, Any]]) -> Contacts:
    if not rows:
        return Contacts()
    n = int(rows[0]["n"])
    at = {int(r["i"]): float(r["value"]) for r in rows}
    # statistics.median: the middle value, or the mean of the two middle ones; p90: the ceil(0.9 n)-th value.
    median = at[(n + 1) // 2] if n % 2 else (at[n // 2] + at[n // 2 + 1]) / 2
    return Contacts(n, median, at[(9 * n + 9) // 10])
