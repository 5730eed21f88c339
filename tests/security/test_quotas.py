"""Issue 18, per-tenant quotas: one tenant's signed callbacks cannot fill Redis or the queue for everyone, its
tokens cannot hammer the API, and its webhooks cannot turn the service into an amplifier. Each limited request gets
its status (callbacks 503 so the platform retries; the API 429), a Retry-After where waiting helps, a metric sample
and no effect; other tenants are served as before."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from prometheus_client import REGISTRY

from bot.runtime.config import Settings
from bot.runtime.queue import AppIngest
from bot.runtime.quotas import QuotaExceeded
from storage import redis_keys
from storage.models import Tenant, WebhookDelivery, WebhookSubscription
from tests.e2e_wecom.support import AES_KEY, AGENT_ID, CALLBACK_TOKEN, register_wecom_app
from tests.hostile.support import assert_serving
from tests.security.test_every_route_is_guarded import _make_tenant
from tests.sim.wecom import CallbackSender, WeComSimulator
from tests.webhooks.receiver import Receiver

TEXT = ("<xml><ToUserName>c</ToUserName><FromUserName>rep1</FromUserName><CreateTime>1700000000</CreateTime>"
        "<MsgType>text</MsgType><Content>hi</Content><MsgId>{}</MsgId><AgentID>1000002</AgentID></xml>")


def refusals(quota: str) -> float:
    return REGISTRY.get_sample_value("leadbot_quota_refusals_total", {"quota": quota}) or 0.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"callbacks_per_app_per_s": 5, "dedup_max_per_app": 100,
                                       "api_calls_per_token_per_min": 8, "webhooks_per_tenant": 2,
                                       "webhook_replays_per_hour": 3})


@dataclass
class WeComApp:
    app_id: int
    path: str
    sender: CallbackSender


@pytest.fixture
async def two_apps(services, client) -> AsyncIterator[tuple[WeComApp, WeComApp]]:
    """A WeCom app of a noisy tenant and one of a quiet tenant, on one simulator."""
    async with WeComSimulator() as sim, aiohttp.ClientSession() as session:
        apps = []
        for name in ("吵闹公司", "安静公司"):
            tenant = await Tenant.create(name=name)
            app_id = await register_wecom_app(services, tenant.id, corp_id=sim.corp_id, api_base=sim.url)
            sender = CallbackSender(session, token=CALLBACK_TOKEN, encoding_aes_key=AES_KEY, corp_id=sim.corp_id,
                                    agent_id=AGENT_ID, simulator=sim)
            apps.append(WeComApp(app_id, f"/wecom/{app_id}/callback", sender))
        yield apps[0], apps[1]


async def post(client, app: WeComApp, msg_id: int) -> aiohttp.ClientResponse:
    params, body = app.sender.signed(TEXT.format(msg_id).encode())
    return await client.post(app.path, params=params, data=body)


# -- callbacks -------------------------------------------------------------------------------------------------------


async def test_an_app_over_its_callback_rate_gets_503_and_the_others_are_served(two_apps, client, services) -> None:
    noisy, quiet = two_apps
    refused_before = refusals("callbacks")
    answers = [(msg_id, await post(client, noisy, msg_id)) for msg_id in range(1, 31)]
    limited = [(m, r) for m, r in answers if r.status == 503]
    taken = [m for m, r in answers if r.status == 200]
    assert limited and len(taken) + len(limited) == 30
    for _, r in limited:
        assert (await r.json())["error"] == "rate_limited" and r.headers["Retry-After"] == "1"
    # What was refused was not queued (nor remembered: the platform's retry will be taken).
    assert await services.queue.depth() == len(taken)
    assert refusals("callbacks") == refused_before + len(limited)
    # Meanwhile another tenant's app is taken at once, and a retry of a message already taken is a 200.
    assert (await post(client, quiet, 1)).status == 200
    assert (await post(client, noisy, taken[0])).status == 200
    await assert_serving(client)


async def test_the_refused_callbacks_come_back_and_are_taken(two_apps, client, services) -> None:
    noisy, _ = two_apps
    statuses = {m: (await post(client, noisy, m)).status for m in range(1, 21)}
    refused = [m for m, status in statuses.items() if status == 503]
    assert refused
    for m in refused:  # WeCom retries; paced within the rate, each is taken
        while (r := await post(client, noisy, m)).status == 503:
            await asyncio.sleep(0.25)
        assert r.status == 200
    assert await services.queue.depth() == 20


async def test_an_apps_de_duplication_memory_is_bounded(services) -> None:
    noisy = AppIngest("wecom", 7, max_remembered=100, per_second=0)
    quiet = AppIngest("wecom", 8, max_remembered=100, per_second=0)
    forgotten = REGISTRY.get_sample_value("leadbot_dedup_forgotten_total", {"platform": "wecom"}) or 0.0
    assert await services.queue.enqueue_once(redis_keys.dedup("wecom", 8, "q1"), 3600, "handle_inbound", _app=quiet)
    for n in range(250):
        assert await services.queue.enqueue_once(redis_keys.dedup("wecom", 7, f"m{n}"), 3600, "handle_inbound",
                                                 _app=noisy)
    assert await services.redis.zcard(redis_keys.dedup_set("wecom", 7)) == 100
    assert REGISTRY.get_sample_value("leadbot_dedup_forgotten_total", {"platform": "wecom"}) == forgotten + 150
    # The newest are the ones remembered: a retry of a recent delivery is still recognised ...
    assert not await services.queue.enqueue_once(redis_keys.dedup("wecom", 7, "m249"), 3600, "handle_inbound",
                                                 _app=noisy)
    # ... and the quiet app kept all of its own.
    assert not await services.queue.enqueue_once(redis_keys.dedup("wecom", 8, "q1"), 3600, "handle_inbound",
                                                 _app=quiet)


async def test_a_stream_delivery_over_the_rate_is_not_acknowledged(services) -> None:
    """Stream mode: `queue_inbound` raises, so the runner sends no ACK and DingTalk redelivers."""
    app = AppIngest("dingtalk", 9, max_remembered=100, per_second=1)
    assert await services.queue.enqueue_once(redis_keys.dedup("dingtalk", 9, "a"), 3600, "handle_inbound", _app=app)
    with pytest.raises(QuotaExceeded):
        for n in range(5):
            await services.queue.enqueue_once(redis_keys.dedup("dingtalk", 9, f"b{n}"), 3600, "handle_inbound",
                                              _app=app)


# -- API calls per token ---------------------------------------------------------------------------------------------


async def test_a_token_over_its_api_rate_gets_429_and_other_tokens_are_served(client, admin_headers) -> None:
    noisy = await _make_tenant(client, admin_headers, "吵闹公司", "repnoisy")
    quiet = await _make_tenant(client, admin_headers, "安静公司", "repquiet")
    mine = {"Authorization": f"Bearer {noisy['api_token']}"}
    refused_before = refusals("api_calls")
    statuses = [(await client.get("/api/leads", headers=mine)).status for _ in range(8)]
    assert statuses == [200] * 8
    r = await client.post("/api/leads", headers=mine, json={"company": "第九个", "external_id": "n9"})
    body = await r.json()
    assert (r.status, body["error"], body["quota"]) == (429, "quota_exceeded", "api_calls")
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert refusals("api_calls") == refused_before + 1
    r = await client.get("/api/leads", headers={"Authorization": f"Bearer {quiet['api_token']}"})
    assert r.status == 200 and [lead["external_id"] for lead in await r.json()] == ["安静公司-1"]
    assert (await client.get("/api/leads", headers=admin_headers, params={"tenant_id": noisy["tenants"]})).status \
        == 200  # the operator is not limited
    r = await client.get("/api/leads", headers=admin_headers, params={"tenant_id": noisy["tenants"]})
    assert "第九个" not in await r.text()


async def test_a_token_over_its_rate_that_is_revoked_or_whose_tenant_is_deactivated_is_told_so(
        client, admin_headers, services) -> None:
    """Over its quota, a revoked token gets 401 and a deactivated tenant's token 403, at once, not 429 until the
    minute ends (a client told to retry later would keep retrying a token that will never work again)."""
    from bot.runtime import tenant_cache
    from storage.models import ApiToken

    made = await _make_tenant(client, admin_headers, "到顶公司", "reptop")
    mine = {"Authorization": f"Bearer {made['api_token']}"}
    assert [(await client.get("/api/leads", headers=mine)).status for _ in range(8)] == [200] * 8
    assert (await client.get("/api/leads", headers=mine)).status == 429
    tenant_id = made["tenants"]
    # Deactivated by another process (its write, then the tenant's version, as every writer does).
    await Tenant.filter(id=tenant_id).update(active=False)
    await tenant_cache.changed(services.redis, tenant_id)
    r = await client.get("/api/leads", headers=mine)
    assert (r.status, (await r.json())["error"]) == (403, "tenant_inactive")
    await Tenant.filter(id=tenant_id).update(active=True)
    await tenant_cache.changed(services.redis, tenant_id)
    assert (await client.get("/api/leads", headers=mine)).status == 429  # active again: over its quota still
    await ApiToken.filter(tenant_id=tenant_id).update(revoked_at=services.clock.now())
    await tenant_cache.changed(services.redis, tenant_id)
    r = await client.get("/api/leads", headers=mine)
    assert (r.status, (await r.json())["error"]) == (401, "unauthorized")


# -- webhooks ----------------------------------------------------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def test_webhook_subscriptions_are_capped_per_tenant(client, admin_headers, receiver) -> None:
    noisy = await _make_tenant(client, admin_headers, "吵闹公司", "repnoisy")  # has one subscription already
    quiet = await _make_tenant(client, admin_headers, "安静公司", "repquiet")
    h = {"Authorization": f"Bearer {noisy['admin_token']}"}
    assert (await client.post("/admin/webhooks", headers=h, json={"url": receiver.url, "event_types": ["*"]})).status \
        == 201
    r = await client.post("/admin/webhooks", headers=h, json={"url": receiver.url, "event_types": ["*"]})
    body = await r.json()
    assert (r.status, body["error"], body["quota"]) == (429, "quota_exceeded", "webhook_subscriptions")
    assert "Retry-After" not in r.headers  # waiting does not help: removing one does
    assert await WebhookSubscription.filter(tenant_id=noisy["tenants"]).count() == 2
    r = await client.post("/admin/webhooks", headers={"Authorization": f"Bearer {quiet['admin_token']}"},
                          json={"url": receiver.url, "event_types": ["*"]})
    assert r.status == 201


async def test_webhook_replays_are_rate_limited_per_tenant(client, admin_headers, receiver, services) -> None:
    noisy = await _make_tenant(client, admin_headers, "吵闹公司", "repnoisy")
    h = {"Authorization": f"Bearer {noisy['admin_token']}"}
    r = await client.patch(f"/admin/webhooks/{noisy['webhooks']}", headers=h, json={"url": receiver.url})
    assert r.status == 200
    for _ in range(3):
        assert (await client.post(f"/admin/webhooks/{noisy['webhooks']}/test", headers=h)).status == 200
    assert len(receiver.received) == 3
    r = await client.post(f"/admin/webhooks/{noisy['webhooks']}/test", headers=h)
    assert (r.status, (await r.json())["quota"]) == (429, "webhook_replays") and int(r.headers["Retry-After"]) > 0
    deliveries = await WebhookDelivery.all().count()
    r = await client.post(f"/admin/webhooks/{noisy['webhooks']}/redeliver", headers=h,
                          json={"since": "2000-01-01T00:00:00Z"})
    assert r.status == 429
    assert await WebhookDelivery.all().count() == deliveries and len(receiver.received) == 3
    await assert_serving(client)
