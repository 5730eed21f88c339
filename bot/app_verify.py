"""Is an app live, end to end? `POST /admin/apps/{id}/verify`, `leadbot apps verify`.

Every check the platform allows, each `ok`, `warn` or `fail` with a next step in Chinese and English: the token
(the credentials as stored now), then the platform's own checks (`bot.platforms.<platform>.diagnose`: WeCom's
trusted IP, the app and its visible range against the people mapped here; DingTalk's robot, card API, permissions
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
from datetime import datetime
from ipaddress import ip_address
from urllib.parse import urlsplit

from bot import app_health
from bot.apps import LoadedApp
from bot.errors import PlatformError, TargetRefused
from bot.outbound import REDIRECT_REFUSED, REFUSED_TARGET
from bot.platforms.base import Check, Platform
from bot.schemas import CheckOut, NextStep, VerifyOut
from bot.services import Services
from storage import redis_keys
from storage.models import App, AppState, User

log = logging.getLogger(__name__)


_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def safe_code(e: PlatformError) -> str:
    """The platform's code as we may show it: a plain token, else a neutral word."""
    return str(e.errcode) if e.errcode is not None and _CODE.match(str(e.errcode)) else "unrecognised answer"


def _refusal(platform: str, e: PlatformError) -> str:
    if isinstance(e, TargetRefused):
        return f"{platform} was not called: {REDIRECT_REFUSED if REDIRECT_REFUSED in e.errmsg else REFUSED_TARGET}"
    if e.retryable:
        status = f" (HTTP {e.http_status})" if e.http_status else ""
        return f"{platform} could not be reached{status}: no answer, a connection failure or a server error"
    code = str(e.errcode) if e.errcode is not None and _CODE.match(str(e.errcode)) else "unrecognised answer"
    return f"{platform} refused the credentials: errcode {code}"


_TOKEN_STEP = {
    Platform.WECOM: ("核对 企业ID（我的企业 → 企业信息）与本应用的 Secret（应用管理 → 本应用），用 `leadbot apps "
                     "update` 改正",
                     "Check the 企业ID (我的企业 → 企业信息) and this app's Secret (应用管理 → the app); correct "
                     "them with "
                     "`leadbot apps update`"),
    Platform.DINGTALK: ("核对钉钉开发者后台 本应用 → 凭证与基础信息 中的 Client ID (AppKey) 与 Client Secret",
                        "Check the Client ID (AppKey) and Client Secret under this app → 凭证与基础信息 in the "
                        "DingTalk "
                        "developer console"),
}


def _callback_url_check(app: LoadedApp, services: Services, path: str) -> Check:
    base = services.settings.public_url
    url = f"{services.settings.base_url()}/{app.platform}/{app.id}/{path}"
    if not base:
        return Check("callback_url", "warn", f"LEADBOT_PUBLIC_URL is not set: the platform cannot reach {url}",
                     "设置 LEADBOT_PUBLIC_URL 为平台可访问的 https 地址", "Set LEADBOT_PUBLIC_URL to the https "
                     "address the platform reaches this service at")
    host = urlsplit(base).hostname or ""
    try:
        ip_address(host)
        literal = True
    except ValueError:
        literal = False
    if literal or not base.startswith("https://"):
        return Check("callback_url", "warn", f"{url}: the platforms want an https URL on a domain",
                     "使用已备案（ICP）且主体与企业一致的域名和 https", "Use an https URL on an ICP-filed domain whose "
                     "owner matches the corp")
    if app.platform == Platform.WECOM:
        return Check("callback_url", "ok", f"paste {url} in 接收消息 → 设置API接收 with the Token and EncodingAESKey",
                     f"在 应用管理 → 本应用 → 接收消息 → 设置API接收 中填入 URL {url}、Token 与 EncodingAESKey 并保存",
                     f"Under 接收消息 → 设置API接收 enter {url}, the Token and the EncodingAESKey, and save")
    return Check("callback_url", "ok", f"robot message URL: {url}",
                 f"在 本应用 → 机器人 → 消息接收模式 选 HTTP 并填入 "
                 f"{url}", f"Set the robot's receive mode to HTTP with {url}")


def _last_callback(row: App, *, needed: bool) -> Check:
    if row.last_callback_at is not None:
        return Check("last_callback", "ok", f"last callback at {row.last_callback_at.isoformat()}")
    if not needed:
        return Check("last_callback", "ok", "no callback yet (none needed in this mode)")
    return Check("last_callback", "warn", "no callback has ever arrived",
                 "保存回调 URL 后，在客户端给应用发一条消息，再运行 verify",
                 "After saving the callback URL, send the app a message from the client, then verify again")


async def _mapped_users(app: LoadedApp) -> list[str]:
    field = "wecom_userid" if app.platform == Platform.WECOM else "dingtalk_staff_id"
    rows = await User.filter(tenant_id=app.tenant_id, active=True, **{f"{field}__isnull": False}).values_list(
        field, flat=True)
    return sorted(str(r) for r in rows)


async def _wecom_checks(services: Services, app: LoadedApp, adapter, row: App) -> list[Check]:
    from bot.platforms.wecom.diagnose import diagnose

    checks = await diagnose(adapter, await _mapped_users(app))
    return [*checks, _last_callback(row, needed=True), _callback_url_check(app, services, "callback")]


async def _dingtalk_checks(services: Services, app: LoadedApp, adapter, row: App) -> list[Check]:
    from bot.platforms.dingtalk.diagnose import diagnose
    from bot.platforms.dingtalk.stream import lease_name

    creds = app.credentials
    checks = await diagnose(adapter, card_template_id=creds.card_template_id)
    if creds.mode == "stream":
        holder = await services.redis.get(redis_keys.lease(lease_name(app.id)))
        checks.append(Check("stream", "ok", "a process holds this app's Stream connection") if holder else Check(
            "stream", "fail", "no process holds this app's Stream connection",
            "运行 leadbot serve 或 leadbot worker（LEADBOT_DINGTALK_STREAM 不为 false），并在 机器人 中选择 Stream "
            "模式",
            "Run leadbot serve or leadbot worker (LEADBOT_DINGTALK_STREAM not false) and choose Stream mode for the "
            "robot"))
        checks.append(_last_callback(row, needed=False))
        checks.append(Check("card_callback", "ok", "card clicks arrive on the stream"))
        return checks
    checks.append(_last_callback(row, needed=True))
    checks.append(_callback_url_check(app, services, "callback"))
    try:
        registered = await adapter.register_card_route()
    except PlatformError as e:
        checks.append(Check("card_callback", "fail", f"card callback route not registered: {_refusal('dingtalk', e)}",
                            "在 权限管理 中申请 互动卡片 权限后重试 "
                            "verify", "Request the interactive card permission, then "
                            "verify again"))
        return checks
    if registered:
        checks.append(Check("card_callback", "ok", f"card callbacks registered at {registered}"))
    else:
        checks.append(Check("card_callback", "fail", "LEADBOT_PUBLIC_URL is not set: card callbacks cannot be "
                            "registered",
                            "设置 LEADBOT_PUBLIC_URL 后重试 verify", "Set LEADBOT_PUBLIC_URL, then verify again"))
    return checks


def _out(check: Check) -> CheckOut:
    step = NextStep(zh=check.zh, en=check.en) if check.zh or check.en else None
    return CheckOut(name=check.name, status=check.status, detail=check.detail, next_step=step)


async def verify_app(services: Services, app_id: int, *, now: datetime | None = None) -> VerifyOut:
    """Run every check on an app and record the verdict; NotFound for an unknown app."""
    services.apps.forget(app_id)  # the credentials as stored now, not a copy a few seconds old
    app = await services.apps.require(app_id)
    now = now or app_health.now_utc()
    adapter = services.adapters.get(services, app)
    try:
        if app.platform == Platform.WECOM:
            await adapter.verify()
        else:
            await adapter.fetch_token_now()
    except PlatformError as e:
        detail = _refusal(app.platform, e)
        zh, en = _TOKEN_STEP[Platform(app.platform)]
        check = Check("token", "fail" if not e.retryable else "warn", detail, zh, en)
        if not e.retryable:
            await app_health.set_state(app_id, AppState.FAILING, detail, now=now)
        log.warning("app %d verification failed: errcode=%s", app_id, e.errcode)
        state = (await App.get(id=app_id)).state
        return VerifyOut(ok=False, detail=detail, state=state, checks=[_out(check)])
    checks = [Check("token", "ok", f"{app.platform} issued an access token for these credentials")]
    row = await App.get(id=app_id)
    if app.platform == Platform.WECOM:
        checks += await _wecom_checks(services, app, adapter, row)
    else:
        checks += await _dingtalk_checks(services, app, adapter, row)
    failed = [c for c in checks if c.failed]
    ok = not failed
    detail = "every check passed" if ok else failed[0].detail
    if ok and (warned := [c for c in checks if c.status == "warn"]):
        detail += f" ({len(warned)} warning{'s' if len(warned) > 1 else ''}: {warned[0].detail})"
    state = AppState.VERIFIED if ok else AppState.FAILING
    await app_health.set_state(app_id, state, None if ok else detail, now=now, verified=ok)
    log.info("app %d verification: %s", app_id, "ok" if ok else ", ".join(c.name for c in failed))
    return VerifyOut(ok=ok, detail=detail, state=state, checks=[_out(c) for c in checks])
