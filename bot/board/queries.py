"""Loading one tenant's board inputs: a handful of queries, each scoped to the tenant and bounded in time.

Nothing here computes a figure (`bot.board.figures` does); this only turns rows into its input values. Queries
read `.values()` (no model instances) and never loop per lead. The page and the digest read no events: what the
leads' events make is kept (`bot.board.kept`) and summed in SQL (`bot.board.sums`); `load_inputs` with the events
is the walk those facts must equal (the tests compare them). Events are read from before the oldest window
(`LOOKBACK`) so that a lead assigned before the window and contacted in it is measured from its assignment.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import connections

from bot.alerting.ladder import AlertKind
from bot.board.attention import UNTOUCHED_AFTER, Need, OpenLead
from bot.board.figures import AlertIn, EventIn, EvidenceIn, Inputs, LeadIn, NoteIn, Person, StepIn
from bot.leads.stages import HELD, OPEN_DEAL
from bot.leads.types import Status
from bot.leads.workflow import FLAG_AFTER_BOUNCES
from cards.model import title_of
from storage.db import numbered
from storage.models import Alert, Delivery, LeadEvent, User, VoiceNote
from storage.models import Lead as LeadRow

DIGEST_KIND = "board_digest"
HISTORY = timedelta(days=30)
LOOKBACK = timedelta(days=30)
# Audit actions that can change a lead's stage or holder: the only events the figures read.
STAGE_ACTIONS = ("create", "assign", "claim", "advance", "mark_lost", "reopen", "release")
STEP_OF_ALERT = {str(AlertKind.LOCK_REMINDER): "remind_rep", str(AlertKind.LOCK_BREACHED): "alert_manager"}
OPEN_HELD = [str(s) for s in HELD]
_DB_TIME = LeadRow._meta.fields_map["assigned_at"]
_STATUS = {str(s): s for s in Status}  # a lookup, not the enum's call: the page reads thousands of leads


def _dt(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def people(tenant_id: int) -> tuple[Person, ...]:
    rows = await User.filter(tenant_id=tenant_id).order_by("id").values("id", "name", "role", "manager_id", "active")
    return tuple(Person(r["id"], r["name"], str(r["role"]), r["manager_id"], bool(r["active"])) for r in rows)


EVENT_COLUMNS = ("lead_id", "seq", "at", "actor_id", "action", "before", "after", "reason")


async def load_inputs(tenant_id: int, now: datetime, *, history: timedelta = HISTORY,
                      lead_history: bool = True) -> Inputs:
    """The tenant's inputs of the last `history`. Without `lead_history`, no events and no leads: what the page
    needs beside the facts kept from the leads' events (`bot.board.kept`), which it sums in SQL."""
    since = now - history
    events_since = since - LOOKBACK
    event_rows: list[dict[str, Any]] = []
    lead_rows: list[dict[str, Any]] = []
    if lead_history:
        event_rows = await LeadEvent.filter(tenant_id=tenant_id, at__gte=events_since, at__lte=now,
                                            action__in=STAGE_ACTIONS).values(*EVENT_COLUMNS)
        # A lead with an event since then was saved since then: no list of ids to send back to the database.
        lead_rows = await LeadRow.filter(tenant_id=tenant_id, updated_at__gte=events_since).values(
            "id", "status", "evidence")
    step_rows = await Alert.filter(tenant_id=tenant_id, kind__in=list(STEP_OF_ALERT), created_at__gte=since).values(
        "lead_id", "user_id", "kind", "dedup_key", "plan", "created_at")
    note_rows = await VoiceNote.filter(tenant_id=tenant_id, created_at__gte=since).values("user_id", "created_at")
    alert_rows = await Alert.filter(tenant_id=tenant_id, created_at__gte=since).exclude(kind=DIGEST_KIND).values(
        "id", "user_id", "created_at")
    fell_back = set(await Delivery.filter(tenant_id=tenant_id, channel__in=["sms", "email"], at__gte=since)
                    .values_list("alert_id", flat=True))
    return Inputs(
        people=await people(tenant_id),
        leads=tuple(lead_in(r) for r in lead_rows),
        events=tuple(event_in(r) for r in event_rows),
        steps=tuple(_step_in(r) for r in step_rows),
        notes=tuple(NoteIn(r["user_id"], _dt(r["created_at"])) for r in note_rows),
        alerts=tuple(AlertIn(r["user_id"], _dt(r["created_at"]), r["id"] in fell_back) for r in alert_rows),
    )


def event_in(row: dict[str, Any]) -> EventIn:
    return EventIn(row["lead_id"], row["seq"], _dt(row["at"]), row["actor_id"], row["action"],
                   _json(row["before"]) or {}, _json(row["after"]) or {}, row["reason"] or "")


def lead_in(row: dict[str, Any]) -> LeadIn:
    evidence = tuple(EvidenceIn(str(e["kind"]), _dt(e["at"])) for e in _json(row["evidence"]) or () if e.get("at"))
    return LeadIn(row["id"], Status(row["status"]), evidence)


def _step_in(row: dict[str, Any]) -> StepIn:
    # lock_breached goes to the manager; the rep it is about is frozen in the alert's moot condition.
    moot = (_json(row["plan"]) or {}).get("moot") or {}
    rep = row["user_id"] if row["kind"] == str(AlertKind.LOCK_REMINDER) else moot.get("assignee_id")
    lock = str(row["dedup_key"]).rsplit(":", 1)[0]  # lock:<deadline>:<fence>:<step> -> one lock
    return StepIn(row["lead_id"], rep, STEP_OF_ALERT[row["kind"]], _dt(row["created_at"]), lock)


async def open_leads(tenant_id: int, assignee_ids: set[int] | None = None, *,
                     needing: tuple[datetime, timedelta] | None = None) -> list[OpenLead]:
    """The tenant's leads held by someone and not closed (of `assignee_ids` only, when given), with lock times.
    With `needing` (now, the stale limit): only those `bot.board.attention.assess` flags at that time, by the
    condition the page counts and lists them with (`bot.board.needs`)."""
    sql, params = held_leads(tenant_id, assignee_ids)
    if needing is not None:
        ranked, more = needs_of(tenant_id, assignee_ids, *needing)
        sql += f' AND l."id" IN (SELECT "id" FROM ({ranked}) AS "n" WHERE "need" IS NOT NULL)'
        params += more
    rows = await connections.get("default").execute_query_dict(numbered(sql), params)
    return await open_leads_of(tenant_id, rows)


def _held(tenant_id: int, assignee_ids: set[int] | None) -> tuple[str, list[Any]]:
    """The condition on a lead (`l`) held in the tenant (by `assignee_ids` only, when given) and not closed."""
    where = f'l."tenant_id" = ? AND l."status" IN ({", ".join("?" * len(OPEN_HELD))})'
    params: list[Any] = [tenant_id, *OPEN_HELD]
    if assignee_ids is not None:
        people = sorted(assignee_ids) or [-1]
        where += f' AND l."assignee_id" IN ({", ".join("?" * len(people))})'
        params += people
    return where, params


def held_leads(tenant_id: int, assignee_ids: set[int] | None) -> tuple[str, list[Any]]:
    """The statement reading the open leads held in the tenant (by `assignee_ids` only, when given), with their
    response lock's deadline, as `open_leads_of` takes them.

    One statement with the lock's deadline joined, read as plain rows: a team can hold thousands of open leads, and
    the ORM's parsing of their two times each was most of the page's time."""
    where, params = _held(tenant_id, assignee_ids)
    sql = (f'SELECT {OPEN_LEAD_COLUMNS} FROM "leads" l '
           'LEFT JOIN "deadlines" d ON d."lead_id" = l."id" AND d."kind" = \'response_lock\' '
           f'AND d."state" <> \'cancelled\' AND l."status" = ? WHERE {where}')
    return sql, [str(Status.ASSIGNED), *params]


OPEN_LEAD_COLUMNS = ('l."id", l."company", l."contact_name", l."status", l."version", l."assignee_id", '
                     'l."priority", l."bounce_count", l."assigned_at", l."last_activity_at", d."due_at"')


def needs_of(tenant_id: int, assignee_ids: set[int] | None, now: datetime,
             stale_after: timedelta) -> tuple[str, list[Any]]:
    """The statement giving each open lead held in the tenant (by `assignee_ids` only, when given) the
    `attention.Need` that `attention.assess` finds at `now` as "need" (NULL: none), with its holder and what it is
    ranked by ("id", "assignee_id", "priority", "assigned_at", "last_activity_at").

    It reads only columns of the leads' index on (tenant, holder, status, ...) (`storage.models.Lead`), never the
    rows: a team at 200 000 leads holds tens of thousands, and reading their rows was most of the page's time. The
    response lock's deadline is read only for a lead that could be late by it: assigned less than 24 h ago."""
    need, params = _need_of(now, stale_after)
    where, more = _held(tenant_id, assignee_ids)
    sql = (f'SELECT l."id", l."assignee_id", l."priority", l."assigned_at", l."last_activity_at", {need} AS "need" '
           f'FROM "leads" l WHERE {where}')
    return sql, [*params, *more]


async def open_leads_of(tenant_id: int, rows: list[dict[str, Any]]) -> list[OpenLead]:
    """`held_leads`' rows as the leads `bot.board.attention` assesses, with their holders' names."""
    names = dict(await User.filter(tenant_id=tenant_id).values_list("id", "name")) if rows else {}
    return [OpenLead(
        id=r["id"], title=_title(r), status=_STATUS[r["status"]], version=r["version"], assignee_id=r["assignee_id"],
        assignee_name=names.get(r["assignee_id"], ""), priority=r["priority"], bounce_count=r["bounce_count"],
        assigned_at=_dt(r["assigned_at"]) if r["assigned_at"] else None,
        last_activity_at=_dt(r["last_activity_at"]) if r["last_activity_at"] else None,
        due_at=_dt(r["due_at"]) if r["due_at"] else None) for r in rows]


def db_time(at: datetime) -> Any:
    """A time as the leads' times are stored, to compare with them in SQL."""
    return _DB_TIME.to_db_value(at.astimezone(UTC), LeadRow)


def _need_of(now: datetime, stale_after: timedelta) -> tuple[str, list[Any]]:
    """`attention.assess` on a lead's row (`l`): its reason (`attention.Need`'s value, NULL for none), tried in the
    same order. Exact on both backends: SQLite keeps every time as UTC text (`storage.db`), which sorts as the
    instants do, and PostgreSQL compares timestamptz."""
    late = ('EXISTS (SELECT 1 FROM "deadlines" d WHERE d."lead_id" = l."id" AND d."kind" = \'response_lock\' '
            'AND d."state" <> \'cancelled\' AND d."due_at" <= ?)')
    need = (f'CASE WHEN l."status" = ? AND l."assigned_at" IS NOT NULL AND (l."assigned_at" <= ? OR {late}) '
            f'THEN {int(Need.OVERDUE)} WHEN l."bounce_count" >= ? THEN {int(Need.BOUNCING)} ')
    params: list[Any] = [str(Status.ASSIGNED), db_time(now - UNTOUCHED_AFTER), db_time(now), FLAG_AFTER_BOUNCES]
    if stale_after > timedelta(0):
        deal = sorted(str(s) for s in OPEN_DEAL)
        need += (f'WHEN l."status" IN ({", ".join("?" * len(deal))}) AND l."last_activity_at" <= ? '
                 f'THEN {int(Need.STALE)} ')
        params += [*deal, db_time(now - stale_after)]
    return need + "END", params


def _title(row: dict[str, Any]) -> str:
    return title_of(row["id"], row["company"] or "", row["contact_name"] or "")
