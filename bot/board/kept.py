"""The board's facts kept from the leads' events (`storage.models.BoardFact`), so that a page sums them in SQL
(`bot.board.sums`) instead of walking every event of the last 60 days on each view.

A change of a lead's stage or holder writes that lead's facts anew, in the change's transaction (the lead store's
in-transaction hook, listed in `bot.runtime.wiring`), from all its stage events and its evidence, by the same walk the
figures define (`bot.board.figures.lead_facts`): the kept facts are the walked ones. Working time to first contact is
worked out here, once, on the tenant's calendar as it is at the change (`rebuild` works it out again, e.g. after the
calendar was edited). A lead's "untouched 24 h" fact is kept with its time to come; the page reads facts up to now
only, so it counts once its time has come, and it is gone if the lead was contacted before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tortoise import connections
from tortoise.transactions import in_transaction

from bot.admin.tenant_settings import TenantSettings
from bot.board import queries
from bot.board.figures import EventIn, EvidenceIn, Fact, LeadIn, lead_facts
from bot.calendar.worktime import WorkCalendar
from bot.leads import store as leadstore
from bot.leads import types as lt
from bot.leads.audit import AuditEvent
from bot.runtime import outbox
from storage.db import changed, changed_together, numbered
from storage.models import BoardFact, LeadEvent, Tenant
from storage.models import Lead as LeadRow

# Every fact to come is kept: the page's windows end at its now.
FOREVER = datetime.max.replace(tzinfo=UTC)
REBUILD_BATCH = 2000  # leads whose events are read at once
FACT_BATCH = 1000  # facts a statement inserts (7 parameters each: within SQLite's and PostgreSQL's limits)


async def _calendar(tenant_id: int) -> WorkCalendar:
    known = outbox.known()
    if known is not None and (row := known.tenants.get(tenant_id)) is not None:
        return TenantSettings.of_row(row).calendar_for(row.timezone)  # the tenant as this job read it
    tenant = await Tenant.get(id=tenant_id).values("settings", "timezone")
    return TenantSettings.of(tenant["settings"]).calendar_for(tenant["timezone"])


def _lead_in(lead: lt.Lead) -> LeadIn:
    """`queries.lead_in` of the row as `lead` is stored (evidence without a time backs nothing)."""
    return LeadIn(lead.id, lead.status, tuple(EvidenceIn(str(e.kind), e.at) for e in lead.evidence if e.at))


# Besides the stage actions: evidence may be logged after an advance with an earlier time (a voice note transcribed
# after the rep clicked), which backs that advance.
RECOUNTED_ON = frozenset({*queries.STAGE_ACTIONS, "attach_evidence"})


async def record(change: leadstore.StoredChange) -> None:
    """The change hook: a change of the lead's stage, holder or evidence writes its facts anew (fields, contacts
    and the like make none)."""
    if not any(e.action in RECOUNTED_ON for e in change.events):
        return
    memo = leadstore.transaction_memo()
    created_here = ("board_created", change.lead_id)
    if change.events and change.events[0].seq == 1 and all(e.action == "create" for e in change.events):
        # The lead's whole history is its creation: it makes no fact, and none is kept for it yet. A change of it
        # later in the same transaction (intake routing it) has its earlier events here, not to be read back.
        if memo is not None:
            memo[created_here] = list(change.events)
        return
    calendar = await _calendar(change.tenant_id)
    earlier = memo.pop(created_here, None) if memo is not None else None
    if (earlier is not None and change.lead is not None and change.events[0].seq == earlier[-1].seq + 1
            and not any(e.action == "attach_evidence" for e in change.events)):
        # Created in this transaction: every event of the lead is in hand, it has no evidence, no fact kept yet.
        events = [_event_in(e) for e in (*earlier, *change.events) if e.action in queries.STAGE_ACTIONS]
        facts = lead_facts(events, LeadIn(change.lead_id, change.lead.status), FOREVER, calendar)
        await _insert([_row(change.tenant_id, change.lead_id, f) for f in facts])
        return
    stored = {change.lead_id: _lead_in(change.lead)} if change.lead is not None else None
    await _write(change.tenant_id, [change.lead_id], calendar, stored)


def _event_in(event: AuditEvent) -> EventIn:
    return EventIn(event.lead_id, event.seq, event.at, event.actor_id, event.action, dict(event.before),
                   dict(event.after), event.reason or "")


# The three statements of a write, parameterised: a write runs in the transaction of every stage change (every card
# click), and through the ORM's query builder (and a model instance a fact) they cost more CPU than the database
# spent on them. `queries.event_in` reads the rows as the ORM's `.values()` gave them, or as the driver does.
_EVENTS_SQL = ('SELECT "lead_id", "seq", "at", "actor_id", "action", "before", "after", "reason" '
               'FROM "lead_events" WHERE "lead_id" IN ({ids}) AND "action" IN ({actions}) ORDER BY "lead_id", "seq"')
_DELETE_SQL = 'DELETE FROM "board_facts" WHERE "lead_id" IN ({ids})'
_FACT_COLUMNS = ("tenant_id", "lead_id", "person_id", "kind", "tag", "at", "value")
_INSERT_SQL = 'INSERT INTO "board_facts" ("tenant_id", "lead_id", "person_id", "kind", "tag", "at", "value") VALUES '
_ROW_MARKS = f"({', '.join('?' * len(_FACT_COLUMNS))})"


def _marks(n: int) -> str:
    return ", ".join("?" * n)


async def _write(tenant_id: int, lead_ids: Sequence[int], calendar: WorkCalendar,
                 stored: dict[int, LeadIn] | None = None) -> int:
    """Replace the facts of these leads (of one tenant) by the ones their events make; returns how many.
    `stored`: the leads as the caller just wrote them (by id), instead of reading them back."""
    ids = list(lead_ids)
    conn = connections.get("default")
    sql = _EVENTS_SQL.format(ids=_marks(len(ids)), actions=_marks(len(queries.STAGE_ACTIONS)))
    _, rows = await conn.execute_query(numbered(sql), [*ids, *queries.STAGE_ACTIONS])
    events: dict[int, list[EventIn]] = {}
    for r in rows:
        events.setdefault(r["lead_id"], []).append(queries.event_in(r))
    if stored is not None:
        leads = stored
    else:
        leads = {r["id"]: queries.lead_in(r) for r in await LeadRow.filter(id__in=list(events)).values(
            "id", "status", "evidence")} if events else {}
    facts = [_row(tenant_id, lead_id, f)
             for lead_id, evs in events.items() for f in lead_facts(evs, leads.get(lead_id), FOREVER, calendar)]
    delete = (_DELETE_SQL.format(ids=_marks(len(ids))), ids)
    if facts and len(facts) <= FACT_BATCH:
        # The old facts out and the new in as one statement on PostgreSQL (`changed_together`: one round trip in
        # every stage change's transaction). The delete cannot take the inserted rows: every part of that statement
        # sees the table as it was before it.
        await changed_together([delete, _insert_write(facts)])
    else:
        await changed(*delete)
        await _insert(facts)
    return len(facts)


_AT = BoardFact._meta.fields_map["at"]


def _row(tenant_id: int, lead_id: int, f: Fact) -> tuple[object, ...]:
    """A fact's values in `_FACT_COLUMNS` order."""
    return (tenant_id, lead_id, f.person_id, str(f.kind), f.tag, _AT.to_db_value(f.at, None), f.value)


def _insert_write(batch: Sequence[tuple[object, ...]]) -> tuple[str, list[object]]:
    """The INSERT of up to `FACT_BATCH` facts, with `?` placeholders, and its parameters."""
    return _INSERT_SQL + ", ".join([_ROW_MARKS] * len(batch)), [v for fact in batch for v in fact]


async def _insert(facts: Sequence[tuple[object, ...]]) -> None:
    for start in range(0, len(facts), FACT_BATCH):
        await changed(*_insert_write(facts[start:start + FACT_BATCH]))


async def rebuild(tenant_id: int | None = None) -> int:
    """Write every lead's facts anew from its events (one tenant's, or all); returns how many facts there are.

    On PostgreSQL the table is locked against writers first: a change that already wrote its lead's facts commits
    before the rebuild reads the events, and one that has not yet waits and writes them after from all the events."""
    total = 0
    async with in_transaction() as conn:
        if conn.capabilities.dialect == "postgres":
            await conn.execute_script('LOCK TABLE "board_facts" IN EXCLUSIVE MODE')
        tenants = await (Tenant.all() if tenant_id is None else Tenant.filter(id=tenant_id)).order_by(
            "id").values_list("id", flat=True)
        for tid in tenants:
            await BoardFact.filter(tenant_id=tid).delete()
            calendar = await _calendar(tid)
            ids = await LeadRow.filter(tenant_id=tid).order_by("id").values_list("id", flat=True)
            for start in range(0, len(ids), REBUILD_BATCH):
                total += await _write(tid, ids[start:start + REBUILD_BATCH], calendar)
    return total


async def count(tenant_id: int | None = None) -> int:
    return await (BoardFact.all() if tenant_id is None else BoardFact.filter(tenant_id=tenant_id)).count()


async def backfill() -> int | None:
    """A database upgraded from a release without kept facts has leads that were assigned but no facts: build them
    once (each worker calls this at start; the migration that made the table cannot, the calendar being the
    service's). Returns how many were written, or None when there was nothing to do."""
    if await BoardFact.exists() or not await LeadEvent.filter(action__in=("assign", "claim")).exists():
        return None
    return await rebuild()
