"""Writing webhook events and their deliveries inside the transaction of whatever made them happen.

A lead change reaches here through `bot.leads.store`'s change hook, in the transaction that stores the lead and its
audit events: the event and one delivery row per interested subscription commit with the change or not at all.
Other happenings (an escalation step, an alert nobody could be reached for) call `emit` inside their own transaction.

Per-lead order: each event of a lead takes the next number from the lead row's `webhook_seq`. Taking it is an
UPDATE of the lead row, so it waits for (and is ordered after) any other transaction changing the same lead:
numbers rise in commit order, and a dispatcher never sees a later event of a lead before an earlier one.

An event is recorded when any subscription of the tenant wants its type (so a disabled one can have it replayed
later); deliveries are created for the enabled ones only. A tenant without subscriptions pays one small query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from bot.leads import store as leadstore
from bot.runtime import tenant_cache
from bot.webhooks import wakeup as _wake
from bot.webhooks.payloads import (
    EventType,
    envelope,
    event_type_for,
    lead_change_data,
    lead_summary,
    new_event_id,
    wants,
)
from storage.db import numbered
from storage.models import Lead, WebhookDelivery, WebhookEvent, WebhookSubscription

SECRET_PURPOSE = "webhook.secret"


@dataclass(frozen=True, slots=True)
class _Sub:
    id: int
    enabled: bool
    event_types: tuple[str, ...]


# Parameterised: read in the transaction of every lead change (every card click), where the ORM's query builder cost
# more CPU than the database spent on it.
_SUBS_SQL = 'SELECT "id", "enabled", "event_types" FROM "webhook_subscriptions" WHERE "tenant_id" = ?'


async def _subscriptions(tenant_id: int) -> tuple[_Sub, ...]:
    memo = leadstore.transaction_memo()  # several changes in one transaction (intake) read them once
    key = ("webhook_subscriptions", tenant_id)
    if memo is not None and key in memo:
        return memo[key]
    # Within an API request, as kept under the tenant's version: whatever changes a subscription changes it.
    subs = await tenant_cache.kept(tenant_id, "webhook_subscriptions", lambda: _read_subscriptions(tenant_id))
    if memo is not None:
        memo[key] = subs
    return subs


async def _read_subscriptions(tenant_id: int) -> tuple[_Sub, ...]:
    _, rows = await connections.get("default").execute_query(numbered(_SUBS_SQL), [tenant_id])
    types = WebhookSubscription._meta.fields_map["event_types"]
    return tuple(_Sub(r["id"], bool(r["enabled"]), tuple(types.to_python_value(r["event_types"]) or ()))
                 for r in rows)


async def _take_seqs(lead_id: int, count: int) -> tuple[int, dict[str, Any]]:
    """Reserve `count` sequence numbers of a lead (row-locking it until commit): the first, and the lead's summary."""
    await Lead.filter(id=lead_id).update(webhook_seq=F("webhook_seq") + count)
    row = await Lead.filter(id=lead_id).first().values(
        "id", "external_id", "company", "status", "assignee_id", "version", "webhook_seq",
        assignee_name="assignee__name")
    if row is None:
        raise LookupError(f"lead {lead_id} not found")
    return int(row["webhook_seq"]) - count + 1, lead_summary(row, row["assignee_name"])


async def _insert(tenant_id: int, lead_id: int | None, seq: int | None, event_type: str, data: Mapping[str, Any],
                  subs: Sequence[_Sub], now: datetime) -> str:
    event_id = new_event_id()
    payload = envelope(event_id, event_type, now, tenant_id, lead_id, seq, data)
    event = await WebhookEvent.create(event_id=event_id, tenant_id=tenant_id, lead_id=lead_id, seq=seq,
                                      type=str(event_type), payload=payload)
    rows = [WebhookDelivery(event_id=event.id, subscription_id=s.id, tenant_id=tenant_id, lead_id=lead_id, seq=seq,
                            next_attempt_at=now, window_started_at=now)
            for s in subs if s.enabled and wants(s.event_types, event_type)]
    if rows:
        await WebhookDelivery.bulk_create(rows)
    return event_id


async def capture_lead_change(change: leadstore.StoredChange) -> None:
    """The change hook: one webhook event per audited change some subscription wants."""
    subs = await _subscriptions(change.tenant_id)
    if not subs:
        return
    typed = [(e, event_type_for(e)) for e in change.events]
    typed = [(e, t) for e, t in typed if any(wants(s.event_types, t) for s in subs)]
    if not typed:
        return
    first, lead = await _take_seqs(change.lead_id, len(typed))
    now = max(e.at for e, _ in typed)  # when the change was made, on the clock of whoever made it
    for offset, (event, event_type) in enumerate(typed):
        data = lead_change_data(event_type, event, lead)
        await _insert(change.tenant_id, change.lead_id, first + offset, event_type, data, subs, now)
    await _wake.notify_in_transaction()
    _recorded.set(True)


# Set by the change hook when it recorded an event, so a change no subscription wanted (most of them) does not send
# this process's dispatchers looking for deliveries that are not there.
_recorded: ContextVar[bool] = ContextVar("webhook_event_recorded", default=False)


def wake_after_commit(change: leadstore.StoredChange) -> None:
    if _recorded.get():
        _recorded.set(False)
        _wake.wake_local()


async def emit(tenant_id: int, event_type: str, data: Mapping[str, Any], *, now: datetime,
               lead_id: int | None = None) -> str | None:
    """Record an event that is not a lead change (`lead.escalated`, `alert.delivery_failed`, …).

    Call it inside the transaction that records the happening, so both commit or neither does; it takes the
    lead's next sequence number when `lead_id` is given, and adds the lead's summary to `data` as `lead`. Returns
    the event id, or None when no subscription of the tenant wants `event_type`. After the commit, `wake()` lets
    this process's dispatchers send it at once (otherwise the next poll, within a second, finds it).
    """
    async with in_transaction():
        subs = await _subscriptions(tenant_id)
        if not any(wants(s.event_types, event_type) for s in subs):
            return None
        seq = None
        if lead_id is not None:
            seq, lead = await _take_seqs(lead_id, 1)
            data = {"lead": lead, **data}
        event_id = await _insert(tenant_id, lead_id, seq, event_type, data, subs, now)
        await _wake.notify_in_transaction()
    return event_id


def wake() -> None:
    """Wake this process's dispatchers (after committing an `emit`)."""
    _wake.wake_local()


async def test_delivery(subscription: WebhookSubscription, claim_s: float, now: datetime) -> int:
    """A `webhook.test` event for one subscription (enabled or not), already claimed by the caller, who sends it
    at once (a running dispatcher must not take it); returns the delivery's id."""
    event_id = new_event_id()
    data = {"subscription_id": subscription.id, "message": "leadbot webhook test"}
    async with in_transaction():
        event = await WebhookEvent.create(
            event_id=event_id, tenant_id=subscription.tenant_id, type=str(EventType.TEST),
            payload=envelope(event_id, EventType.TEST, now, subscription.tenant_id, None, None, data))
        delivery = await WebhookDelivery.create(event=event, subscription_id=subscription.id,
                                                tenant_id=subscription.tenant_id, next_attempt_at=now,
                                                window_started_at=now, attempts=1,
                                                claimed_until=now + timedelta(seconds=claim_s))
    return delivery.id
