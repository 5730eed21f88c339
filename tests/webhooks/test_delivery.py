"""Lead changes reach the CRM: signed, once per event id as far as the receiver acknowledges, in per-lead order,
retried with backoff, parked as dead after the window, and never for a change that rolled back."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.transactions import in_transaction

from bot.leads import types as lt
from bot.webhooks import dispatcher
from storage.models import (
    DeliveryState,
    Lead,
    Outbox,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from tests.webhooks.conftest import FAST, advance, new_lead, subscribe

S = lt.Status


def _running(services):
    """A dispatcher running in the background, as in a worker."""
    return dispatcher.running(services, policy=FAST)


def _stepper(services) -> dispatcher.Dispatcher:
    """A dispatcher driven by the test: `run_until_idle` sends what is ready now, then returns."""
    return dispatcher.Dispatcher(services, policy=FAST)


async def test_every_request_is_signed_and_says_what_happened(services, team, receiver) -> None:
    await subscribe(services, team.tenant.id, receiver.url, receiver=receiver)
    async with _running(services):
        lead = await new_lead(services, team, "华东机械", "crm-1")
        await advance(services, team, lead.id, S.CONTACTED)
        await receiver.wait_for(3)
    got = receiver.received
    assert all(r.signed for r in got), [r.signature_error for r in got]
    assert [(r.event_type, r.seq) for r in got] == [
        ("lead.created", 1), ("lead.assigned", 2), ("lead.status_changed", 3)]
    assert [r.body["id"] for r in got] == [r.event_id for r in got]
    assert [r.body["type"] for r in got] == [r.event_type for r in got]
    created, assigned, changed = (r.body for r in got)
    assert created["lead_id"] == lead.id and created["data"]["lead"]["external_id"] == "crm-1"
    assert created["data"]["lead"]["company"] == "华东机械"
    assert assigned["data"]["assignee"] == {"id": team.reps[0].id, "name": team.reps[0].name}
    assert assigned["data"]["previous_assignee_id"] is None
    assert (changed["data"]["previous_status"], changed["data"]["status"]) == ("assigned", "contacted")
    assert changed["data"]["change"]["actor"] == {"id": team.reps[0].id, "role": "rep"}
    # the CRM gets no contact details through a webhook
    assert "phone" not in changed["data"]["lead"] and "email" not in changed["data"]["lead"]
    # every attempt is on record, with what the receiver said
    attempts = await WebhookAttempt.all().order_by("id")
    assert [(a.outcome, a.status_code) for a in attempts] == [("delivered", 200)] * 3
    assert '"ok": true' in attempts[0].response_excerpt


async def test_receiver_failing_three_times_gets_each_event_once_and_in_order(services, team, receiver) -> None:
    def fail_three_times(r) -> int:
        return 500 if sum(x.event_id == r.event_id for x in receiver.received) <= 3 else 200

    receiver.answer = fail_three_times
    await subscribe(services, team.tenant.id, receiver.url, receiver=receiver)
    leads = []
    async with _running(services):
        for n in range(3):
            lead = await new_lead(services, team, f"客户{n}", f"crm-{n}")
            leads.append(lead)
        for lead in leads:
            await advance(services, team, lead.id, S.CONTACTED)
            await advance(services, team, lead.id, S.QUALIFIED)
        await receiver.wait_for(len(leads) * 4)

    ok_by_id = Counter(r.event_id for r in receiver.accepted())
    assert len(ok_by_id) == 12 and set(ok_by_id.values()) == {1}
    assert set(Counter(r.event_id for r in receiver.received).values()) == {4}
    # per lead: no request for an event arrives before every earlier event of that lead was acknowledged
    by_lead: dict[int, list[int]] = defaultdict(list)
    for r in receiver.received:
        by_lead[r.lead_id].append(r.seq)
    for lead in leads:
        seqs = by_lead[lead.id]
        assert seqs == sorted(seqs) and sorted(set(seqs)) == [1, 2, 3, 4], seqs
    assert all(r.signed for r in receiver.received)
    rows = await WebhookDelivery.all()
    assert {(d.state, d.attempts) for d in rows} == {(DeliveryState.DELIVERED, 4)}
    outcomes = Counter(a.outcome for a in await WebhookAttempt.all())
    assert outcomes == {"http_error": 36, "delivered": 12}


async def test_a_change_that_rolls_back_sends_nothing(services, team, receiver) -> None:
    await subscribe(services, team.tenant.id, receiver.url, receiver=receiver)
    lead = await new_lead(services, team, "华东机械", "crm-1")
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await advance(services, team, lead.id, S.CONTACTED)
            raise RuntimeError("the caller's transaction fails after the change")
    async with _stepper(services) as d:
        await d.run_until_idle()
    assert [r.event_type for r in receiver.received] == ["lead.created", "lead.assigned"]
    assert not await WebhookEvent.filter(type="lead.status_changed").exists()
    row = await Lead.get(id=lead.id)
    assert (row.status, row.webhook_seq) == ("assigned", 2)


async def test_events_nobody_wants_are_not_recorded(services, team, receiver) -> None:
    await subscribe(services, team.tenant.id, receiver.url, ["lead.status_changed"], receiver=receiver)
    async with _running(services):
        lead = await new_lead(services, team, "华东机械", "crm-1")
        await advance(services, team, lead.id, S.CONTACTED)
        await receiver.wait_for(1)
    assert [(r.event_type, r.seq) for r in receiver.received] == [("lead.status_changed", 1)]
    assert await WebhookEvent.all().count() == 1


async def test_after_the_window_an_event_is_dead_until_redelivered(services, team, receiver) -> None:
    from bot.webhooks import subscriptions as ops
    from bot.webhooks.schemas import RedeliverIn

    receiver.answer = lambda r: 503
    sub = await subscribe(services, team.tenant.id, receiver.url, ["lead.created"], receiver=receiver)
    await new_lead(services, team, "华东机械", "crm-1")
    # the event has been failing since the day before yesterday: its window is over
    await WebhookDelivery.all().update(window_started_at=datetime.now(UTC) - timedelta(hours=25))
    async with _stepper(services) as d:
        await d.run_until_idle()
    delivery = await WebhookDelivery.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == (DeliveryState.DEAD, 1, 503)
    first_id = receiver.received[0].event_id

    receiver.answer = lambda r: 204
    assert await ops.redeliver(sub, RedeliverIn(event_id=first_id), services.clock.now()) == 1
    async with _stepper(services) as d:
        await d.run_until_idle()
    assert [r.event_id for r in receiver.received] == [first_id, first_id]
    assert [r.attempt for r in receiver.received] == [1, 2]
    assert (await WebhookDelivery.get()).state == DeliveryState.DELIVERED


async def test_a_dead_event_does_not_hold_back_the_leads_later_events(services, team, receiver) -> None:
    receiver.answer = lambda r: 500 if r.seq == 1 else 200
    await subscribe(services, team.tenant.id, receiver.url, receiver=receiver)
    lead = await new_lead(services, team, "华东机械", "crm-1")
    first = await WebhookDelivery.get(seq=1)
    await WebhookDelivery.filter(id=first.id).update(window_started_at=datetime.now(UTC) - timedelta(days=2))
    async with _running(services):
        await advance(services, team, lead.id, S.CONTACTED)
        await receiver.wait_for(2)
    assert [(r.seq, r.status) for r in receiver.received] == [(1, 500), (2, 200), (3, 200)]
    assert (await WebhookDelivery.get(id=first.id)).state == DeliveryState.DEAD


async def test_failing_for_a_day_disables_the_subscription_and_tells_the_admins(services, team, receiver) -> None:
    from bot.webhooks import subscriptions as ops
    from bot.webhooks.schemas import RedeliverIn

    receiver.answer = lambda r: 500
    sub = await subscribe(services, team.tenant.id, receiver.url, receiver=receiver)
    lead = await new_lead(services, team, "华东机械", "crm-1")
    await WebhookSubscription.filter(id=sub.id).update(failing_since=datetime.now(UTC) - timedelta(hours=24, minutes=1))
    async with _stepper(services) as d:
        await d.run_until_idle()
    sub = await WebhookSubscription.get(id=sub.id)
    assert (sub.enabled, sub.disabled_reason) == (False, "failing for more than 24 hours")
    notices = await Outbox.filter(kind="notify")
    admin = next(u for u in await team.tenant.users.all() if u.role == "admin")
    assert [n.payload["user_id"] for n in notices] == [admin.id]
    assert f"Webhook {sub.id}" in notices[0].payload["text"] and "127.0.0.1" in notices[0].payload["text"]

    # while disabled nothing is sent, but what happens is kept for a replay
    tried = len(receiver.received)
    await advance(services, team, lead.id, S.CONTACTED)
    async with _stepper(services) as d:
        await d.run_until_idle()
    assert len(receiver.received) == tried == 1
    assert await WebhookEvent.filter(type="lead.status_changed").count() == 1

    receiver.answer = lambda r: 200
    await ops.set_enabled(sub, True, services.clock.now())
    now = services.clock.now()
    queued = await ops.redeliver(sub, RedeliverIn(since=now - timedelta(hours=1)), now)
    assert queued == 1  # the change made while disabled (the two earlier ones are still pending)
    async with _running(services):
        await receiver.wait_for(3)
    assert [r.seq for r in receiver.accepted()] == [1, 2, 3]
