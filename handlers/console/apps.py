"""Apps: each app's live state, registering one, its diagnostics, a test card, a new secret, disabling it.

Every change calls what `/admin/apps` calls (`bot.admin.apps`, `bot.admin.app_verify`, `bot.chat.testcard`): one
validation.

    GET  /console/t/{tenant}/apps                    the list, and the registration form
    POST /console/t/{tenant}/apps                    register (per-field errors, or the values to paste)
    GET  /console/t/{tenant}/apps/{id}               one app: state, callback URL, console checklist, actions
    POST /console/t/{tenant}/apps/{id}/verify        run the diagnostics, show each check with its next step
    POST /console/t/{tenant}/apps/{id}/test          send a test card to a mapped person
    POST /console/t/{tenant}/apps/{id}/rotate        store a new app secret
    POST /console/t/{tenant}/apps/{id}/status        disable or enable
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bot.admin import app_verify
from bot.admin import apps as app_ops
from bot.admin.schemas import AppIn, AppPatch
from bot.chat import testcard
from bot.errors import Conflict, InvalidField, LeadbotError
from bot.platforms import registry
from bot.runtime.appkeys import SERVICES
from handlers.console.common import Admin, Form, audit, field_errors, page, posting, refused, text, viewing
from storage.models import App, AppStatus, Tenant


def _platforms() -> tuple[str, ...]:
    """The installed platforms' names, the first the form's default."""
    return registry.names()


def _random(n: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _fields(platform: str) -> list[dict[str, Any]]:
    """The platform's credential fields as the form shows them, from its credentials model (one declaration)."""
    model = registry.get(platform).credentials_model
    out = []
    for name, info in model.model_fields.items():
        choices = list(getattr(info.annotation, "__args__", ())) if name == "mode" else []
        out.append({"name": name, "required": info.is_required(), "secret": name in model.HOST_SECRETS,
                    "choices": [c for c in choices if isinstance(c, str)]})
    return sorted(out, key=lambda f: not f["required"])


def _pasted(platform: str) -> tuple[str, ...]:
    """The secrets we choose and the admin pastes into the platform (the callback's token and AES key), as
    opposed to the app secret the platform gives them."""
    model = registry.get(platform).credentials_model
    return tuple(k for k in model.SECRET_FIELDS if k not in model.HOST_SECRETS)


def _blank(platform: str) -> dict[str, str]:
    """A fresh form, with the callback token and AES key generated here, to be pasted there."""
    return {"platform": platform} | {k: _random(43 if k.endswith("aes_key") else 24) for k in _pasted(platform)}


async def _list(request: web.Request, admin: Admin, tenant: Tenant, *, values: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> web.Response:
    platforms = _platforms()
    platform = (values or {}).get("platform") or request.query.get("platform", platforms[0])
    platform = platform if platform in platforms else platforms[0]
    rows = await App.filter(tenant_id=tenant.id).order_by("id")
    return page(request, "apps.html", status=status, admin=admin, tenant=tenant, apps=rows, platforms=platforms,
                values=values or _blank(platform), errors=errors or {}, platform=platform, fields=_fields(platform))


async def apps_page(request: web.Request) -> web.Response:
    seen = await viewing(request)
    if isinstance(seen, web.Response):
        return seen
    return await _list(request, *seen)


def _posted_app(form: Form) -> dict[str, Any]:
    platform = text(form, "platform")
    names = [f["name"] for f in _fields(platform)] if platform in _platforms() else []
    credentials: dict[str, Any] = {k: text(form, k) for k in names if text(form, k)}
    return {"platform": platform, "name": text(form, "name"), "api_base": text(form, "api_base") or None,
            "credentials": credentials}


async def register(request: web.Request) -> web.Response:
    posted = await posting(request, "app registration")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    raw = _posted_app(form)
    known = raw["platform"] in _platforms()
    kept = registry.get(raw["platform"]).credentials_model.HOST_SECRETS if known else ()
    values = {"platform": raw["platform"], "name": raw["name"], "api_base": raw["api_base"] or ""} | {
        k: v for k, v in raw["credentials"].items() if k not in kept
    } if known else {}
    try:
        data = AppIn.model_validate(raw).root
    except ValidationError as e:
        errors = {k.removeprefix(f"{raw['platform']}."): v for k, v in field_errors(e, "credentials").items()}
        errors = {k.removeprefix("credentials."): v for k, v in errors.items()}
        return await _list(request, admin, tenant, values=values, errors=errors, status=400)
    services = request.app[SERVICES]
    try:
        app = await app_ops.register_app(services.box, services.settings, tenant.id, data)
    except InvalidField as e:
        return await _list(request, admin, tenant, values=values, errors={e.field: e.reason}, status=400)
    except Conflict as e:
        return await _list(request, admin, tenant, values=values, errors={"_": str(e)}, status=409)
    await audit(request, admin, tenant, "app.register", app.name, app_id=app.id, platform=app.platform)
    # Shown this once, to paste into the platform's console: stored sealed, never shown again.
    paste = {k: raw["credentials"][k] for k in _pasted(app.platform) if k in raw["credentials"]}
    return await _show(request, admin, tenant, app, status=201, paste=paste,
                       notice=("应用已登记。请把下面的值填入平台后台。", "App registered. Paste these values into the "
                               "platform's console."))


async def _app(request: web.Request, tenant: Tenant) -> App | None:
    raw = request.match_info["id"]
    app_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else 0
    return await App.get_or_none(id=app_id, tenant_id=tenant.id) if app_id else None


def _gone(request: web.Request) -> web.Response:
    return refused(request, 404, "没有这个应用。", "No such app.")


async def _show(request: web.Request, admin: Admin, tenant: Tenant, app: App, *, status: int = 200,
                **extra: Any) -> web.Response:
    out = app_ops.app_out(app, request.app[SERVICES].settings.base_url(), checklist=True)
    values = {"paste": None, "checks": None, "test": None, "notice": None, "errors": {}} | extra
    return page(request, "app.html", status=status, admin=admin, tenant=tenant, app=out, **values)


async def app_page(request: web.Request) -> web.Response:
    seen = await viewing(request)
    if isinstance(seen, web.Response):
        return seen
    admin, tenant = seen
    app = await _app(request, tenant)
    return _gone(request) if app is None else await _show(request, admin, tenant, app)


async def verify(request: web.Request) -> web.Response:
    posted = await posting(request, "app verify")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, _ = posted
    app = await _app(request, tenant)
    if app is None:
        return _gone(request)
    result = await app_verify.verify_app(request.app[SERVICES], app.id)
    await app.refresh_from_db()
    await audit(request, admin, tenant, "app.verify", app.name, app_id=app.id, ok=result.ok)
    return await _show(request, admin, tenant, app, checks=result)


async def test_card(request: web.Request) -> web.Response:
    posted = await posting(request, "test card")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    app = await _app(request, tenant)
    if app is None:
        return _gone(request)
    try:
        result = await testcard.send(request.app[SERVICES], app.id, text(form, "to"))
    except InvalidField as e:
        return await _show(request, admin, tenant, app, status=400, errors={"to": e.reason})
    await audit(request, admin, tenant, "app.test_card", app.name, app_id=app.id, to=result["to"],
                delivered=result["delivered"])
    return await _show(request, admin, tenant, app, test=result)


async def rotate(request: web.Request) -> web.Response:
    posted = await posting(request, "secret rotation")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    app = await _app(request, tenant)
    if app is None:
        return _gone(request)
    name = registry.get(app.platform).credentials_model.HOST_SECRETS[0]
    services = request.app[SERVICES]
    try:
        patch = AppPatch(credentials={name: text(form, "secret")})
        app = await app_ops.update_app(services.box, services.settings, app, patch)
    except (InvalidField, LeadbotError) as e:
        reason = e.reason if isinstance(e, InvalidField) else str(e)
        return await _show(request, admin, tenant, app, status=400, errors={"secret": reason})
    services.apps.forget(app.id)
    await audit(request, admin, tenant, "app.rotate_secret", app.name, app_id=app.id, field=name)
    return await _show(request, admin, tenant, app, notice=("新的 Secret 已保存。", "The new secret is stored."))


async def set_status(request: web.Request) -> web.Response:
    posted = await posting(request, "app status")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    app = await _app(request, tenant)
    if app is None:
        return _gone(request)
    status = AppStatus.ACTIVE if text(form, "status") == "active" else AppStatus.DISABLED
    app = await app_ops.set_status(app, status)
    request.app[SERVICES].apps.forget(app.id)
    await audit(request, admin, tenant, f"app.{'enable' if status is AppStatus.ACTIVE else 'disable'}", app.name,
                app_id=app.id)
    return await _show(request, admin, tenant, app)


def setup(app: web.Application) -> None:
    app.router.add_get("/console/t/{tenant}/apps", apps_page)
    app.router.add_post("/console/t/{tenant}/apps", register)
    app.router.add_get("/console/t/{tenant}/apps/{id}", app_page)
    app.router.add_post("/console/t/{tenant}/apps/{id}/verify", verify)
    app.router.add_post("/console/t/{tenant}/apps/{id}/test", test_card)
    app.router.add_post("/console/t/{tenant}/apps/{id}/rotate", rotate)
    app.router.add_post("/console/t/{tenant}/apps/{id}/status", set_status)
