"""Carrying out one delivery: find what is ready, claim it, send it signed, record the attempt and what comes next.

Ready means pending, due, not claimed by a live dispatcher, for an enabled subscription, and — when it belongs to a
lead — no earlier event of that lead still pending for the same subscription. Dead events do not hold the line: by
the time one is parked (24 h of failures), its lead's later events have waited long enough.

A claim is a conditional UPDATE, so two dispatchers never send the same delivery at the same time; a dispatcher
that dies mid-send leaves a claim that lapses after `CLAIM_S`, and the delivery is sent again (at least once: the
receiver de-duplicates on the event id).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from tortoise import connections
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from bot.leads import store as leadstore
from bot.runtime import tenant_cache
from bot.runtime.clock import Clock
from bot.webhooks import metrics
from bot.webhooks.payloads import body_bytes
from bot.webhooks.record import SECRET_PURPOSE
from bot.webhooks.retry import RetryPolicy
from bot.webhooks.sender import REQUEST_TIMEOUT_S, Answer, Sender
from bot.webhooks.signing import request_headers
from storage.models import DeliveryState, Role, User, WebhookAttempt, WebhookDelivery, WebhookEvent
from storage.models import WebhookSubscription as Subscription
from storage.secrets import SecretBox

log = logging.getLogger(__name__)

# Longer than a whole send (redirects included) can take, so a live sender never loses its claim.
CLAIM_S = REQUEST_TIMEOUT_S + 5
FAILING_LIMIT = timedelta(days=1)
_SUCCESS_TOUCH = timedelta(seconds=60)

# Portable SQL: `{now}` is the one parameter (numbered, so it can be used twice), `{limit}` an int.
_READY_SQL = """
SELECT d.id FROM webhook_deliveries d
JOIN webhook_subscriptions s ON s.id = d.subscription_id
WHERE d.state = 'pending' AND s.enabled AND d.next_attempt_at <= {now}
  AND (d.claimed_until IS NULL OR d.claimed_until < {now})
  AND (d.lead_id IS NULL OR NOT EXISTS (
      SELECT 1 FROM webhook_deliveries e
      WHERE e.subscription_id = d.subscription_id AND e.lead_id = d.lead_id
        AND e.state = 'pending' AND e.seq < d.seq))
ORDER BY d.next_attempt_at, d.id
LIMIT {limit}
"""


def host_of(url: str) -> str:
    """What a log line may show of a subscription URL (its path or query may hold a receiver's token)."""
    return urlsplit(url).hostname or "?"


async def ready_ids(limit: int, now: datetime) -> list[int]:
    conn = connections.get("default")
    placeholder = "$1" if conn.capabilities.dialect == "postgres" else "?1"
    sql = _READY_SQL.format(now=placeholder, limit=int(limit))
    rows = await conn.execute_query_dict(sql, [now])
    return [int(r["id"]) for r in rows]


async def claim(delivery_ids: Sequence[int], now: datetime, claim_s: float = CLAIM_S) -> list[WebhookDelivery]:
    """Claim those of `delivery_ids` still claimable at `now`, in one UPDATE; returns them with their event and
    subscription loaded, in the order given."""
    if not delivery_ids:
        return []
    token = uuid.uuid4().hex
    claimed = await WebhookDelivery.filter(
        Q(id__in=list(delivery_ids), state=DeliveryState.PENDING, next_attempt_at__lte=now)
        & (Q(claimed_until=None) | Q(claimed_until__lt=now))
    ).update(claimed_until=now + timedelta(seconds=claim_s), claim_token=token, attempts=F("attempts") + 1)
    if not claimed:
        return []
    rows = await WebhookDelivery.filter(id__in=list(delivery_ids), claim_token=token).select_related(
        "event", "subscription")
    order = {d: i for i, d in enumerate(delivery_ids)}
    return sorted(rows, key=lambda r: order[r.id])


class SecretCache:
    """Opened signing secrets by subscription, so a busy subscription is not decrypted for every event. Keyed by
    the sealed text too: a rotated secret is a new key."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box
        self._open: dict[tuple[int, str], str] = {}

    def secret(self, sub: Subscription) -> str:
        key = (sub.id, sub.secret_sealed)
        if key not in self._open:
            if len(self._open) > 1000:
                self._open.clear()
            self._open[key] = self._box.open(sub.secret_sealed, SECRET_PURPOSE)
        return self._open[key]


async def attempt(secrets: SecretCache, sender: Sender, delivery: WebhookDelivery, policy: RetryPolicy, *,
                  clock: Clock, retry: bool = True, redis: Any = None) -> Answer:
    """Send a claimed delivery (its event and subscription loaded) once and record what happened; `retry=False`
    (a test ping) parks a failure at once and leaves the subscription's health alone. `redis`: where a subscription
    this disabled is told to the processes keeping its tenant's subscriptions (`bot.runtime.tenant_cache`)."""
    event, sub = delivery.event, delivery.subscription
    body = body_bytes(event.payload)
    headers = request_headers(secrets.secret(sub), int(clock.time()), body, event_id=event.event_id,
                              event_type=event.type, attempt=delivery.attempts)
    answer = await sender.post(sub.url, body, headers)
    metrics.ATTEMPTS.labels(answer.outcome).inc()
    log.debug("webhook %s %s to subscription %d (%s) attempt %d: %s %s %.0fms", event.type, event.event_id, sub.id,
              host_of(sub.url), delivery.attempts, answer.outcome, answer.status or "-", answer.latency_ms)
    disabled = await _record(delivery, event, sub, answer, policy, retry, clock.now())  # after the answer came
    if disabled and redis is not None:  # committed
        await tenant_cache.changed(redis, sub.tenant_id)
    return answer


async def _record(delivery: WebhookDelivery, event: WebhookEvent, sub: Subscription, answer: Answer,
                  policy: RetryPolicy, retry: bool, now: datetime) -> bool:
    """Store the attempt's outcome; True when it disabled the subscription."""
    async with in_transaction():
        await WebhookAttempt.create(
            delivery_id=delivery.id, tenant_id=delivery.tenant_id, subscription_id=sub.id, event_id=event.event_id,
            event_type=event.type, url=sub.url, attempt=delivery.attempts, status_code=answer.status,
            outcome=answer.outcome, latency_ms=round(answer.latency_ms, 3), error=answer.error,
            response_excerpt=answer.excerpt)
        if answer.ok:
            await _delivered(delivery, event, sub, answer, now)
            return False
        return await _failed(delivery, event, sub, answer, policy, retry, now)


async def _delivered(delivery: WebhookDelivery, event: WebhookEvent, sub: Subscription, answer: Answer,
                     now: datetime) -> None:
    await WebhookDelivery.filter(id=delivery.id).update(
        state=DeliveryState.DELIVERED, delivered_at=now, claimed_until=None, claim_token=None,
        last_status=answer.status, last_error=None)
    # Touch the subscription only when its health changes or its last success is old: one write less per event.
    if sub.failing_since is not None or sub.last_success_at is None or now - sub.last_success_at > _SUCCESS_TOUCH:
        await Subscription.filter(id=sub.id).update(failing_since=None, last_success_at=now)
    metrics.DELIVERIES.labels("delivered").inc()
    metrics.COMMIT_TO_DELIVERY.observe(max(0.0, (now - event.created_at).total_seconds()))


async def _failed(delivery: WebhookDelivery, event: WebhookEvent, sub: Subscription, answer: Answer,
                  policy: RetryPolicy, retry: bool, now: datetime) -> bool:
    next_at = policy.next_attempt_at(delivery.attempts, delivery.window_started_at, now) if retry else None
    changes: dict[str, Any] = {"claimed_until": None, "claim_token": None, "last_status": answer.status,
               "last_error": answer.error or answer.outcome}
    if next_at is None:
        changes["state"] = DeliveryState.DEAD
        metrics.DELIVERIES.labels("dead").inc()
        log.warning("webhook event %s to subscription %d (%s) is dead after %d attempt(s): %s", event.event_id,
                    sub.id, host_of(sub.url), delivery.attempts, answer.error or answer.outcome)
    else:
        changes["next_attempt_at"] = next_at
        if delivery.lead_id is not None:
            # The lead's later events wait for this one anyway: move them out of the way of the ready query.
            await WebhookDelivery.filter(
                subscription_id=sub.id, lead_id=delivery.lead_id, state=DeliveryState.PENDING,
                seq__gt=delivery.seq, next_attempt_at__lt=next_at).update(next_attempt_at=next_at)
    await WebhookDelivery.filter(id=delivery.id).update(**changes)
    if not retry:
        return False
    failing_since = sub.failing_since or now
    if sub.failing_since is None:
        await Subscription.filter(id=sub.id, failing_since=None).update(failing_since=now)
    if sub.enabled and now - failing_since >= FAILING_LIMIT:
        return await disable_failing(sub, now)
    return False


async def disable_failing(sub: Subscription, now: datetime) -> bool:
    """Disable a subscription that has failed for a day and tell its tenant's admins (inside the caller's
    transaction, if any). False when it was no longer enabled."""
    changed = await Subscription.filter(id=sub.id, enabled=True).update(
        enabled=False, disabled_reason="failing for more than 24 hours", updated_at=now)
    if not changed:
        return False
    recipients = await _admins(sub.tenant_id)
    text = (f"Webhook {sub.id}（{host_of(sub.url)}）连续失败超过 24 小时，已停用。修复接收端后执行 "
            f"`leadbot webhooks enable {sub.id}`，再用 `leadbot webhooks redeliver` 补发未送达的事件。")
    await leadstore.outbox_rows(sub.tenant_id, None, [
        ("notify", {"lead_id": None, "user_id": user_id, "kind": "webhook_disabled", "text": text,
                    "at": now.isoformat(), "subscription_id": sub.id})
        for user_id in recipients
    ], now=now)
    log.warning("webhook subscription %d (%s) disabled after failing for a day; %d admin(s) told", sub.id,
                host_of(sub.url), len(recipients))
    return True


async def _admins(tenant_id: int) -> list[int]:
    """Who hears about a disabled subscription: the tenant's admins, or its managers when it has no admin."""
    for role in (Role.ADMIN, Role.MANAGER):
        ids = await User.filter(tenant_id=tenant_id, role=role, active=True).order_by("id").values_list(
            "id", flat=True)
        if ids:
            return [int(i) for i in ids]  # type: ignore[call-overload]
    return []


async def backlog(now: datetime) -> tuple[int, float]:
    """Pending deliveries of enabled subscriptions, and the age in seconds of the oldest one at `now`."""
    pending = WebhookDelivery.filter(state=DeliveryState.PENDING, subscription__enabled=True)
    depth = await pending.count()
    oldest: datetime | None = await pending.order_by("created_at").first().values_list(  # type: ignore[assignment]
        "created_at", flat=True)
    age = (now - oldest).total_seconds() if oldest else 0.0
    return depth, max(0.0, age)
