"""Leads between the database and the workflow: rows become `bot.leads.types.Lead` snapshots and back.

A decision is stored in one transaction: the lead row (only if nobody changed it since it was loaded: optimistic
locking on `version`), its audit events chained onto the lead's last hash, whatever the change hooks write (e.g.
the outbound webhook events, `bot.webhooks`), and the follow-up work in the outbox. Either all of it is committed or
none of it is.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.models import Model
from tortoise.transactions import in_transaction

from bot.errors import NotFound
from bot.leads import fields as heard
from bot.leads import open_counts as openleads
from bot.leads import types as lt
from bot.leads.audit import AuditEvent, chain_hash, verify_chain
from storage.db import dialect, fetch, numbered
from storage.models import Lead as LeadRow
from storage.models import LeadEvent, Outbox, User

log = logging.getLogger(__name__)


class StaleLead(Exception):
    """The lead changed between load and save: load it again and decide again."""


@dataclass(frozen=True, slots=True)
class StoredChange:
    """What one save or create stored for one lead: its audit events as written, with their `seq`."""

    tenant_id: int
    lead_id: int
    events: tuple[AuditEvent, ...]
    # The lead as this change stored it (a save; None from a create): a hook reads from it what it would otherwise
    # read back from the row it is in the transaction of.
    lead: lt.Lead | None = None


# The hooks and writers below are listed in `bot.runtime.wiring`, which fills these registries.
# Called inside the change's transaction, after its audit events are stored: what a hook writes commits or rolls
# back with the change. A hook must not call out of the process (it holds the lead's row lock).
IN_TRANSACTION: list[Callable[[StoredChange], Awaitable[None]]] = []
# Called once the change's transaction block is over (committed, unless an outer transaction still holds it):
# cheap and synchronous, e.g. waking a waiting dispatcher. An exception here is logged, never raised.
AFTER_COMMIT: list[Callable[[StoredChange], None]] = []


# Follow-ups whose database part is written with the change itself, by outbox kind: a reader must never see the
# change without it (a lead assigned, its response deadline not yet there). The outbox row still follows, for the
# part outside the database (the Redis timer); its handler finds the row written and only completes it.
RowWriter = Callable[[int, dict[str, Any]], Awaitable[Any]]
WRITTEN_WITH_CHANGE: dict[str, RowWriter] = {}
# Of those, the kinds with nothing outside the database: when the writer answers True it has done the whole
# follow-up, and the row is stored done (a record of it), not run again after the commit.
COMPLETED_WITH_CHANGE: set[str] = set()


async def _in_transaction_hooks(change: StoredChange) -> None:
    for hook in IN_TRANSACTION:
        await hook(change)


def _after_commit_hooks(change: StoredChange) -> None:
    if (held := _one_transaction.get()) is not None:
        held.append(change)  # the enclosing `one_transaction` runs them once it has committed
        return
    for hook in AFTER_COMMIT:
        try:
            hook(change)
        except Exception:  # the change is committed: a failing observer must not turn it into an error
            log.exception("after-commit hook %s failed for lead %d", getattr(hook, "__name__", hook), change.lead_id)


# Within `one_transaction`: the changes stored so far, whose after-commit hooks wait for its commit.
_one_transaction: ContextVar[list[StoredChange] | None] = ContextVar("lead_one_transaction", default=None)


@contextlib.asynccontextmanager
async def one_transaction() -> AsyncIterator[None]:
    """Several changes stored as one transaction (intake: the lead created, then routed and assigned): `create` and
    `save` inside the block write into it instead of opening their own, each change's in-transaction hooks run as it
    is stored, and the after-commit hooks of all of them once the block has committed (none if it rolled back).
    No savepoints: a failure anywhere rolls back every change of the block."""
    if _one_transaction.get() is not None:
        yield
        return
    held: list[StoredChange] = []
    token, memo_token = _one_transaction.set(held), _memo.set({})
    try:
        async with in_transaction():
            yield
    finally:
        _one_transaction.reset(token)
        _memo.reset(memo_token)
    for change in held:
        _after_commit_hooks(change)


# Within `one_transaction`: what its changes' hooks read of things the changes do not write (a tenant's webhook
# subscriptions), by key, so that the second change of the transaction need not read it again.
_memo: ContextVar[dict[Any, Any] | None] = ContextVar("lead_one_transaction_memo", default=None)


def transaction_memo() -> dict[Any, Any] | None:
    """The memo of the enclosing `one_transaction` block (None outside one)."""
    return _memo.get()


def _transaction() -> contextlib.AbstractAsyncContextManager[Any]:
    """The change's own transaction, or none when `one_transaction` holds one already."""
    return contextlib.nullcontext() if _one_transaction.get() is not None else in_transaction()


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def to_snapshot(row: LeadRow, assignee: User | None = None) -> lt.Lead:
    return lt.Lead(
        id=row.id, tenant_id=row.tenant_id, status=lt.Status(row.status), version=row.version,
        external_id=row.external_id, company=row.company, contact_name=row.contact_name, phone=row.phone,
        email=row.email, source=row.source, region=row.region, industry=row.industry,
        **heard.snapshot_values(row), tags=tuple(row.tags or ()),
        intent=lt.IntentTier(row.intent) if row.intent else None, priority=lt.Priority(row.priority),
        assignee_id=row.assignee_id, assignee_name=assignee.name if assignee else "",
        assignee_manager_id=assignee.manager_id if assignee else None, decision_maker=row.decision_maker,
        contacts=tuple(lt.Contact(**c) for c in row.contacts or ()),
        evidence=tuple(lt.Evidence(e["ref"], lt.EvidenceKind(e["kind"]), _dt(e["at"])) for e in row.evidence or ()),
        history=tuple(
            lt.StatusChange(lt.Status(h["from"]) if h["from"] else None, lt.Status(h["to"]), _dt(h["at"]))
            for h in row.history or ()
        ),
        created_at=_dt(row.created_at),
        assigned_at=_dt(row.assigned_at), contacted_at=_dt(row.contacted_at), closed_at=_dt(row.closed_at),
        lost_reason=row.lost_reason, bounce_count=row.bounce_count,
    )


def row_values(lead: lt.Lead) -> dict[str, Any]:
    """The columns a decision may change (identity and intake fields are written at creation)."""
    return {
        "status": str(lead.status), "version": lead.version, "assignee_id": lead.assignee_id,
        **heard.column_values(lead), "tags": list(lead.tags),
        "intent": str(lead.intent) if lead.intent else None, "priority": int(lead.priority),
        "decision_maker": lead.decision_maker,
        "contacts": [{"name": c.name, "title": c.title, "decision_maker": c.decision_maker} for c in lead.contacts],
        "evidence": [{"ref": e.ref, "kind": str(e.kind), "at": _iso(e.at)} for e in lead.evidence],
        "history": [
            {"from": str(h.from_status) if h.from_status else None, "to": str(h.to_status), "at": _iso(h.at)}
            for h in lead.history
        ],
        "assigned_at": lead.assigned_at, "contacted_at": lead.contacted_at, "closed_at": lead.closed_at,
        "lost_reason": lead.lost_reason, "bounce_count": lead.bounce_count,
    }


async def load(lead_id: int, tenant_id: int | None = None, *, users: Iterable[User] = ()) -> lt.Lead:
    """The lead as the workflow sees it; `tenant_id` scopes the lookup (another tenant's lead is not found).
    `users`: rows the caller has just read (e.g. the clicker); the assignee is taken from them when among them."""
    row = await load_row(lead_id, tenant_id)
    assignee = None
    if row.assignee_id:
        assignee = next((u for u in users if u.id == row.assignee_id), None) or await User.get_or_none(
            id=row.assignee_id)
    return to_snapshot(row, assignee)


# Within `remembering_chains`: the audit chain (seq, head) and the holder (status, assignee) of each lead row loaded,
# by (lead id, version). A lead only changes with a version-checked save, so what was read with a version is the
# lead at that version: a save from it need not read the row again for them (see `save`).
_chains: ContextVar[dict[tuple[int, int], tuple[int, str, str, int | None]] | None] = ContextVar(
    "lead_chains", default=None)


@contextlib.contextmanager
def remembering_chains() -> Iterator[None]:
    token = _chains.set({})
    try:
        yield
    finally:
        _chains.reset(token)


# Parameterised (`storage.db.fetch`): every change and card redraw loads its lead, and the ORM's query builder cost
# more CPU than the database spent on the read.
_LOAD_SQL = 'SELECT * FROM "leads" WHERE "id" = ?'


# Within `read_ahead`: a lead's row read just before, with what else the caller needed (a click reads it with the
# card and the clicker), for the next `load_row` of it.
_ahead: ContextVar[LeadRow | None] = ContextVar("lead_read_ahead", default=None)


@contextlib.contextmanager
def read_ahead(row: LeadRow | None) -> Iterator[None]:
    """Within the block, the first `load_row` of `row`'s lead (in its tenant, or any) takes `row` instead of reading
    it; any later one reads it again (a change found stale must see the lead as it is now). The row is as good as
    one `load_row` would read: a lead only changes with a version-checked save."""
    token = _ahead.set(row)
    try:
        yield
    finally:
        _ahead.reset(token)


async def load_row(lead_id: int, tenant_id: int | None = None) -> LeadRow:
    ahead = _ahead.get()
    if ahead is not None and ahead.id == lead_id and tenant_id in (None, ahead.tenant_id):
        _ahead.set(None)
        row = ahead
    else:
        found = await fetch(LeadRow, _LOAD_SQL + (' AND "tenant_id" = ?' if tenant_id is not None else ""),
                            [lead_id] if tenant_id is None else [lead_id, tenant_id])
        if not found:
            raise NotFound(f"lead {lead_id} not found")
        row = found[0]
    if (chains := _chains.get()) is not None:
        chains[(row.id, row.version)] = (row.audit_seq, row.audit_head, row.status, row.assignee_id)
    return row


def _chained(seq: int, head: str, events: Sequence[AuditEvent]) -> tuple[int, str, list[tuple[AuditEvent, str]]]:
    """`events` numbered and hashed onto the chain (seq, head): the new seq and head, and each event with its hash."""
    out = []
    for event in events:
        seq += 1
        stamped = AuditEvent(**{**event.to_record(), "seq": seq})
        head = chain_hash(head, stamped)
        out.append((stamped, head))
    return seq, head, out


def _db_values(model: type[Model], values: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """Columns and parameters of `values` (by field name), converted as the ORM converts them for a write."""
    fields = model._meta.fields_map
    columns, params = [], []
    for name, value in values.items():
        field = fields[name]
        columns.append(f'"{field.source_field or name}"')
        params.append(field.to_db_value(value, None))
    return columns, params


# A change's lead update and audit inserts are written as parameterised SQL: they run on every change (every card
# click), and through the ORM's query builder (and a model instance an event) they cost more CPU than the database
# spent on them.
async def _insert_events(chained: Sequence[tuple[AuditEvent, str]]) -> tuple[AuditEvent, ...]:
    if chained:
        params: list[Any] = []
        groups = []
        for stamped, hashed in chained:
            columns, values = _db_values(LeadEvent, {**stamped.to_record(), "hash": hashed})
            params += values
            groups.append(f"({', '.join('?' * len(values))})")
        await connections.get("default").execute_query(
            numbered(f'INSERT INTO "lead_events" ({", ".join(columns)}) VALUES {", ".join(groups)}'), params)
    return tuple(stamped for stamped, _ in chained)


async def _update_lead(lead_id: int, version: int | None, values: dict[str, Any]) -> int:
    """Write `values` onto the lead (only at `version`, when given); how many rows changed (0 or 1)."""
    columns, params = _db_values(LeadRow, values)
    sql = f'UPDATE "leads" SET {", ".join(f"{c} = ?" for c in columns)} WHERE "id" = ?'
    params.append(lead_id)
    if version is not None:
        sql += ' AND "version" = ?'
        params.append(version)
    count, _ = await connections.get("default").execute_query(numbered(sql), params)
    return count


async def _append_events(seq: int, head: str, events: Sequence[AuditEvent]) -> tuple[int, str, tuple[AuditEvent, ...]]:
    """Chain `events` after the lead's last (`seq`, `head`); returns the new last and the events as stored."""
    seq, head, chained = _chained(seq, head, events)
    return seq, head, await _insert_events(chained)


_LOCK_SQL = {
    d: f'UPDATE "leads" SET "version" = "version" WHERE "id" = {a} AND "version" = {b} '
       'RETURNING "status", "assignee_id", "audit_seq", "audit_head"'
    for d, a, b in (("sqlite", "?", "?"), ("postgres", "$1", "$2"))
}


@dataclass(slots=True)
class Claim:
    """Outbox rows to be stored already claimed (`until`, by `by`), for the job that commits them to run at once:
    the claim is committed with the change instead of in a statement and commit of its own after it. Should that job
    die before running them, its claims lapse or are handed on (`bot.runtime.outbox`), as any claim. `rows`: every row
    stored, by id: as stored claimed, for the runner, or None when stored done (nothing left to run)."""

    until: datetime
    by: str
    rows: dict[int, Outbox | None] = field(default_factory=dict)


async def save(
    lead: lt.Lead,
    expected_version: int,
    events: Sequence[AuditEvent],
    outbox: Iterable[tuple[str, dict[str, Any]]] = (),
    *,
    now: datetime,
    activity: bool = True,
    claim: Claim | None = None,
) -> list[int]:
    """Store a decided lead, its audit events and its outbox rows atomically; returns the outbox row ids.
    `now` (the caller's clock) stamps the change and the lead's last activity. `claim`: the outbox rows are stored
    claimed with it.

    Raises `StaleLead` when the row's version is no longer `expected_version` (a concurrent change won).
    """
    values = row_values(lead)
    if activity:
        values["last_activity_at"] = now
    remembered = (_chains.get() or {}).get((lead.id, expected_version))
    async with _transaction():
        if remembered is not None:
            # The lead as loaded with `expected_version` is the lead now if the version-checked update matches:
            # chain head and events go in with the update, and the holder before is the one loaded.
            seq, head, status_before, assignee_before = remembered
            seq, head, chained = _chained(seq, head, events)
            changed = await _update_lead(lead.id, expected_version,
                                         {**values, "updated_at": now, "audit_seq": seq, "audit_head": head})
            if changed != 1:
                raise StaleLead(lead.id)
            stored = await _insert_events(chained)
        else:
            # The version-checked update comes first: it takes the row lock (PostgreSQL) or the write lock
            # (SQLite), so neither the holder nor the chain head read next can change under us before we write.
            # One statement: it changes nothing yet and hands back what the change needs (RETURNING: SQLite
            # >= 3.35).
            found = await connections.get("default").execute_query_dict(_LOCK_SQL[dialect()],
                                                                         [lead.id, expected_version])
            if not found:
                raise StaleLead(lead.id)
            before = found[0]
            status_before, assignee_before = before["status"], before["assignee_id"]
            seq, head, stored = await _append_events(before["audit_seq"], before["audit_head"], events)
            await _update_lead(lead.id, None, {**values, "audit_seq": seq, "audit_head": head, "updated_at": now})
        change = StoredChange(lead.tenant_id, lead.id, stored, lead)
        await _in_transaction_hooks(change)
        token = _saving.set(lead)
        try:
            ids = await outbox_rows(lead.tenant_id, lead.id, outbox, now=now, claim=claim)
        finally:
            _saving.reset(token)
        # Who held it before and after: the per-rep open-lead counts move with the change (routing reads them).
        # Last: it row-locks the reps' counts until commit, and concurrent intakes routed to one rep queue there.
        await openleads.shift(lead.tenant_id, openleads.holder(status_before, assignee_before),
                              openleads.holder(lead.status, lead.assignee_id))
    if (chains := _chains.get()) is not None:  # what was just written with the new version, for `stored_row`
        chains[(lead.id, lead.version)] = (seq, head, str(lead.status), lead.assignee_id)
    _after_commit_hooks(change)
    return ids


# While `save` writes the change's follow-ups (`WRITTEN_WITH_CHANGE`): the lead as that change stores it.
_saving: ContextVar[lt.Lead | None] = ContextVar("lead_saving", default=None)


def being_saved(lead_id: int, version: int) -> lt.Lead | None:
    """The lead at `version` as the `save` whose follow-up writer calls this is storing it (None elsewhere): a
    writer reads it instead of the row it is in the transaction of."""
    lead = _saving.get()
    return lead if lead is not None and lead.id == lead_id and lead.version == version else None


def stored_row(row: LeadRow, lead: lt.Lead, now: datetime) -> None:
    """Bring `row` up to `lead` as a `save` at `now` within the same `remembering_chains` block just stored it: the
    columns that save wrote, without reading the row back (the webhooks' own `webhook_seq` is not among them)."""
    seq, head, _, _ = (_chains.get() or {})[(lead.id, lead.version)]
    for name, value in {**row_values(lead), "last_activity_at": now, "updated_at": now, "audit_seq": seq,
                        "audit_head": head}.items():
        setattr(row, name, value)


async def outbox_rows(tenant_id: int, lead_id: int | None, rows: Iterable[tuple[str, dict[str, Any]]], *,
                      now: datetime, claim: Claim | None = None) -> list[int]:
    """Insert follow-up rows (inside the caller's transaction, if any), writing first what is written with the
    change (`WRITTEN_WITH_CHANGE`); returns their ids in order. `now` stamps them: the sweep measures their age
    on the same clock. `claim`: the rows not stored done are stored claimed with it (and listed in it)."""
    marked: list[tuple[str, dict[str, Any], datetime | None]] = []
    for kind, payload in rows:
        done = False
        if (writer := WRITTEN_WITH_CHANGE.get(kind)) is not None:
            # What has no part outside the database is done with the change: its row is stored done.
            done = await writer(tenant_id, payload) is True and kind in COMPLETED_WITH_CHANGE
        marked.append((kind, payload, now if done else None))
    if not marked:
        return []
    # One multi-row INSERT (a routed lead has three follow-ups: one round trip, not three). Ids are given in the
    # order of the VALUES; RETURNING may list them in any order, so they are sorted back.
    fields = Outbox._meta.fields_map
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    params: list[Any] = []
    groups = []
    claimed_until = fields["claimed_until"].to_db_value(claim.until, None) if claim is not None else None
    for kind, payload, done_at in marked:
        held = claim is not None and done_at is None
        values = [tenant_id, lead_id, kind, fields["payload"].to_db_value(payload, None),
                  fields["created_at"].to_db_value(now, None), 1 if held else 0, False,
                  fields["done_at"].to_db_value(done_at, None), claimed_until if held else None,
                  claim.by if held else None]
        marks = [f"${len(params) + i}" if postgres else "?" for i in range(1, len(values) + 1)]
        params += values
        groups.append(f"({', '.join(marks)})")
    sql = (f'INSERT INTO "outbox" ({_OUTBOX_COLUMNS}) VALUES {", ".join(groups)} RETURNING "id"')
    ids = sorted(r["id"] for r in await conn.execute_query_dict(sql, params))
    if claim is not None:
        for row_id, (kind, payload, done_at) in zip(ids, marked, strict=True):
            # As the claim's own read would hand it back (`bot.runtime.outbox`).
            claim.rows[row_id] = None if done_at is not None else Outbox(
                id=row_id, tenant_id=tenant_id, lead_id=lead_id, kind=kind, payload=payload, created_at=now,
                attempts=1, claimed_until=claim.until, claimed_by=claim.by, done_at=None)
    return ids


_OUTBOX_COLUMNS = ('"tenant_id", "lead_id", "kind", "payload", "created_at", "attempts", "gave_up", "done_at", '
                   '"claimed_until", "claimed_by"')


async def create(
    values: dict[str, Any], event: AuditEvent, outbox: Iterable[tuple[str, dict[str, Any]]] = (), *,
    chain_later: bool = False,
) -> tuple[LeadRow, list[int]]:
    """Insert a new lead with its first audit event ("created") and its follow-ups, atomically. Within
    `remembering_chains`, a `save` of the new lead next (intake routing it) need not read its chain back.

    `chain_later`: the row's chain (seq, head) is not written here but by what the caller does next in the same
    `one_transaction` and `remembering_chains` block: a `save` of the lead (its update writes them), else
    `write_chain(row)`. Intake routes every new lead: one statement fewer per lead."""
    if chain_later and (_one_transaction.get() is None or _chains.get() is None):
        raise RuntimeError("chain_later needs one_transaction and remembering_chains")
    async with _transaction():
        row = await LeadRow.create(**values, last_activity_at=event.at)  # created when its first event says
        first = AuditEvent(**{**event.to_record(), "lead_id": row.id})
        seq, head, stored = await _append_events(row.audit_seq, row.audit_head, [first])
        row.audit_seq, row.audit_head = seq, head
        if not chain_later:
            await write_chain(row)
        if (chains := _chains.get()) is not None:
            chains[(row.id, row.version)] = (seq, head, row.status, row.assignee_id)
        change = StoredChange(row.tenant_id, row.id, stored)
        await _in_transaction_hooks(change)
        ids = await outbox_rows(row.tenant_id, row.id, outbox, now=event.at)
        await openleads.shift(row.tenant_id, None, openleads.holder(row.status, row.assignee_id))  # last, as in save
    _after_commit_hooks(change)
    return row, ids


async def write_chain(row: LeadRow) -> None:
    """Store the row's audit chain (seq, head) as it holds them: a `create` with `chain_later` whose lead was not
    saved after it."""
    await connections.get("default").execute_query(
        numbered('UPDATE "leads" SET "audit_seq" = ?, "audit_head" = ? WHERE "id" = ?'),
        [row.audit_seq, row.audit_head, row.id])


async def events_of(lead_id: int) -> list[tuple[AuditEvent, str]]:
    rows = await LeadEvent.filter(lead_id=lead_id).order_by("seq").values()
    return [(AuditEvent.from_record(r), r["hash"]) for r in rows]


async def verify_chains(tenant_id: int | None = None) -> tuple[int, list[str]]:
    """Check every lead's audit chain (one tenant's, or all): how many were checked, and a line naming the first
    broken link of each broken one. `leadbot audit verify` and the console's activity page."""
    qs = LeadRow.all().order_by("id")
    if tenant_id:
        qs = qs.filter(tenant_id=tenant_id)
    rows = await qs.values("id", "audit_head")
    broken: list[str] = []
    for row in rows:
        events = await events_of(row["id"])
        index = verify_chain(events, head=row["audit_head"])
        if index is not None:
            seq = events[index][0].seq if index < len(events) else len(events) + 1
            broken.append(f"lead {row['id']}: chain broken at event #{index + 1} (seq {seq})")
    return len(rows), broken
