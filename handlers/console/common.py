"""What every console page shares: the signed-in admin, the tenant they act on, CSRF, headers, templates, language.

An admin is one of three: the operator (signed in with `LEADBOT_ADMIN_TOKEN`; every tenant), a tenant admin token
(its tenant), or an admin person signed in with a one-time chat link (their tenant). All three are re-checked on
every request: a revoked token, a changed operator token, a deactivated tenant or person ends the session there.
Pages live under `/console/t/{tenant}/…`; a tenant the admin may not see answers 404, as the JSON API does.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from multidict import MultiDictProxy
from pydantic import ValidationError

from bot.admin import audit as admin_audit
from bot.board import access
from bot.console import CONSOLE, COOKIE
from bot.platforms import registry
from bot.runtime.appkeys import SERVICES
from handlers.http import read_form
from storage.models import ApiToken, Role, Tenant, TokenScope, User
from storage.secrets import SecretBox

log = logging.getLogger(__name__)

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent.parent / "templates" / "console"),
    autoescape=True, trim_blocks=True, lstrip_blocks=True,
)
LANG_COOKIE = "leadbot_lang"


def _platform_names() -> dict[str, tuple[str, str]]:
    """Each installed platform's name as people read it, (zh, en), from its plug-in."""
    return {p.name: (p.title_zh, p.title) for p in registry.all()}


TEMPLATES.globals["platform_names"] = _platform_names


def _headers(nonce: str) -> dict[str, str]:
    # The copy buttons are the only script: inline, allowed by this response's nonce and nothing else.
    return {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": f"default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; "
                                       "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
                                       "base-uri 'none'"}


def lang_of(request: web.Request) -> str:
    """Chinese first; `?lang=en` (remembered in a cookie) for English."""
    asked = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
    return "en" if asked == "en" else "zh"


def page(request: web.Request, name: str, status: int = 200, **values: Any) -> web.Response:
    lang = lang_of(request)
    nonce = secrets.token_urlsafe(16)

    def tr(zh: str, en: str) -> str:
        return en if lang == "en" else zh

    text = TEMPLATES.get_template(name).render(_=tr, lang=lang, nonce=nonce, path=request.path, **values)
    response = web.Response(text=text, status=status, content_type="text/html", headers=_headers(nonce))
    if request.query.get("lang") in ("en", "zh"):
        response.set_cookie(LANG_COOKIE, lang, path="/console", samesite="Strict", max_age=365 * 86400)
    return response


def refused(request: web.Request, status: int, zh: str, en: str) -> web.Response:
    return page(request, "message.html", status=status, message=(zh, en))


def sessions(request: web.Request) -> access.Sessions:
    services = request.app[SERVICES]
    return access.Sessions(services.redis, services.box, CONSOLE)


def operator_digest(box: SecretBox, token: str) -> str:
    """What an operator session keeps of the operator token it was opened with (a changed token ends it): keyed by
    the master key, so a copy of Redis tells nothing about the token."""
    return hmac.new(box.derive("console.operator"), token.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Admin:
    session: access.Session
    tenant_id: int | None  # None: the operator
    label: str  # who, as the page header and the log lines say it
    user: User | None = None

    @property
    def is_operator(self) -> bool:
        return self.tenant_id is None

    @property
    def csrf(self) -> str:
        return self.session.csrf

    def may_see(self, tenant_id: int) -> bool:
        return self.tenant_id is None or self.tenant_id == tenant_id

    @property
    def actor(self) -> str:
        """Who, for the admin audit: stays meaningful after a token is revoked or a person renamed."""
        if self.user is not None:
            return f"user:{self.user.id}"
        if self.session.token_id is not None:
            return f"token:{self.session.token_id}"
        return "operator"


async def audit(request: web.Request, admin: Admin, tenant: Tenant, action: str, subject: str = "",
                **detail: Any) -> None:
    """Record a change the admin made (after it was made); never pass a secret."""
    await admin_audit.record(tenant.id, admin.actor, admin.label, action, subject,
                             at=request.app[SERVICES].clock.now(), **detail)


async def _admin_of(request: web.Request, session: access.Session) -> Admin | None:
    """The admin behind a session, checked again now; None when the session no longer stands."""
    services = request.app[SERVICES]
    if session.operator is not None:
        ok = hmac.compare_digest(session.operator, operator_digest(services.box, services.admin_token))
        return Admin(session, None, "operator") if ok else None
    if session.token_id is not None:
        row = await ApiToken.get_or_none(id=session.token_id, tenant_id=session.tenant_id, revoked_at=None,
                                         scope=TokenScope.ADMIN, tenant__active=True)
        return Admin(session, session.tenant_id, f"token {row.name}") if row is not None else None
    user = await User.get_or_none(id=session.user_id, tenant_id=session.tenant_id, active=True,
                                  tenant__active=True)
    if user is None or Role(str(user.role)) is not Role.ADMIN:
        return None
    return Admin(session, user.tenant_id, user.name, user)


async def signed_in(request: web.Request) -> Admin | web.Response:
    session = await sessions(request).find(request.cookies.get(COOKIE))
    if session is None:
        raise web.HTTPSeeOther("/console/login")
    admin = await _admin_of(request, session)
    if admin is None:
        await sessions(request).close(session)
        log.warning("console: session refused (token revoked, tenant or person deactivated, or not an admin)")
        return refused(request, 403, "登录已失效（令牌已吊销或账号已停用），请重新登录。",
                       "This session has ended (token revoked or account deactivated); sign in again.")
    return admin


async def tenant_of(request: web.Request, admin: Admin) -> Tenant | web.Response:
    """The tenant in the path, if the admin may see it; 404 otherwise (as if it did not exist)."""
    raw = request.match_info.get("tenant", "")
    tenant_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else 0
    tenant = await Tenant.get_or_none(id=tenant_id) if tenant_id and admin.may_see(tenant_id) else None
    if tenant is None:
        log.warning("console: %s refused tenant %r", admin.label, raw)
        return refused(request, 404, "没有这个租户。", "No such tenant.")
    return tenant


async def viewing(request: web.Request) -> tuple[Admin, Tenant] | web.Response:
    admin = await signed_in(request)
    if isinstance(admin, web.Response):
        return admin
    tenant = await tenant_of(request, admin)
    if isinstance(tenant, web.Response):
        return tenant
    return admin, tenant


Form = MultiDictProxy[str | bytes | web.FileField]


async def posting(request: web.Request, what: str) -> tuple[Admin, Tenant, Form] | web.Response:
    """The admin, the tenant and the posted form; refused without this session's CSRF token."""
    seen = await viewing(request)
    if isinstance(seen, web.Response):
        return seen
    admin, tenant = seen
    form = await read_form(request)
    if not access.csrf_ok(admin.session, str(form.get("csrf", ""))):
        log.warning("console: %s by %s without a valid CSRF token", what, admin.label)
        return refused(request, 403, "请求无效（页面已过期），请刷新后再试。",
                       "Invalid request (the page expired); reload and try again.")
    if any(isinstance(v, str) and "\x00" in v for v in form.values()):
        return refused(request, 400, "输入不能包含 NUL 字符。", "Input must not contain the NUL character.")
    log.info("console: %s by %s on tenant %d", what, admin.label, tenant.id)
    return admin, tenant, form


def text(form: Form, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def field_errors(e: ValidationError, strip: str = "") -> dict[str, str]:
    """Every failing field and its message, keyed by the field's dotted path (less a leading `strip.`)."""
    errors: dict[str, str] = {}
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if strip and loc.startswith(strip + "."):
            loc = loc[len(strip) + 1:]
        errors.setdefault(loc or "_", str(err["msg"]).removeprefix("Value error, "))
    return errors
