"""Fixtures for the webhook tests: a team whose leads change, a receiver, subscriptions, a fast retry policy."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.leads import service as leadservice
from bot.leads import types as lt
from bot.leads.actions import Advance
from bot.webhooks import subscriptions as ops
from bot.webhooks.retry import RetryPolicy
from bot.webhooks.schemas import SubscriptionIn
from storage.models import Lead, Role, RoutingRule, User, WebhookSubscription
from tests.leads.conftest import Team, make_team
from tests.support.leads import take_in
from tests.webhooks.receiver import Receiver

# Retries within milliseconds, so a test sees a whole retry schedule; the real schedule is tested on its own.
FAST = RetryPolicy(first_wait_s=0.01, max_wait_s=0.05, jitter_s=0.01, window_s=60)


@pytest.fixture
async def team(services) -> Team:
    team = await make_team("acme")
    await User.create(tenant=team.tenant, name="acme管理员", role=Role.ADMIN)
    await RoutingRule.create(tenant=team.tenant, name="all", spec={"strategy": "named",
                                                                   "named_rep_id": team.reps[0].id})
    return team


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def subscribe(services, tenant_id: int, url: str, types: list[str] | None = None,
                    receiver: Receiver | None = None) -> WebhookSubscription:
    """A subscription; the receiver (if given) learns its secret, as the CRM's admin would paste it."""
    sub, secret = await ops.create(services.box, services.settings, tenant_id,
                                   SubscriptionIn(url=url, event_types=types or ["*"]))
    if receiver is not None:
        receiver.secret = secret
    return sub


async def new_lead(services, team: Team, company: str, external_id: str) -> Lead:
    """Created and routed to the team's first rep: two events, lead.created then lead.assigned."""
    actor = lt.Actor(user_id=None, tenant_id=team.tenant.id, role=lt.Role.SYSTEM, name="api")
    return await take_in(services, team.tenant.id, {"company": company, "external_id": external_id}, actor)


async def advance(services, team: Team, lead_id: int, to: lt.Status) -> None:
    rep = leadservice.actor_for(team.reps[0])
    outcome = await leadservice.act(services, lead_id, Advance(to), rep, source=lt.EventSource.CARD, inline=False)
    assert outcome.ok, outcome.decision
