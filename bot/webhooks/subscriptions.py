"""Managing a tenant's subscriptions: add, change, enable/disable, rotate the secret, test, list, redeliver.

The admin API and the CLI both call these, so the rules live in one place: a URL must pass the address rule
(after DNS) when it is saved, the signing secret is generated here, returned once and stored only sealed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from bot.errors import InvalidField, NotFound
from bot.runtime import quotas
from bot.runtime.clock import Clock
from bot.runtime.config import Settings
from bot.runtime.urlguard import UnsafeUrl, check_resolved
from bot.webhooks import delivery, record
from bot.webhooks.payloads import wants
from bot.webhooks.retry import DEFAULT
from bot.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    RedeliverIn,
    SubscriptionIn,
    SubscriptionPatch,
    TestOut,
)
from bot.webhooks.sender import Sender
from bot.webhooks.signing import new_secret
from storage.models import DeliveryState, Tenant, WebhookAttempt, WebhookDelivery, WebhookEvent
from storage.models import WebhookSubscription as Subscription
from storage.secrets import SecretBox

_CHUNK = 500


async def check_url(settings: Settings, url: str) -> None:
    try:
        await check_resolved(url, settings.allow_private_urls)
    except UnsafeUrl as e:
        raise InvalidField("url", str(e)) from None


async def create(box: SecretBox, settings: Settings, tenant_id: int, data: SubscriptionIn) -> tuple[Subscription, str]:
    """A new subscription and its signing secret (the only time the secret is available in clear)."""
    if not await Tenant.exists(id=tenant_id):
        raise NotFound(f"tenant {tenant_id} not found")
    # Each subscription multiplies every event into one more outbound request: a bounded number per tenant.
    quotas.check_count("webhook_subscriptions", await Subscription.filter(tenant_id=tenant_id).count(),
                       settings.webhooks_per_tenant, "webhook subscriptions (LEADBOT_WEBHOOKS_PER_TENANT)")
    await check_url(settings, data.url)
    secret = new_secret()
    sub = await Subscription.create(tenant_id=tenant_id, url=data.url, event_types=data.event_types,
                                    description=data.description, enabled=data.enabled,
                                    secret_sealed=box.seal(secret, record.SECRET_PURPOSE))
    return sub, secret


async def get(subscription_id: int, tenant_id: int | None = None) -> Subscription:
    """A subscription, scoped to `tenant_id` when given (another tenant's is not found)."""
    filters: dict[str, Any] = {"id": subscription_id}
    if tenant_id is not None:
        filters["tenant_id"] = tenant_id
    sub = await Subscription.get_or_none(**filters)
    if sub is None:
        raise NotFound(f"webhook subscription {subscription_id} not found")
    return sub


async def update(settings: Settings, sub: Subscription, patch: SubscriptionPatch) -> Subscription:
    changes = patch.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in changes:
        await check_url(settings, changes["url"])
    await sub.update_from_dict(changes).save()
    return sub


async def set_enabled(sub: Subscription, enabled: bool, now: datetime) -> Subscription:
    """Enabling restarts the retry window of what is still pending: the receiver has been fixed, give it a day."""
    async with in_transaction():
        if enabled and not sub.enabled:
            await WebhookDelivery.filter(subscription_id=sub.id, state=DeliveryState.PENDING).update(
                next_attempt_at=now, window_started_at=now)
        sub.enabled = enabled
        sub.disabled_reason = None if enabled else "disabled by an admin"
        if enabled:
            sub.failing_since = None
        await sub.save(update_fields=["enabled", "disabled_reason", "failing_since", "updated_at"])
    if enabled:
        record.wake()
    return sub


async def rotate_secret(box: SecretBox, sub: Subscription) -> str:
    secret = new_secret()
    sub.secret_sealed = box.seal(secret, record.SECRET_PURPOSE)
    await sub.save(update_fields=["secret_sealed", "updated_at"])
    return secret


async def send_test(box: SecretBox, settings: Settings, sub: Subscription, clock: Clock,
                    sender: Sender | None = None) -> TestOut:
    """Send a `webhook.test` event now and say how the receiver answered (not retried, not counted as failing)."""
    delivery_id = await record.test_delivery(sub, delivery.CLAIM_S, clock.now())
    row = await WebhookDelivery.get(id=delivery_id).select_related("event", "subscription")
    own = sender is None
    sender = sender or Sender(allow_private=settings.allow_private_urls)
    try:
        answer = await delivery.attempt(delivery.SecretCache(box), sender, row, DEFAULT, clock=clock, retry=False)
    finally:
        if own:
            await sender.close()
    return TestOut(ok=answer.ok, event_id=row.event.event_id, outcome=answer.outcome, status_code=answer.status,
                   latency_ms=round(answer.latency_ms, 1), error=answer.error, response_excerpt=answer.excerpt)


async def attempts(sub: Subscription, *, limit: int = 100, before_id: int | None = None) -> list[AttemptOut]:
    qs = WebhookAttempt.filter(subscription_id=sub.id)
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    return [AttemptOut.model_validate(r) for r in await qs.order_by("-id").limit(limit)]


async def deliveries(sub: Subscription, *, state: DeliveryState | None = None, limit: int = 100,
                     before_id: int | None = None) -> list[DeliveryOut]:
    qs = WebhookDelivery.filter(subscription_id=sub.id)
    if state is not None:
        qs = qs.filter(state=state)
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    rows = await qs.order_by("-id").limit(limit).values(
        "id", "lead_id", "seq", "state", "attempts", "next_attempt_at", "delivered_at", "last_status", "last_error",
        "created_at", event_id="event__event_id", event_type="event__type")
    return [DeliveryOut.model_validate(r) for r in rows]


async def _events(sub: Subscription, data: RedeliverIn, now: datetime) -> AsyncIterator[list[WebhookEvent]]:
    if data.event_id is not None:
        event = await WebhookEvent.get_or_none(event_id=data.event_id, tenant_id=sub.tenant_id)
        if event is None:
            raise NotFound(f"event {data.event_id} not found")
        yield [event]
        return
    until = data.until or now
    after_id = 0
    while True:
        chunk = await WebhookEvent.filter(tenant_id=sub.tenant_id, created_at__gte=data.since, created_at__lt=until,
                                          id__gt=after_id).order_by("id").limit(_CHUNK)
        if not chunk:
            return
        after_id = chunk[-1].id
        yield [e for e in chunk if wants(sub.event_types, e.type)]


async def take_replays(redis: Any, settings: Settings, clock: Clock, sub: Subscription, events: int) -> None:
    """Count replayed events (redeliveries, test sends) against the tenant's hourly budget: each is an outbound
    request on demand, so an admin must not be able to aim the service at a receiver as an amplifier.
    `QuotaExceeded` when the budget is spent."""
    await quotas.take(redis, "webhook_replays", str(sub.tenant_id), amount=events,
                      limit=settings.webhook_replays_per_hour, length_s=3600,
                      what="webhook events replayed by this tenant (LEADBOT_WEBHOOK_REPLAYS_PER_HOUR)",
                      now=clock.time())


async def replay_size(sub: Subscription, data: RedeliverIn, now: datetime) -> int:
    """At most how many events `redeliver` would queue (what a replay quota counts before it starts)."""
    if data.event_id is not None:
        return 1
    return await WebhookEvent.filter(tenant_id=sub.tenant_id, created_at__gte=data.since,
                                     created_at__lt=data.until or now).count()


async def redeliver(sub: Subscription, data: RedeliverIn, now: datetime) -> int:
    """Queue events to this subscription again; returns how many were queued.

    A delivered or dead delivery becomes pending with a fresh retry window; an event the subscription never got
    (it was disabled then) gets a delivery now; one still pending is left as it is. Per-lead order holds among
    what is queued: a replayed older event of a lead goes before that lead's newer pending ones.
    """
    queued = 0
    async for events in _events(sub, data, now):
        if not events:
            continue
        existing = {d.event_id: d for d in await WebhookDelivery.filter(
            subscription_id=sub.id, event_id__in=[e.id for e in events])}
        again = [d.id for d in existing.values()
                 if d.state != DeliveryState.PENDING and (not data.only_dead or d.state == DeliveryState.DEAD)]
        new = [] if data.only_dead else [
            WebhookDelivery(event_id=e.id, subscription_id=sub.id, tenant_id=sub.tenant_id, lead_id=e.lead_id,
                            seq=e.seq, next_attempt_at=now, window_started_at=now)
            for e in events if e.id not in existing]
        async with in_transaction():
            if again:
                await WebhookDelivery.filter(id__in=again).update(
                    state=DeliveryState.PENDING, next_attempt_at=now, window_started_at=now, claimed_until=None,
                    delivered_at=None)
            if new:
                await WebhookDelivery.bulk_create(new)
        queued += len(again) + len(new)
    if queued:
        record.wake()
    return queued
