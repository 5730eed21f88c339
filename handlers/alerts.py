"""Alert routes: the e-mail's ack link and a lead's delivery record.

`/ack/{token}` is two steps on purpose: the GET only shows the alert and a button, the POST acknowledges. Mail
security scanners (Safe Links and the like) open every link in a message; a GET that acknowledged would let them
silently stop the chain before the manager ever saw the alert.
"""

from __future__ import annotations

import html
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel, Field

from bot.admin.schemas import BIG_ID_MAX
from bot.alerting import alerts
from bot.alerting.notify.chain import AlertState
from bot.runtime.appkeys import SERVICES
from handlers.auth import authenticate
from handlers.http import HttpProblem, json_out, positive_id
from storage.models import Alert, TokenScope
from storage.models import Lead as LeadRow


def _id(request: web.Request) -> int:
    return positive_id(request.match_info["id"], "id", BIG_ID_MAX)


# --- the lead's delivery record -----------------------------------------------------------------------------------


class DeliveryOut(BaseModel):
    id: int
    at: datetime
    alert_id: int | None
    alert_kind: str | None
    user_id: int | None
    user_name: str | None
    channel: str
    provider: str
    address: str = Field(description="Masked")
    request_id: str | None
    code: str | None = Field(description="The provider's own answer: errcode, SMS code, SMTP reply")
    detail: str
    latency_ms: float
    outcome: str


async def lead_deliveries(request: web.Request) -> web.Response:
    principal = await authenticate(request, need=TokenScope.API)
    lead = await LeadRow.get_or_none(id=_id(request))
    if lead is None:
        raise HttpProblem(404, "not_found", "lead not found")
    principal.check_tenant(lead.tenant_id, "lead")
    return json_out([DeliveryOut.model_validate(d) for d in await alerts.deliveries_of(lead.id)])


# --- acknowledging by link ------------------------------------------------------------------------------------------


_PAGE = """<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width,initial-scale=1"><title>{title}</title></head><body style="font-family:sans-serif;
max-width:36em;margin:2em auto;padding:0 1em"><h2>{title}</h2>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> web.Response:
    return web.Response(text=_PAGE.format(title=html.escape(title), body=body), status=status,
                        content_type="text/html", headers={"Cache-Control": "no-store",
                                                           "Referrer-Policy": "no-referrer"})


_INVALID = ("链接无效", "<p>这个链接无效或已过期。</p>")


def _alert_html(alert: Alert) -> str:
    return f"<p>{html.escape(alert.text)}</p>"


async def ack_page(request: web.Request) -> web.Response:
    alert = await alerts.alert_for_token(request.app[SERVICES], request.match_info["token"])
    if alert is None:
        return _page(*_INVALID, status=404)
    title = alert.plan.get("headline", "提醒")
    if alert.state == AlertState.ACKED:
        return _page(title, _alert_html(alert) + "<p><b>已确认收到。</b></p>")
    form = ('<form method="post"><button type="submit" style="font-size:1.1em;padding:.5em 1.5em">'
            "确认收到</button></form>")
    return _page(title, _alert_html(alert) + form)


async def ack_submit(request: web.Request) -> web.Response:
    alert = await alerts.alert_for_token(request.app[SERVICES], request.match_info["token"])
    if alert is None:
        return _page(*_INVALID, status=404)
    # Whoever holds the link sent to the alert's person: on record as acknowledged by e-mail, by nobody named.
    await alerts.ack(alert.id, via="email", now=request.app[SERVICES].clock.now())
    return _page(alert.plan.get("headline", "提醒"), _alert_html(alert) + "<p><b>已确认收到，谢谢。</b></p>")


def setup(app: web.Application) -> None:
    """The ack link and the lead's deliveries."""
    app.router.add_get("/ack/{token}", ack_page)
    app.router.add_post("/ack/{token}", ack_submit)
    app.router.add_get("/api/leads/{id}/deliveries", lead_deliveries)
