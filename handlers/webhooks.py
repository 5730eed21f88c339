"""`/admin/webhooks…`: a tenant's webhook subscriptions, their attempts and deliveries, tests and replays.

Admin tokens only. The operator sees every tenant's subscriptions; a tenant admin token sees its own, and another
tenant's subscription answers 404 as if it did not exist. `bot.webhooks.subscriptions` does the work.
"""

from __future__ import annotations

from aiohttp import web

from bot.admin.schemas import ROW_ID_MAX
from bot.runtime import tenant_cache
from bot.runtime.appkeys import SERVICES
from bot.webhooks import subscriptions as ops
from bot.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryQuery,
    PageQuery,
    RedeliverIn,
    RedeliverOut,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
    SubscriptionQuery,
    TestOut,
)
from handlers.auth import Principal, authenticate
from handlers.http import json_out, positive_id, query_model, read_model
from handlers.openapi import ApiRoutes
from storage.models import TokenScope
from storage.models import WebhookSubscription as Subscription

API = ApiRoutes()


def _id(request: web.Request) -> int:
    return positive_id(request.match_info["id"], "id", ROW_ID_MAX)


async def _admin(request: web.Request) -> Principal:
    return await authenticate(request, need=TokenScope.ADMIN)


async def _subscription(request: web.Request) -> Subscription:
    principal = await _admin(request)
    return await ops.get(_id(request), principal.tenant_id)


def _out(sub: Subscription) -> SubscriptionOut:
    return SubscriptionOut.model_validate(sub)


@API.route("POST", "/admin/webhooks", summary="Subscribe a URL to lead events (the signing secret is shown once)",
           tags=("webhooks",), body=SubscriptionIn, ok=201, response=SubscriptionCreated, errors=(401, 403, 404))
async def create_subscription(request: web.Request) -> web.Response:
    principal = await _admin(request)
    data = await read_model(request, SubscriptionIn)
    services = request.app[SERVICES]
    sub, secret = await ops.create(services.box, services.settings, principal.tenant_for(data.tenant_id), data)
    await tenant_cache.changed(services.redis, sub.tenant_id)  # the next change of a lead is sent to it
    return json_out(SubscriptionCreated.model_validate({**_out(sub).model_dump(), "secret": secret}), 201)


@API.route("GET", "/admin/webhooks", summary="List webhook subscriptions", tags=("webhooks",),
           query=SubscriptionQuery, response=SubscriptionOut, many=True)
async def list_subscriptions(request: web.Request) -> web.Response:
    principal = await _admin(request)
    q = query_model(request, SubscriptionQuery)
    if principal.tenant_id and q.tenant_id and q.tenant_id != principal.tenant_id:
        return json_out([])
    qs = Subscription.all().order_by("id")
    tenant_id = principal.tenant_id or q.tenant_id
    if tenant_id:
        qs = qs.filter(tenant_id=tenant_id)
    if q.enabled is not None:
        qs = qs.filter(enabled=q.enabled)
    return json_out([_out(s) for s in await qs])


@API.route("GET", "/admin/webhooks/{id}", summary="Show a webhook subscription (never its secret)",
           tags=("webhooks",), response=SubscriptionOut)
async def show_subscription(request: web.Request) -> web.Response:
    return json_out(_out(await _subscription(request)))


@API.route("PATCH", "/admin/webhooks/{id}", summary="Change a subscription's URL, event types or description",
           tags=("webhooks",), body=SubscriptionPatch, response=SubscriptionOut)
async def update_subscription(request: web.Request) -> web.Response:
    sub = await _subscription(request)
    patch = await read_model(request, SubscriptionPatch)
    sub = await ops.update(request.app[SERVICES].settings, sub, patch)
    await tenant_cache.changed(request.app[SERVICES].redis, sub.tenant_id)  # its event types as kept
    return json_out(_out(sub))


@API.route("POST", "/admin/webhooks/{id}/disable", summary="Stop sending to a subscription", tags=("webhooks",),
           response=SubscriptionOut)
async def disable_subscription(request: web.Request) -> web.Response:
    return json_out(_out(await _set_enabled(request, False)))


@API.route("POST", "/admin/webhooks/{id}/enable",
           summary="Send to a subscription again (what is pending gets a fresh retry window)", tags=("webhooks",),
           response=SubscriptionOut)
async def enable_subscription(request: web.Request) -> web.Response:
    return json_out(_out(await _set_enabled(request, True)))


async def _set_enabled(request: web.Request, enabled: bool) -> Subscription:
    services = request.app[SERVICES]
    sub = await ops.set_enabled(await _subscription(request), enabled, services.clock.now())
    await tenant_cache.changed(services.redis, sub.tenant_id)  # whether a lead's change is sent to it, as kept
    return sub


@API.route("POST", "/admin/webhooks/{id}/rotate-secret", summary="Replace the signing secret (shown once)",
           tags=("webhooks",), response=SubscriptionCreated)
async def rotate_secret(request: web.Request) -> web.Response:
    sub = await _subscription(request)
    secret = await ops.rotate_secret(request.app[SERVICES].box, sub)
    return json_out(SubscriptionCreated.model_validate({**_out(sub).model_dump(), "secret": secret}))


@API.route("POST", "/admin/webhooks/{id}/test", summary="Send a webhook.test event now and show the answer",
           tags=("webhooks",), response=TestOut)
async def test_subscription(request: web.Request) -> web.Response:
    sub = await _subscription(request)
    services = request.app[SERVICES]
    await _replays(request, sub, 1)
    return json_out(await ops.send_test(services.box, services.settings, sub, services.clock))


@API.route("GET", "/admin/webhooks/{id}/attempts", summary="Every HTTP attempt, newest first", tags=("webhooks",),
           query=PageQuery, response=AttemptOut, many=True)
async def list_attempts(request: web.Request) -> web.Response:
    sub = await _subscription(request)
    q = query_model(request, PageQuery)
    return json_out(await ops.attempts(sub, limit=q.limit, before_id=q.before_id))


@API.route("GET", "/admin/webhooks/{id}/deliveries", summary="Events on their way (or given up on), newest first",
           tags=("webhooks",), query=DeliveryQuery, response=DeliveryOut, many=True)
async def list_deliveries(request: web.Request) -> web.Response:
    sub = await _subscription(request)
    q = query_model(request, DeliveryQuery)
    return json_out(await ops.deliveries(sub, state=q.state, limit=q.limit, before_id=q.before_id))


@API.route("POST", "/admin/webhooks/{id}/redeliver", summary="Replay one event, or the events of a time range",
           tags=("webhooks",), body=RedeliverIn, response=RedeliverOut)
async def redeliver(request: web.Request) -> web.Response:
    sub = await _subscription(request)
    data = await read_model(request, RedeliverIn)
    now = request.app[SERVICES].clock.now()
    await _replays(request, sub, await ops.replay_size(sub, data, now))
    return json_out(RedeliverOut(queued=await ops.redeliver(sub, data, now)))


async def _replays(request: web.Request, sub: Subscription, events: int) -> None:
    services = request.app[SERVICES]
    await ops.take_replays(services.redis, services.settings, services.clock, sub, events)
