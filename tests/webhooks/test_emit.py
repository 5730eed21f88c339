"""Happenings that are not lead changes (an escalation step, an alert nobody could be reached for), and test pings."""

from __future__ import annotations

import pytest
from tortoise.transactions import in_transaction

from bot import webhooks
from bot.leads import types as lt
from bot.webhooks import dispatcher
from bot.webhooks import subscriptions as ops
from storage.models import DeliveryState, Outbox, WebhookDelivery, WebhookEvent, WebhookSubscription
from tests.webhooks.conftest import FAST, advance, new_lead, subscribe


async def test_an_escalation_takes_the_leads_next_number_and_arrives_in_order(services, team, receiver) -> None:
    await subscribe(services, team.tenant.id, receiver.url, receiver=receiver)
    lead = await new_lead(services, team, "华东机械", "crm-1")
    async with in_transaction():  # the escalation helper's own transaction
        event_id = await webhooks.emit(team.tenant.id, webhooks.EventType.LEAD_ESCALATED,
                                       {"step": 1, "to_user_id": team.manager.id}, now=services.clock.now(),
                                       lead_id=lead.id)
    await advance(services, team, lead.id, lt.Status.CONTACTED)
    async with dispatcher.Dispatcher(services, policy=FAST) as d:
        await d.run_until_idle()
    assert [(r.event_type, r.seq) for r in receiver.received] == [
        ("lead.created", 1), ("lead.assigned", 2), ("lead.escalated", 3), ("lead.status_changed", 4)]
    escalated = receiver.received[2]
    assert escalated.event_id == event_id and escalated.signed
    assert escalated.body["data"]["step"] == 1 and escalated.body["data"]["lead"]["id"] == lead.id


async def test_an_alert_event_without_a_lead_and_types_nobody_wants(services, team, receiver) -> None:
    await subscribe(services, team.tenant.id, receiver.url, ["alert.delivery_failed"], receiver=receiver)
    assert await webhooks.emit(team.tenant.id, "lead.escalated", {"step": 1}, now=services.clock.now()) is None
    event_id = await webhooks.emit(team.tenant.id, "alert.delivery_failed", {"alert_id": 9, "channels": ["sms"]},
                                   now=services.clock.now())
    async with dispatcher.Dispatcher(services, policy=FAST) as d:
        await d.run_until_idle()
    assert [(r.event_id, r.body["lead_id"], r.body["seq"]) for r in receiver.received] == [(event_id, None, None)]


async def test_an_emit_in_a_transaction_that_rolls_back_leaves_nothing(services, team, receiver) -> None:
    await subscribe(services, team.tenant.id, receiver.url, ["alert.delivery_failed"], receiver=receiver)
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await webhooks.emit(team.tenant.id, "alert.delivery_failed", {"alert_id": 9}, now=services.clock.now())
            raise RuntimeError("the alert was not stored after all")
    assert not await WebhookEvent.exists() and not await WebhookDelivery.exists()


async def test_a_test_ping_is_signed_sent_at_once_and_never_retried(services, team, receiver) -> None:
    sub = await subscribe(services, team.tenant.id, receiver.url, ["lead.created"], receiver=receiver)
    out = await ops.send_test(services.box, services.settings, sub, services.clock)
    assert (out.ok, out.status_code, out.outcome) == (True, 200, "delivered")
    assert [(r.event_type, r.signed, r.event_id) for r in receiver.received] == [("webhook.test", True, out.event_id)]

    receiver.answer = lambda r: 500
    out = await ops.send_test(services.box, services.settings, sub, services.clock)
    assert (out.ok, out.status_code, out.error) == (False, 500, "HTTP 500")
    failed = await WebhookDelivery.filter(event__event_id=out.event_id).first()
    assert failed.state == DeliveryState.DEAD  # not retried
    sub = await WebhookSubscription.get(id=sub.id)
    assert sub.failing_since is None and sub.enabled  # a test does not count against the subscription
    assert not await Outbox.filter(kind="notify").exists()
