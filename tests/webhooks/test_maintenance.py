"""The maintenance cron: subscriptions failing for a day are disabled even without a new attempt; old history is
pruned, but never an event still on its way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.webhooks import dispatcher, jobs
from storage.models import DeliveryState, Outbox, WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from tests.webhooks.conftest import FAST, new_lead, subscribe


async def test_a_subscription_failing_for_a_day_is_disabled_by_the_cron(services, team, receiver) -> None:
    sub = await subscribe(services, team.tenant.id, receiver.url, receiver=receiver)
    healthy = await subscribe(services, team.tenant.id, receiver.url, receiver=receiver)
    now = datetime.now(UTC)
    await WebhookSubscription.filter(id=sub.id).update(failing_since=now - timedelta(hours=25))
    await WebhookSubscription.filter(id=healthy.id).update(failing_since=now - timedelta(hours=23))
    assert await jobs.disable_failing(now) == 1
    assert await jobs.disable_failing(now) == 0  # once is enough: the admins are told once
    assert [s.enabled for s in await WebhookSubscription.all().order_by("id")] == [False, True]
    assert await Outbox.filter(kind="notify").count() == 1


async def test_pruning_keeps_what_is_still_pending(services, team, receiver) -> None:
    await subscribe(services, team.tenant.id, receiver.url, receiver=receiver)
    await new_lead(services, team, "华东机械", "crm-1")  # created and assigned
    async with dispatcher.Dispatcher(services, policy=FAST) as d:
        await d.run_until_idle()
    created, assigned = await WebhookEvent.all().order_by("id")
    await WebhookDelivery.filter(event_id=assigned.id).update(state=DeliveryState.PENDING)  # still on its way
    old = datetime.now(UTC) - timedelta(days=31)
    await WebhookEvent.all().update(created_at=old)
    await WebhookAttempt.all().update(at=old)
    assert await jobs.prune(services.clock.now()) == 1
    assert [e.id for e in await WebhookEvent.all()] == [assigned.id]
    assert [d.event_id for d in await WebhookDelivery.all()] == [assigned.id]
    assert not await WebhookAttempt.exists()
