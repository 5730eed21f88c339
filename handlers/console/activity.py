"""Activity: alert deliveries (every attempt, its channel, code and latency), webhooks and their deliveries with
redeliver, the audit chains' verification, lead exports.

    GET  /console/t/{tenant}/activity                          deliveries, webhooks, audit, exports
    POST /console/t/{tenant}/activity/webhooks/{id}/redeliver  replay one event (`bot.webhooks.subscriptions`)
    POST /console/t/{tenant}/activity/audit                    verify every lead's chain (`bot.leads.store`)
    GET  /console/t/{tenant}/activity/export?format=csv|xlsx   the leads as a file (`handlers.exports`)
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import ValidationError

from bot.admin import audit as admin_audit
from bot.errors import NotFound
from bot.leads import exports
from bot.leads import store as leadstore
from bot.runtime.appkeys import SERVICES
from bot.runtime.quotas import QuotaExceeded
from bot.webhooks import subscriptions as hooks
from bot.webhooks.schemas import RedeliverIn
from handlers.console.common import Admin, audit, page, posting, refused, text, viewing
from handlers.exports import send_export
from storage.models import Delivery, Tenant, User
from storage.models import WebhookSubscription as Subscription

SHOWN = 50


async def _page(request: web.Request, admin: Admin, tenant: Tenant, *, status: int = 200, **extra: Any
                ) -> web.Response:
    deliveries = await Delivery.filter(tenant_id=tenant.id).order_by("-id").limit(SHOWN)
    names = dict(await User.filter(tenant_id=tenant.id).values_list("id", "name"))
    subs = await Subscription.filter(tenant_id=tenant.id).order_by("id")
    hook_rows = [(sub, await hooks.deliveries(sub, limit=10)) for sub in subs]
    values = {"audit": None, "notice": None, "error": None} | extra
    values["changes"] = await admin_audit.recent(tenant.id)
    return page(request, "activity.html", status=status, admin=admin, tenant=tenant, deliveries=deliveries,
                names=names, hooks=hook_rows, tz=ZoneInfo(tenant.timezone), **values)


async def activity_page(request: web.Request) -> web.Response:
    seen = await viewing(request)
    if isinstance(seen, web.Response):
        return seen
    return await _page(request, *seen)


async def redeliver(request: web.Request) -> web.Response:
    posted = await posting(request, "webhook redelivery")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    raw = request.match_info["id"]
    try:
        sub = await hooks.get(int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else 0, tenant.id)
    except NotFound:
        return refused(request, 404, "没有这个订阅。", "No such subscription.")
    services = request.app[SERVICES]
    try:
        data = RedeliverIn(event_id=text(form, "event_id"))
        await hooks.take_replays(services.redis, services.settings, services.clock, sub, 1)
        queued = await hooks.redeliver(sub, data, services.clock.now())
        await audit(request, admin, tenant, "webhook.redeliver", sub.url, subscription_id=sub.id,
                    event_id=data.event_id, queued=queued)
    except ValidationError:
        return await _page(request, admin, tenant, status=400, error=("缺少事件。", "No event given."))
    except QuotaExceeded as e:
        return await _page(request, admin, tenant, status=429,
                           error=(f"重放次数已用完：{e}", f"Replay budget spent: {e}"))
    return await _page(request, admin, tenant,
                       notice=(f"已重新排队 {queued} 个事件。", f"{queued} event(s) queued again."))


async def verify_audit(request: web.Request) -> web.Response:
    posted = await posting(request, "audit verification")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, _ = posted
    checked, broken = await leadstore.verify_chains(tenant.id)
    return await _page(request, admin, tenant, audit={"checked": checked, "broken": broken})


async def export(request: web.Request) -> web.StreamResponse:
    seen = await viewing(request)
    if isinstance(seen, web.Response):
        return seen
    _, tenant = seen
    fmt: exports.Format = "xlsx" if request.query.get("format") == "xlsx" else "csv"
    return await send_export(request, tenant, exports.Filters(), fmt)


def setup(app: web.Application) -> None:
    app.router.add_get("/console/t/{tenant}/activity", activity_page)
    app.router.add_post("/console/t/{tenant}/activity/webhooks/{id}/redeliver", redeliver)
    app.router.add_post("/console/t/{tenant}/activity/audit", verify_audit)
    app.router.add_get("/console/t/{tenant}/activity/export", export)
