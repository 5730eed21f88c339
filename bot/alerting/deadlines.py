"""Response locks in the database: armed, cancelled, and escalated one step per run; and the stale-deal check.

The `Deadline` row is the truth; Redis only holds a deferred job for the row's next step (`bot.jobs.timers`),
re-armed from the row whenever Redis may have lost it. Every write is fenced:
- arming and cancelling carry the lead version that caused them (`fence`), and a row only ever moves to a higher
  fence, so follow-ups carried out late or out of order (the outbox sweeper) never resurrect a cancelled lock or
  undo a newer one;
- a step run carries (fence, step) and claims its step with one conditional update in the transaction that also
  writes the step's follow-ups: a stale or duplicate run (a re-armed job that already ran, the job of a replaced
  lock) changes nothing, and a claimed step is never lost.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot import webhooks
from bot.admin.tenant_settings import TenantSettings
from bot.alerting import alerts
from bot.alerting.ladder import (
    OPEN_DEAL,
    AlertSpec,
    Handover,
    Plan,
    StepEffect,
    Timer,
    alert_timer,
    deadline_timer,
    is_moot,
    plan_ladder,
    run_at,
    stale_alert,
    step_effects,
)
from bot.leads import service as leadservice
from bot.leads import store as leadstore
from bot.leads.actions import Cause, ReleaseToPool
from bot.leads.types import Actor, EventSource, Status
from bot.runtime import metrics, outbox
from bot.runtime.services import Services
from bot.webhooks import EventType
from storage import db
from storage.models import Alert, Deadline, Outbox, Role, Tenant, User
from storage.models import Lead as LeadRow

log = logging.getLogger(__name__)

KIND = "response_lock"


class DeadlineState(enum.StrEnum):
    PENDING = "pending"  # steps left to run; next_at is the next one's time
    DONE = "done"  # every step ran
    CANCELLED = "cancelled"  # the lead left 已分配 (contacted, claimed, closed...)
    MOOT = "moot"  # a step found the lock no longer standing before the cancel arrived


def _dt(value: str | datetime) -> datetime:
    dt = datetime.fromisoformat(value) if isinstance(value, str) else value
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


# --- arming and cancelling ------------------------------------------------------------------------------------


async def arm_lock(tenant_id: int, payload: Mapping[str, Any]) -> list[Timer]:
    """The `arm_lock` follow-up: (re)start the lead's lock, due `minutes` of working time after the change
    (`at`, not now: the follow-up may run late), with the tenant's ladder frozen onto it."""
    known = outbox.known()  # the tenant as the change writing this read it (intake), else read now
    tenant = (known.tenants.get(tenant_id) if known else None) or await Tenant.get(id=tenant_id)
    settings = TenantSettings.of_row(tenant)
    calendar = settings.calendar_for(tenant.timezone)
    due = calendar.add(_dt(payload["at"]), timedelta(minutes=int(payload["minutes"])))
    lead_id, fence, assignee_id = int(payload["lead_id"]), int(payload["fence"]), int(payload["assignee_id"])
    lead = known.lead(lead_id, fence) if known else None  # the lead as the change arming this stores it
    manager_id = lead.assignee_manager_id if lead is not None and lead.assignee_id == assignee_id else None
    plan = plan_ladder(settings.escalation.to_value(), lead_id=lead_id, assignee_id=assignee_id,
                       manager_id=manager_id or await _escalates_to(tenant_id, assignee_id), due_at=due,
                       calendar=calendar)
    first = run_at(plan, 0)
    values = {"tenant_id": tenant_id, "due_at": due, "fence": fence, "step": 0, "plan": plan.to_json(),
              "state": DeadlineState.PENDING, "next_at": first, "history": []}
    written = await _upsert(lead_id, fence, values, _dt(payload["at"]))
    if written is not None and (memo := leadstore.transaction_memo()) is not None:
        memo[(KIND, lead_id)] = due  # for the intake answering with the lead's deadline, not to read it back
    if written is not None and first is not None:
        return [deadline_timer(written, fence, 0, first)]  # the row is `values`, as just written
    # Not written: a change with this fence (this follow-up run again: the row is written with the change, its
    # outbox row completes it) or a newer one holds the deadline.
    row = await Deadline.get_or_none(lead_id=lead_id, kind=KIND)
    if row is None or row.fence != fence or row.state != DeadlineState.PENDING or row.next_at is None:
        log.info("lead %d: lock of version %d not armed, a newer change holds the deadline", lead_id, fence)
        return []
    # Arming again after a crash between the write and the enqueue is fine: the job id is deterministic.
    return [deadline_timer(row.id, row.fence, row.step, row.next_at)]


async def _escalates_to(tenant_id: int, assignee_id: int) -> int | None:
    """The rep's manager; for a rep without one, the tenant's first admin, so a breach is never heard by nobody."""
    manager_id = await User.filter(id=assignee_id).first().values_list("manager_id", flat=True)
    if manager_id is not None:
        return manager_id
    admin = await User.filter(tenant_id=tenant_id, role=Role.ADMIN, active=True).order_by("id").first()
    return admin.id if admin is not None else None


_UPSERT_COLUMNS = ("tenant_id", "due_at", "fence", "step", "plan", "state", "next_at", "history")


def _upsert_sql(postgres: bool) -> str:
    columns = ("created_at", "updated_at", "lead_id", "kind", *_UPSERT_COLUMNS)
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join(f"${i}" if postgres else "?" for i in range(1, len(columns) + 1))
    sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in _UPSERT_COLUMNS)
    return (f'INSERT INTO "deadlines" ({names}) VALUES ({marks}) ON CONFLICT ("lead_id", "kind") DO UPDATE SET '
            f'{sets} WHERE "deadlines"."fence" < EXCLUDED."fence" RETURNING "id"')


async def _upsert(lead_id: int, fence: int, values: dict[str, Any], at: datetime) -> int | None:
    """Write `values` unless the lead's deadline already carries `fence` or a higher one; the row's id when written.

    One statement, insert or fenced update (it ran as update, exists, then an insert in a savepoint: five round
    trips inside every routed intake's transaction). A concurrent insert of the same lead is settled by the unique
    index the same way: the higher fence wins. `at` stamps a new row (the change's instant)."""
    conn = connections.get("default")
    fields = Deadline._meta.fields_map
    params = [fields["created_at"].to_db_value(at, None), fields["updated_at"].to_db_value(at, None), lead_id, KIND,
              *(fields[c].to_db_value(values[c], None) for c in _UPSERT_COLUMNS)]
    # RETURNING hands back the row only when it was inserted or updated (not when the fence kept it).
    written = await conn.execute_query_dict(_upsert_sql(conn.capabilities.dialect == "postgres"), params)
    return written[0]["id"] if written else None


# The cancel of a pending lock, parameterised (`storage.db`): it runs in the transaction of every change that takes a
# lead out of 已分配 (a rep's first click), and the ORM's query builder cost more CPU than the database spent on it.
_CANCEL_SQL = (f'UPDATE "deadlines" SET "state" = \'{DeadlineState.CANCELLED}\', "fence" = ?, "next_at" = NULL '
               f'WHERE "lead_id" = ? AND "kind" = ? AND "fence" < ? AND "state" = \'{DeadlineState.PENDING}\'')


async def cancel_lock(tenant_id: int, payload: Mapping[str, Any]) -> bool:
    """The `cancel_lock` follow-up: the lead left 已分配, so its pending lock must do nothing. True once that holds
    (the lock cancelled, its fence raised, or a tombstone left)."""
    lead_id, fence = int(payload["lead_id"]), int(payload["fence"])
    for _ in range(2):
        if await db.changed(_CANCEL_SQL, [fence, lead_id, KIND, fence]):
            await _observe_contact(lead_id, fence)
            return True
        # Not pending: still raise the fence, so an arm of an older version arriving late stays refused.
        if await Deadline.filter(lead_id=lead_id, kind=KIND, fence__lt=fence).update(fence=fence):
            return True
        if await Deadline.exists(lead_id=lead_id, kind=KIND):
            return True
        try:  # the arm has not been carried out yet: leave a tombstone it cannot overwrite
            async with in_transaction():
                await Deadline.create(lead_id=lead_id, kind=KIND, tenant_id=tenant_id, due_at=_cancelled_at(payload),
                                      fence=fence, state=DeadlineState.CANCELLED)
            return True
        except IntegrityError:
            continue
    return False


def _cancelled_at(payload: Mapping[str, Any]) -> datetime:
    """When the lead left 已分配 (rows queued before the instant was carried have none: the epoch, a tombstone's
    due time is never read)."""
    at = payload.get("at")
    return datetime.fromisoformat(at) if at else datetime.fromtimestamp(0, UTC)


async def _observe_contact(lead_id: int, fence: int) -> None:
    # The lead as the change cancelling the lock stores it (its version is the fence), when this runs in that
    # change's transaction: not read back.
    row: Any = leadstore.being_saved(lead_id, fence) or await LeadRow.get_or_none(id=lead_id)
    if row is not None and row.contacted_at is not None and row.assigned_at is not None:
        seconds = (row.contacted_at - row.assigned_at).total_seconds()
        if seconds >= 0:
            metrics.TIME_TO_CONTACT.observe(seconds)


# --- running a step -------------------------------------------------------------------------------------------


async def run_step(services: Services, deadline_id: int, fence: int, step: int, *,
                   now: datetime | None = None) -> list[Timer]:
    """Run step `step` of the lock armed at `fence`, once. Returns the timers to arm after the commit: the first
    attempt of each alert the step raised, and the next step (if any)."""
    now = now or services.clock.now()  # when the timer fired, before any database work of the step
    # One query for the row, its lead, the lead's rep and tenant: a fire is on the hot path of every lock.
    row = await Deadline.filter(id=deadline_id).select_related("lead__assignee", "lead__tenant").first()
    if row is None or (row.fence, row.step, row.state) != (fence, step, DeadlineState.PENDING):
        log.info("deadline %d step %d (fence %d): stale or already run, nothing to do", deadline_id, step, fence)
        return []
    plan = Plan.from_json(row.plan)
    lead = leadstore.to_snapshot(row.lead, row.lead.assignee)
    if is_moot(lead, plan):
        await Deadline.filter(id=row.id, fence=fence, step=step, state=DeadlineState.PENDING).update(
            state=DeadlineState.MOOT, next_at=None)
        log.info("deadline %d: lead %d no longer waits for its rep, step %d skipped", row.id, row.lead_id, step)
        return []
    tenant = row.lead.tenant
    effects = step_effects(plan, step, deadline_id=row.id, fence=fence, lead=lead, tz=ZoneInfo(tenant.timezone))
    planned = plan.steps[step]
    nxt = run_at(plan, step + 1)
    entry = {"step": step, "action": str(planned.action), "due": planned.at.isoformat(), "at": now.isoformat()}
    async with in_transaction():
        claimed = await Deadline.filter(id=row.id, fence=fence, step=step, state=DeadlineState.PENDING).update(
            step=step + 1, next_at=nxt, state=DeadlineState.PENDING if nxt else DeadlineState.DONE,
            history=[*(row.history or []), entry])
        if not claimed:
            return []
        # Alerts are written with the claim (the claim makes their keys unique); a handover goes through the
        # outbox because it is a lead change with its own transaction.
        later = await _write_effects(tenant, row, effects, now)
        # The customer's CRM hears of each step in the same transaction that claims it: once, or not at all.
        await webhooks.emit(row.tenant_id, EventType.LEAD_ESCALATED, {**entry, "deadline_id": row.id},
                            now=now, lead_id=row.lead_id)
    webhooks.wake()
    metrics.ESCALATIONS.labels(str(planned.action)).inc()
    metrics.TIMER_LATENESS.observe(max(0.0, (now - planned.at).total_seconds()))
    log.info("deadline %d: step %d (%s) of lead %d ran", row.id, step, planned.action, row.lead_id)
    timers = [alert_timer(a.id, 0, now) for a in later if isinstance(a, Alert)]
    await outbox.run(services, [o.id for o in later if isinstance(o, Outbox)])
    return timers + ([deadline_timer(row.id, fence, step + 1, nxt)] if nxt else [])


async def _write_effects(tenant: Tenant, row: Deadline, effects: tuple[StepEffect, ...],
                         now: datetime) -> list[Alert | Outbox]:
    settings = TenantSettings.of(tenant.settings)
    written: list[Alert | Outbox] = []
    for effect in effects:
        if isinstance(effect, AlertSpec):
            alert = await alerts.create_alert(tenant, settings, effect, now)
            if alert is not None:
                written.append(alert)
        else:
            payload = {"lead_id": effect.lead_id, "from_assignee_id": effect.from_assignee_id,
                       "to_pool": effect.to_pool}
            written.append(await Outbox.create(tenant_id=row.tenant_id, lead_id=row.lead_id, kind="escalate",
                                               payload=payload, created_at=now))
    return written


async def hand_over(services: Services, tenant_id: int, payload: Mapping[str, Any]) -> None:
    """The ladder's last step: reassign by the routing rules (or back to the pool), through the workflow, which
    tells the rep it went away from, sends the new rep the card, arms their lock, and flags a repeat bouncer."""
    handover = Handover(int(payload["lead_id"]), int(payload["from_assignee_id"]), bool(payload["to_pool"]))
    lead = await leadstore.load(handover.lead_id, tenant_id)
    if lead.status is not Status.ASSIGNED or lead.assignee_id != handover.from_assignee_id:
        return  # already moved (a rerun, or the rep acted at the last moment)
    if handover.to_pool:
        await leadservice.act(services, lead.id, ReleaseToPool(Cause.ESCALATION), Actor.system(tenant_id),
                              source=EventSource.SYSTEM, inline=True)
    else:
        await leadservice.route_lead(services, lead.id, tenant_id, cause=Cause.ESCALATION, inline=True)


# --- re-arming --------------------------------------------------------------------------------------------------


async def pending_timers(page: int = 5000) -> AsyncIterator[list[Timer]]:
    """Every pending deadline's next timer, a page at a time (re-arming after Redis lost its jobs)."""
    last = 0
    while True:
        rows = await Deadline.filter(state=DeadlineState.PENDING, id__gt=last).order_by("id").limit(page).values(
            "id", "fence", "step", "next_at")
        if not rows:
            return
        yield [deadline_timer(r["id"], r["fence"], r["step"], _dt(r["next_at"])) for r in rows if r["next_at"]]
        last = rows[-1]["id"]


async def overdue_timers(before: datetime, limit: int = 1000) -> list[Timer]:
    rows = await Deadline.filter(state=DeadlineState.PENDING, next_at__lt=before).order_by("next_at").limit(
        limit).values("id", "fence", "step", "next_at")
    return [deadline_timer(r["id"], r["fence"], r["step"], _dt(r["next_at"])) for r in rows]


# --- stale deals --------------------------------------------------------------------------------------------------


async def check_stale_deals(now: datetime, *, limit: int = 500) -> list[Timer]:
    """Alert the manager of every open deal silent for the tenant's limit; only in the tenant's working time."""
    timers: list[Timer] = []
    for tenant in await Tenant.filter(active=True).order_by("id"):
        settings = TenantSettings.of(tenant.settings)
        rule = settings.escalation.to_value()
        if not rule.stale_after_hours or settings.calendar_for(tenant.timezone).next_working_start(now) != now:
            continue
        cutoff = now - timedelta(hours=rule.stale_after_hours)
        rows = await LeadRow.filter(tenant_id=tenant.id, status__in=[str(s) for s in OPEN_DEAL],
                                    last_activity_at__lt=cutoff).order_by("last_activity_at").limit(limit)
        people = {u.id: u for u in await User.filter(id__in={r.assignee_id for r in rows if r.assignee_id})}
        specs = [stale_alert(leadstore.to_snapshot(r, people.get(r.assignee_id)),
                             getattr(people.get(r.assignee_id), "manager_id", None), r.last_activity_at, now, rule)
                 for r in rows]
        wanted = {s.dedup_key: s for s in specs if s is not None}
        raised = set(await Alert.filter(dedup_key__in=list(wanted)).values_list("dedup_key", flat=True))
        for key, spec in wanted.items():
            if key not in raised:
                timers += await alerts.raise_alert(tenant.id, spec, now=now)
    return timers
