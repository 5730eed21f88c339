"""Webhook housekeeping, as an arq cron job: disable subscriptions failing for a day, prune old history.

Sending is not a job (see `bot.webhooks.dispatcher`); this runs twice an hour on one worker.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from arq import cron
from tortoise.transactions import in_transaction

from bot.jobs import job, services
from bot.runtime import tenant_cache
from bot.webhooks import delivery
from storage.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription

log = logging.getLogger(__name__)

RETENTION = timedelta(days=30)
_PRUNE_CHUNK = 1000


async def disable_failing(now: datetime, redis: Any = None) -> int:
    """Disable subscriptions whose failures began over a day ago (a delivery's own failure usually does it first);
    each one's tenant is told to the processes keeping its subscriptions (`redis`, once committed)."""
    subs = await WebhookSubscription.filter(enabled=True, failing_since__lt=now - delivery.FAILING_LIMIT)
    disabled = 0
    for sub in subs:
        async with in_transaction():
            done = await delivery.disable_failing(sub, now)
        if done:
            disabled += 1
            if redis is not None:
                await tenant_cache.changed(redis, sub.tenant_id)
    return disabled


async def prune(now: datetime) -> int:
    """Delete settled deliveries, attempts and events older than RETENTION; returns the events deleted.

    An event with a delivery still pending is kept, however old.
    """
    cutoff = now - RETENTION
    await WebhookAttempt.filter(at__lt=cutoff).delete()
    deleted, after_id = 0, 0
    while True:
        ids: list[int] = list(await WebhookEvent.filter(  # type: ignore[arg-type]
            created_at__lt=cutoff, id__gt=after_id).order_by("id").limit(_PRUNE_CHUNK).values_list("id", flat=True))
        if not ids:
            return deleted
        after_id = ids[-1]
        busy = set(await WebhookDelivery.filter(event_id__in=ids, state=DeliveryState.PENDING).values_list(
            "event_id", flat=True))
        done = [i for i in ids if i not in busy]
        deliveries = list(await WebhookDelivery.filter(event_id__in=done).values_list("id", flat=True))
        async with in_transaction():
            await WebhookAttempt.filter(delivery_id__in=deliveries).delete()
            await WebhookDelivery.filter(id__in=deliveries).delete()
            deleted += await WebhookEvent.filter(id__in=done).delete()


@job(timeout_s=600, quiet=True)
async def webhooks_maintenance(ctx: dict[str, Any]) -> None:
    now = services(ctx).clock.now()
    disabled = await disable_failing(now, services(ctx).redis)
    pruned = await prune(now)
    if disabled or pruned:
        log.info("webhooks: %d subscription(s) disabled, %d old event(s) pruned", disabled, pruned)


CRON_JOBS = [cron(webhooks_maintenance.coroutine, name="webhooks_maintenance", minute={17, 47}, unique=True,
                  timeout=600)]
