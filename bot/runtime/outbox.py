"""Carrying out the follow-ups a committed change wrote into the outbox.

The job that committed a change runs its follow-ups at once (the fast path: a click's card update must not wait for
a queue); if that process dies first, `sweep_outbox` finds the rows still pending and queues them. A row is claimed
before it runs, so the fast path and the sweeper never run it twice at the same time; a follow-up that fails is
retried later with backoff, and each handler is written to be safe to run again. A row's claim names the worker
holding it: when that worker dies (SIGKILL, OOM), the reclaimer hands the row on at once (`release_dead_claims`)
instead of letting the claim run out.

The rows of one commit are claimed together (one UPDATE that hands them back) and marked done together once they have
run (two statements, not three a row), with the bookkeeping writes the follow-ups hand over (`with_done_mark`: a card
shown), on PostgreSQL in one statement. The committing job may hand its follow-ups what it already holds (`knowing`:
the lead as it stored it, the users and tenant it loaded), so they need not read them again; a follow-up run later
(the sweeper, a retry) reads them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.expressions import F, Q

from bot.errors import PlatformError
from bot.runtime.logs import bound
from bot.runtime.services import Services
from bot.runtime.worker_heartbeat import worker_id
from storage import db
from storage.db import numbered
from storage.models import Outbox

log = logging.getLogger(__name__)

Handler = Callable[[Services, Outbox], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}  # by outbox kind; filled by `bot.runtime.wiring.install`
CLAIM_S = 120
MAX_ATTEMPTS = 12
SWEEP_AFTER_S = 10


@dataclass
class Known:
    """What the job running follow-ups already holds: leads (`bot.leads.types.Lead` as stored, by id), users and
    tenants (rows, by id). A follow-up uses a lead only at the version its row names: a version is one state."""

    leads: dict[int, Any] = field(default_factory=dict)
    users: dict[int, Any] = field(default_factory=dict)
    tenants: dict[int, Any] = field(default_factory=dict)

    def lead(self, lead_id: int, version: int | None) -> Any | None:
        lead = self.leads.get(lead_id)
        return lead if lead is not None and version is not None and lead.version == version else None


_known: ContextVar[Known | None] = ContextVar("outbox_known", default=None)


@contextlib.contextmanager
def knowing() -> Iterator[Known]:
    """Within the block, `known()` is one `Known` (the enclosing block's, if any) for this task to fill and use."""
    current = _known.get()
    if current is not None:
        yield current
        return
    token = _known.set(Known())
    try:
        yield _known.get()  # type: ignore[misc]
    finally:
        _known.reset(token)


def known() -> Known | None:
    return _known.get()


@dataclass
class _Write:
    sql: str
    params: Sequence[Any]
    otherwise: Callable[[], Awaitable[None]] | None  # run when the write changed no row


# Writes a follow-up hands to the `run` it runs in, to be sent with that run's done mark (`with_done_mark`).
_with_done: ContextVar[list[_Write] | None] = ContextVar("outbox_with_done", default=None)


def with_done_mark(sql: str, params: Sequence[Any],
                   otherwise: Callable[[], Awaitable[None]] | None = None) -> bool:
    """Have the follow-up's bookkeeping write (`?` placeholders, see `storage.db.changed_together`) sent with the
    done mark of the rows running now: on PostgreSQL one round trip and one commit instead of two. `otherwise` runs
    when the write changed no row. False when no `run` is running here: the caller writes it itself.

    For a record of what the follow-up already did (a card shown): a crash before it is written is a crash before
    the row is marked done, and the row runs again as it would after a crash just before the write. It is sent
    before the next row runs (that row may read what it records), or with the done mark after the last."""
    pending = _with_done.get()
    if pending is None:
        return False
    pending.append(_Write(sql, params, otherwise))
    return True


async def write_with_done_mark(sql: str, params: Sequence[Any],
                               otherwise: Callable[[], Awaitable[None]] | None = None) -> None:
    """A follow-up's bookkeeping write: with the done mark of the rows running now (`with_done_mark`), or, when no
    `run` is running here, at once; `otherwise` runs when the write changed no row, either way."""
    if not with_done_mark(sql, params, otherwise) and not await db.changed(sql, params) and otherwise is not None:
        await otherwise()


async def _flush(pending: list[_Write], done: Sequence[int] = (), now: datetime | None = None) -> None:
    writes = [(w.sql, w.params) for w in pending]
    if done:
        writes.append((_DONE_SQL.format(ids=", ".join("?" * len(done))), [_when(now), *done]))
    taken = list(pending)
    pending.clear()
    counts = await db.changed_together(writes)
    for write, count in zip(taken, counts, strict=False):
        if not count and write.otherwise is not None:
            await write.otherwise()


async def _claim(row_id: int, now: datetime) -> Outbox | None:
    claimed = await Outbox.filter(
        Q(id=row_id, done_at=None) & (Q(claimed_until=None) | Q(claimed_until__lt=now))
    ).update(claimed_until=now + timedelta(seconds=CLAIM_S), claimed_by=worker_id(), attempts=F("attempts") + 1)
    return await Outbox.get_or_none(id=row_id) if claimed else None


async def _run_claimed(services: Services, row: Outbox) -> bool:
    """Run a claimed row; False when it failed (and got its backoff). The caller marks it done."""
    handler = HANDLERS.get(row.kind)
    try:
        if handler is None:
            raise LookupError(f"no outbox handler for {row.kind!r}")
        await handler(services, row)
    except Exception as e:  # recorded on the row and retried later; nothing is dropped silently
        expected = isinstance(e, PlatformError)
        log.log(logging.WARNING if expected else logging.ERROR, "outbox %d (%s) failed, attempt %d: %s",
                row.id, row.kind, row.attempts, e, exc_info=not expected)
        backoff = min(3600, 5 * 2 ** min(row.attempts, 10))
        now = services.clock.now()
        give_up = row.attempts >= MAX_ATTEMPTS
        await Outbox.filter(id=row.id).update(
            last_error=f"{type(e).__name__}: {e}"[:2000],
            claimed_until=now + timedelta(seconds=backoff),
            claimed_by=None,  # a backoff, not a claim: it holds whichever worker dies
            done_at=now if give_up else None,
            gave_up=give_up,
        )
        if give_up:
            log.error("outbox %d (%s) given up after %d attempts", row.id, row.kind, row.attempts)
        return False
    return True


# The claim and the done mark of one commit's rows, as parameterised SQL: they run on every click, and building
# them through the ORM's query builder cost more CPU than the database spends on them. The claim hands back the rows
# it took (RETURNING): one statement, and no read that another claimer could slip between.
_CLAIM_SQL = (
    'UPDATE "outbox" SET "claimed_until" = ?, "claimed_by" = ?, "attempts" = "attempts" + 1 '
    'WHERE "id" IN ({ids}) AND "done_at" IS NULL AND ("claimed_until" IS NULL OR "claimed_until" < ?) '
    'RETURNING "id", "tenant_id", "lead_id", "kind", "payload", "created_at", "attempts"'
)
_DONE_SQL = 'UPDATE "outbox" SET "done_at" = ?, "last_error" = NULL WHERE "id" IN ({ids})'


def _when(value: datetime | None) -> Any:
    return Outbox._meta.fields_map["done_at"].to_db_value(value, None)


def claim_mark(now: datetime) -> tuple[datetime, str]:
    """Until when a claim made at `now` holds its rows, and by whom (this worker)."""
    return now + timedelta(seconds=CLAIM_S), worker_id()


async def _claim_many(row_ids: Sequence[int], now: datetime) -> dict[int, Outbox]:
    """Claim the pending rows among `row_ids` that nobody holds, in one statement; the rows claimed, by id."""
    until, me = claim_mark(now)
    ids = list(dict.fromkeys(row_ids))
    sql = numbered(_CLAIM_SQL.format(ids=", ".join("?" * len(ids))))
    rows = await connections.get("default").execute_query_dict(sql, [_when(until), me, *ids, _when(now)])
    fields = Outbox._meta.fields_map
    return {r["id"]: Outbox(id=r["id"], tenant_id=r["tenant_id"], lead_id=r["lead_id"], kind=r["kind"],
                            payload=fields["payload"].to_python_value(r["payload"]),
                            created_at=fields["created_at"].to_python_value(r["created_at"]),
                            attempts=r["attempts"], claimed_until=until, claimed_by=me, done_at=None)
            for r in rows}


async def run(services: Services, row_ids: Sequence[int],
              claimed: Mapping[int, Outbox | None] | None = None) -> None:
    """Run rows in order (a lead's follow-ups depend on each other: send the card before re-rendering it).

    The rows are claimed together and those that went through are marked done together after the last one ran: the
    bookkeeping follows the sends. A row done before, or held by another worker, is left alone; a row that fails
    gets its backoff at once (`_run_claimed`). Should this process die before the final mark, the claims lapse and
    the rows run again: every handler is safe to run again. `claimed`: rows this worker already holds (stored
    claimed with the change that wrote them), by id, as claimed, not claimed again; None for a row stored done.
    """
    if not row_ids:
        return
    rows = dict(claimed or {})
    if rest := [i for i in row_ids if i not in rows]:
        rows.update(await _claim_many(rest, services.clock.now()))
    done = []
    pending: list[_Write] = []
    token = _with_done.set(pending)
    try:
        for row_id in row_ids:
            row = rows.get(row_id)
            if row is None:
                continue
            if pending:  # what the rows before recorded, written before this one reads it
                await _flush(pending)
            with bound(tenant=row.tenant_id, lead=row.lead_id):
                if await _run_claimed(services, row):
                    done.append(row.id)
    finally:
        _with_done.reset(token)
    if done or pending:
        await _flush(pending, done, services.clock.now())


async def pending_due(now: datetime, limit: int = 500) -> list[int]:
    """Rows still pending `SWEEP_AFTER_S` after they were written, as of `now`."""
    old = now - timedelta(seconds=SWEEP_AFTER_S)
    rows = await Outbox.filter(
        Q(done_at=None) & Q(created_at__lt=old) & (Q(claimed_until=None) | Q(claimed_until__lt=now))
    ).order_by("id").limit(limit).values_list("id", flat=True)
    return list(rows)


async def release_dead_claims(alive: Callable[[str], bool], now: datetime) -> list[tuple[int, int]]:
    """Hand on the rows claimed by workers that are gone (`alive(claimed_by)` False); returns (id, attempts) of each.

    Compare-and-set on the claimer: a row a live worker claimed meanwhile is left to it.
    """
    rows = await Outbox.filter(done_at=None, claimed_until__gt=now, claimed_by__isnull=False).values(
        "id", "claimed_by", "attempts")
    freed = []
    for row in rows:
        if alive(row["claimed_by"]):
            continue
        if await Outbox.filter(id=row["id"], claimed_by=row["claimed_by"], done_at=None).update(claimed_until=None,
                                                                                               claimed_by=None):
            log.warning("outbox %d: its worker %s is gone, handed on", row["id"], row["claimed_by"])
            freed.append((row["id"], row["attempts"]))
    return freed


def payload(row: Outbox) -> dict[str, Any]:
    return dict(row.payload or {})
