"""Checking a registered app's credentials with its platform: `POST /admin/apps/{id}/verify`, `leadbot apps verify`.

The adapter fetches an access token with the credentials as stored now. Success stamps the app's `verified_at`
(shown by the admin API and `/readyz`); a refusal clears it, since the credentials that were verified are no longer
the ones that work; a platform that could not be reached says nothing about the credentials and changes nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from bot.errors import PlatformError
from bot.schemas import VerifyOut
from bot.services import Services
from storage.models import App

log = logging.getLogger(__name__)


def _refusal(platform: str, e: PlatformError) -> str:
    if e.retryable:
        return f"{platform} could not be reached: {e.errmsg or e.errcode}"
    return f"{platform} refused the credentials: errcode {e.errcode}" + (f" ({e.errmsg})" if e.errmsg else "")


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
    await App.filter(id=app_id).update(verified_at=datetime.now(UTC))
    log.info("app %d verified with %s", app_id, app.platform)
    detail = f"{app.platform} issued an access token for these credentials"
    if details.get("card_callback_url"):
        detail += f"; card callbacks registered at {details['card_callback_url']}"
    if details.get("warning"):
        detail += f"; warning: {details['warning']}"
    return VerifyOut(ok=True, detail=detail)
