"""Is an app live, end to end? `POST /admin/apps/{id}/verify`, `leadbot apps verify`.

Every check the platform allows, each `ok`, `warn` or `fail` with a next step in Chinese and English: the token
(the credentials as stored now), then the platform's own checks (`bot.platforms.<platform>.diagnose`: a trusted
caller IP, the app and its visible range against the people mapped here; the robot, card API, permissions
and IP allow-list), then how the platform reaches us (the callback URL to paste; the last callback, or never; the
Stream connection; the card callback route). The answer is `ok` only when nothing fails. The app records the result:
`verified` (and `verified_at`) only when every check passed, `failing` with the first failure's words otherwise; a
platform that could not be reached for the token says nothing about the app and changes nothing.

The answer is our own words plus, at most, the platform's error code and the address it saw: never the text of
whatever answered at `api_base` (a tenant admin could otherwise read another service's answers through it), and
never how the connection failed (which would tell an open port from a closed one).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from bot.admin import app_health, platform_ids
from bot.admin.apps import LoadedApp
from bot.admin.schemas import CheckOut, NextStep, VerifyOut
from bot.errors import PlatformError, TargetRefused
from bot.platforms import registry
from bot.platforms.base import Check
from bot.runtime.outbound import REDIRECT_REFUSED, REFUSED_TARGET
from bot.runtime.services import Services
from storage.models import App, AppState

log = logging.getLogger(__name__)


_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def safe_code(e: PlatformError) -> str:
    """The platform's code as we may show it: a plain token, else a neutral word."""
    return str(e.errcode) if e.errcode is not None and _CODE.match(str(e.errcode)) else "unrecognised answer"


def refusal(platform: str, e: PlatformError) -> str:
    if isinstance(e, TargetRefused):
        return f"{platform} was not called: {REDIRECT_REFUSED if REDIRECT_REFUSED in e.errmsg else REFUSED_TARGET}"
    if e.retryable:
        status = f" (HTTP {e.http_status})" if e.http_status else ""
        return f"{platform} could not be reached{status}: no answer, a connection failure or a server error"
    code = str(e.errcode) if e.errcode is not None and _CODE.match(str(e.errcode)) else "unrecognised answer"
    return f"{platform} refused the credentials: errcode {code}"


@dataclass(frozen=True)
class Context:
    """What a platform's `app_checks` needs from around it: the people mapped here, when the platform last reached
    us, where it should, and the shared Redis (a Stream connection's lease)."""

    app: LoadedApp
    mapped: list[str]
    last_callback_at: datetime | None
    public_url: str | None
    base_url: str
    redis: Any

    def url(self, path: str) -> str:
        return f"{self.base_url}/{self.app.platform}/{self.app.id}/{path}"

    def callback_url_warning(self, path: str) -> Check | None:
        """A warning when the platform cannot reach `path`: no public URL, or not https on a domain."""
        url = self.url(path)
        if not self.public_url:
            return Check("callback_url", "warn", f"LEADBOT_PUBLIC_URL is not set: the platform cannot reach {url}",
                         "设置 LEADBOT_PUBLIC_URL 为平台可访问的 https 地址", "Set LEADBOT_PUBLIC_URL to the https "
                         "address the platform reaches this service at")
        try:
            ip_address(urlsplit(self.public_url).hostname or "")
            literal = True
        except ValueError:
            literal = False
        if literal or not self.public_url.startswith("https://"):
            return Check("callback_url", "warn", f"{url}: the platforms want an https URL on a domain",
                         "使用已备案（ICP）且主体与企业一致的域名和 https", "Use an https URL on an ICP-filed domain "
                         "whose owner matches the corp")
        return None

    def last_callback(self, *, needed: bool) -> Check:
        if self.last_callback_at is not None:
            return Check("last_callback", "ok", f"last callback at {self.last_callback_at.isoformat()}")
        if not needed:
            return Check("last_callback", "ok", "no callback yet (none needed in this mode)")
        return Check("last_callback", "warn", "no callback has ever arrived",
                     "保存回调 URL 后，在客户端给应用发一条消息，再运行 verify",
                     "After saving the callback URL, send the app a message from the client, then verify again")


def _diagnosis(platform: str) -> Any:
    # Each platform's checks live in its own package (its plug-in's `diagnosis()`).
    return registry.get(platform).diagnosis()


async def _mapped_users(app: LoadedApp) -> list[str]:
    return sorted(await platform_ids.ids_on(app.tenant_id, app.platform, active_only=True))


def _out(check: Check) -> CheckOut:
    step = NextStep(zh=check.zh, en=check.en) if check.zh or check.en else None
    return CheckOut(name=check.name, status=check.status, detail=check.detail, next_step=step)


async def verify_app(services: Services, app_id: int, *, now: datetime | None = None) -> VerifyOut:
    """Run every check on an app and record the verdict; NotFound for an unknown app."""
    services.apps.forget(app_id)  # the credentials as stored now, not a copy a few seconds old
    app = await services.apps.require(app_id)
    now = now or services.clock.now()
    adapter = services.adapters.get(services, app)
    diagnosis = _diagnosis(app.platform)
    try:
        await adapter.prove_token()
    except PlatformError as e:
        detail = refusal(app.platform, e)
        zh, en = diagnosis.TOKEN_STEP
        check = Check("token", "fail" if not e.retryable else "warn", detail, zh, en)
        if not e.retryable:
            await app_health.set_state(app_id, AppState.FAILING, detail, now=now)
        log.warning("app %d verification failed: errcode=%s", app_id, e.errcode)
        state = (await App.get(id=app_id)).state
        return VerifyOut(ok=False, detail=detail, state=state, checks=[_out(check)])
    checks = [Check("token", "ok", f"{app.platform} issued an access token for these credentials")]
    row = await App.get(id=app_id)
    context = Context(app, await _mapped_users(app), row.last_callback_at, services.settings.public_url,
                      services.settings.base_url(), services.redis)
    checks += await diagnosis.app_checks(adapter, context)
    failed = [c for c in checks if c.failed]
    ok = not failed
    detail = "every check passed" if ok else failed[0].detail
    if ok and (warned := [c for c in checks if c.status == "warn"]):
        detail += f" ({len(warned)} warning{'s' if len(warned) > 1 else ''}: {warned[0].detail})"
    state = AppState.VERIFIED if ok else AppState.FAILING
    await app_health.set_state(app_id, state, None if ok else detail, now=now, verified=ok)
    log.info("app %d verification: %s", app_id, "ok" if ok else ", ".join(c.name for c in failed))
    return VerifyOut(ok=ok, detail=detail, state=state, checks=[_out(c) for c in checks])
