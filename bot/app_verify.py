"""Checking a registered app's credentials with its platform: `POST /admin/apps/{id}/verify`, `leadbot apps verify`.

The adapter fetches an access token with the credentials as stored now. Success stamps the app's `verified_at`
(shown by the admin API and `/readyz`); a refusal clears it, since the credentials that were verified are no longer
the ones that work; a platform that could not be reached says nothing about the credentials and changes nothing.

The answer is our own words plus, at most, the platform's error code: never the text of whatever answered at
`api_base` (a tenant admin could otherwise read another service's answers through it), and never how the
connection failed (which would tell an open port from a closed one).
"""

from __future__ import annotations

import logging
import re

from bot.errors import PlatformError, TargetRefused
from bot.outbound import REDIRECT_REFUSED, REFUSED_TARGET
from bot.schemas import VerifyOut
from bot.services import Services
from storage.models import App

log = logging.getLogger(__name__)


_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def _refusal(platform: str, e: PlatformError) -> str:
    if isinstance(e, TargetRefused):
        return f"{platform} was not called: {REDIRECT_REFUSED if REDIRECT_REFUSED in e.errmsg else REFUSED_TARGET}"
    if e.retryable:
        status = f" (HTTP {e.http_status})" if e.http_status else ""
        return f"{platform} could not be reached{status}: no answer, a connection failure or a server error"
    code = str(e.errcode) if e.errcode is not None and _CODE.match(str(e.errcode)) else "unrecognised answer"
    return f"{platform} refused the credentials: errcode {code}"


async def verify_app(services: Services, app_id: int) -> VerifyOut:
    """Ask the app's platform for an access token; NotFound for an unknown app."""
    services.apps.forget(app_id)  # the credentials as stored now, not a copy a few seconds old
    app = await services.apps.require(app_id)
    try:
        details = await services.adapters.get(services, app).verify() or {}
    except PlatformError as e:
        if not e.retryable:
            await App.filter(id=app_id).update(verified_at=None)
        log.warning("app %d verification failed: errcode=%s", app_id, e.errcode)
        return VerifyOut(ok=False, detail=_refusal(app.platform, e))
    await App.filter(id=app_id).update(verified_at=services.clock.now())
    log.info("app %d verified with %s", app_id, app.platform)
    detail = f"{app.platform} issued an access token for these credentials"
    if details.get("card_callback_url"):
        detail += f"; card callbacks registered at {details['card_callback_url']}"
    if details.get("warning"):
        detail += f"; warning: {details['warning']}"
    return VerifyOut(ok=True, detail=detail)
