"""Signing in to the console: a token typed in, or a one-time link from chat; signing out; the tenant list.

    GET  /console/login          the token form (or, with ?t=, the chat link's confirmation button)
    POST /console/login          exchanges a token or spends a link for a session cookie
    POST /console/logout         ends the session
    GET  /console                the operator's tenant list; a tenant admin goes straight to their tenant
"""

from __future__ import annotations

import hmac
import logging
import secrets

from aiohttp import web

from bot.admin import audit as admin_audit
from bot.board import access
from bot.console import CONSOLE, COOKIE, SESSION_TTL, may_use_console
from bot.runtime import quotas
from bot.runtime.appkeys import SERVICES
from bot.runtime.quotas import QuotaExceeded
from handlers.auth import token_digest
from handlers.console.common import operator_digest, page, refused, sessions, signed_in, text
from handlers.http import client_address, read_form
from storage.models import ApiToken, Tenant, TokenScope, User

log = logging.getLogger(__name__)

# The sign-in form's own CSRF token (no session exists yet): a cookie and a hidden field that must agree.
PRE_COOKIE = "leadbot_console_pre"
SIGN_INS_PER_MIN = 10


def _login_form(request: web.Request, status: int = 200, error: tuple[str, str] | None = None) -> web.Response:
    pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    response = page(request, "login.html", status=status, pre=pre, error=error, token_link=None)
    response.set_cookie(PRE_COOKIE, pre, httponly=True, samesite="Strict", path="/console/login", max_age=3600)
    return response


async def login_page(request: web.Request) -> web.Response:
    token = request.query.get("t", "")
    if token:
        if await access.peek_link_token(request.app[SERVICES].redis, token, CONSOLE):
            return page(request, "login.html", token_link=token, pre="", error=None)
        log.warning("console: sign-in link invalid, spent or expired")
        return refused(request, 404, "这个登录链接无效、已用过或已过期。请向线索助手发送「控制台」获取新链接。",
                       "This sign-in link is invalid, used or expired. Send 控制台 to the bot for a new one.")
    return _login_form(request)


def _cookie(request: web.Request, response: web.StreamResponse, value: str) -> None:
    secure = request.app[SERVICES].settings.base_url().startswith("https://")
    response.set_cookie(COOKIE, value, httponly=True, samesite="Strict", path="/console", secure=secure,
                        max_age=int(SESSION_TTL.total_seconds()))


async def login_submit(request: web.Request) -> web.Response:
    form = await read_form(request)
    services = request.app[SERVICES]
    store = sessions(request)
    link = text(form, "t")
    if link:  # the chat link's button: the token itself is the proof, spent by this POST
        who = await access.redeem_link_token(services.redis, link, CONSOLE)
        user = await User.get_or_none(id=who[0], tenant_id=who[1], tenant__active=True) if who else None
        if not may_use_console(user):
            log.warning("console: sign-in link invalid, spent, expired or not an admin's")
            return refused(request, 403, "这个登录链接无效、已用过或已过期，或您不是管理员。",
                           "This link is invalid, used or expired, or you are not an admin.")
        assert user is not None
        _, cookie = await store.open(user.id, user.tenant_id)
        log.info("console: user %d signed in with a chat link", user.id)
        await admin_audit.record(user.tenant_id, f"user:{user.id}", user.name, "session.sign_in", "chat link",
                                 at=services.clock.now())
        response = web.HTTPSeeOther(f"/console/t/{user.tenant_id}/apps")
        _cookie(request, response, cookie)
        raise response
    pre = request.cookies.get(PRE_COOKIE, "")
    if not pre or not hmac.compare_digest(pre.encode(), text(form, "pre").encode()):
        log.warning("console: sign-in form posted without its CSRF token")
        return _login_form(request, 403, ("页面已过期，请重试。", "The page expired; try again."))
    try:
        # Typed tokens are guessable only when chosen badly (an operator token set by hand): a few tries a minute.
        await quotas.take(services.redis, "console_sign_in", client_address(request, services.settings.trusted_proxies),
                          amount=1, limit=SIGN_INS_PER_MIN, length_s=60, what="console sign-in attempts",
                          now=services.clock.time())
    except QuotaExceeded as e:
        log.warning("console: sign-in attempts over the limit: %s", e)
        return _login_form(request, 429, ("尝试次数过多，请一分钟后再试。",
                                          "Too many attempts; try again in a minute."))
    token = text(form, "token")
    if token and len(token) <= 200 and hmac.compare_digest(token.encode(), services.admin_token.encode()):
        _, cookie = await store.open(0, 0, operator=operator_digest(services.box, token))
        log.info("console: the operator signed in")
        response = web.HTTPSeeOther("/console")
        _cookie(request, response, cookie)
        raise response
    row = None
    if token and len(token) <= 200:
        row = await ApiToken.get_or_none(token_sha256=token_digest(token), revoked_at=None, tenant__active=True)
    if row is None or row.scope is not TokenScope.ADMIN:
        log.warning("console: sign-in with an unknown, revoked or non-admin token")
        return _login_form(request, 401, ("令牌无效、已吊销，或不是管理员令牌。",
                                          "Unknown or revoked token, or not an admin token."))
    _, cookie = await store.open(0, row.tenant_id, token_id=row.id)
    log.info("console: token %d of tenant %d signed in", row.id, row.tenant_id)
    await admin_audit.record(row.tenant_id, f"token:{row.id}", f"token {row.name}", "session.sign_in", "token",
                             at=services.clock.now())
    response = web.HTTPSeeOther(f"/console/t/{row.tenant_id}/apps")
    _cookie(request, response, cookie)
    raise response


async def logout(request: web.Request) -> web.Response:
    session = await sessions(request).find(request.cookies.get(COOKIE))
    form = await read_form(request)
    if session is None or not access.csrf_ok(session, text(form, "csrf")):
        return refused(request, 403, "请求无效（页面已过期），请刷新后再试。", "Invalid request (the page expired).")
    await sessions(request).close(session)
    response = refused(request, 200, "您已退出控制台。", "You have signed out of the console.")
    response.del_cookie(COOKIE, path="/console")
    return response


async def home(request: web.Request) -> web.Response:
    admin = await signed_in(request)
    if isinstance(admin, web.Response):
        return admin
    if admin.tenant_id is not None:
        raise web.HTTPSeeOther(f"/console/t/{admin.tenant_id}/apps")
    tenants = await Tenant.all().order_by("id")
    return page(request, "tenants.html", admin=admin, tenants=tenants, tenant=None)


def setup(app: web.Application) -> None:
    app.router.add_get("/console/login", login_page)
    app.router.add_post("/console/login", login_submit)
    app.router.add_post("/console/logout", logout)
    app.router.add_get("/console", home)
