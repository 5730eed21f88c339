"""The webhook metrics on /metrics: outbox depth, oldest pending age, attempts and deliveries by outcome."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.webhooks import delivery, dispatcher
from storage.models import WebhookDelivery
from tests.webhooks.conftest import FAST, new_lead, subscribe


def _value(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


async def test_backlog_and_outcomes_are_exposed(client, services, team, receiver) -> None:
    receiver.answer = lambda r: 500
    await subscribe(services, team.tenant.id, receiver.url, receiver=receiver)
    await new_lead(services, team, "华东机械", "crm-1")  # two events: created, assigned
    await WebhookDelivery.filter(seq=1).update(created_at=datetime.now(UTC) - timedelta(minutes=10))
    depth, age = await delivery.backlog(services.clock.now())
    assert depth == 2 and 600 <= age < 700

    before = await (await client.get("/metrics")).text()
    failed_before = _value(before, 'leadbot_webhook_attempts_total{outcome="http_error"}') \
        if "leadbot_webhook_attempts_total{" in before else 0.0
    async with dispatcher.Dispatcher(services, policy=FAST) as d:
        await d.refresh_gauges()
        await d.run_until_idle()
    text = await (await client.get("/metrics")).text()
    assert _value(text, "leadbot_webhook_outbox_depth") == 2
    assert _value(text, "leadbot_webhook_oldest_pending_seconds") >= 600
    assert _value(text, 'leadbot_webhook_attempts_total{outcome="http_error"}') >= failed_before + 1
