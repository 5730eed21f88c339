"""`/admin/…`: tenants, their tokens, apps and users. Every route needs a bearer token.

The operator token sees every tenant; a tenant's admin token sees only its own, and another tenant's objects answer
404 as if they did not exist. Handlers validate, call `bot.admin.apps` / `bot.admin.users`, and shape the answer: no
business rule lives here.
"""

from __future__ import annotations

import secrets as _random

from aiohttp import web

from bot.admin import app_verify
from bot.admin import apps as app_ops
from bot.admin import rules as rule_ops
from bot.admin import users as user_ops
from bot.admin.schemas import (
    ROW_ID_MAX,
    AppIn,
    AppOut,
    AppPatch,
    AppQuery,
    DirectorySyncIn,
    DirectorySyncOut,
    ImportReport,
    TenantIn,
    TenantOut,
    TenantPatch,
    TestCardIn,
    TestCardOut,
    TokenCreated,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserPatch,
    UserQuery,
    VerifyOut,
)
from bot.leads.schemas import DisableUserIn, RuleIn, RuleOut
from bot.runtime import tenant_cache
from bot.runtime.appkeys import SERVICES
from handlers.auth import Principal, authenticate, token_digest
from handlers.http import HttpProblem, json_out, positive_id, query_model, read_body, read_model
from handlers.openapi import ApiRoutes
from storage.models import ApiToken, App, AppStatus, RoutingRule, Tenant, TokenScope, User

API = ApiRoutes()


def _id(request: web.Request, name: str = "id") -> int:
    return positive_id(request.match_info[name], name, ROW_ID_MAX)


async def _admin(request: web.Request) -> Principal:
    return await authenticate(request, need=TokenScope.ADMIN)


async def _operator(request: web.Request) -> Principal:
    principal = await _admin(request)
    if not principal.is_operator:
        raise HttpProblem(403, "forbidden", "only the operator token manages tenants")
    return principal


async def _tenant(principal: Principal, tenant_id: int) -> Tenant:
    principal.check_tenant(tenant_id, "tenant")
    tenant = await Tenant.get_or_none(id=tenant_id)
    if tenant is None:
        raise HttpProblem(404, "not_found", f"tenant {tenant_id} not found")
    return tenant


# Tenants


@API.route("POST", "/admin/tenants", summary="Create a tenant (company)", tags=("tenants",), body=TenantIn,
           ok=201, response=TenantOut, errors=(401, 403, 409))
async def create_tenant(request: web.Request) -> web.Response:
    await _operator(request)
    data = await read_model(request, TenantIn)
    if await Tenant.exists(name=data.name):
        raise HttpProblem(409, "conflict", f"tenant {data.name!r} exists")
    tenant = await Tenant.create(**data.model_dump())
    return json_out(TenantOut.model_validate(tenant), 201)


@API.route("GET", "/admin/tenants", summary="List tenants (a tenant token sees its own)", tags=("tenants",),
           response=TenantOut, many=True)
async def list_tenants(request: web.Request) -> web.Response:
    principal = await _admin(request)
    qs = Tenant.all().order_by("id")
    if not principal.is_operator:
        qs = qs.filter(id=principal.tenant_id)
    return json_out([TenantOut.model_validate(t) for t in await qs])


@API.route("GET", "/admin/tenants/{id}", summary="Show a tenant", tags=("tenants",), response=TenantOut)
async def show_tenant(request: web.Request) -> web.Response:
    tenant = await _tenant(await _admin(request), _id(request))
    return json_out(TenantOut.model_validate(tenant))


@API.route("PATCH", "/admin/tenants/{id}", summary="Update a tenant", tags=("tenants",), body=TenantPatch,
           response=TenantOut, errors=(401, 403, 409))
async def update_tenant(request: web.Request) -> web.Response:
    principal = await _operator(request)
    tenant = await _tenant(principal, _id(request))
    patch = await read_model(request, TenantPatch)
    changes = patch.model_dump(exclude_unset=True, exclude_none=True)
    if "name" in changes and await Tenant.filter(name=changes["name"]).exclude(id=tenant.id).exists():
        raise HttpProblem(409, "conflict", f"tenant {changes['name']!r} exists")
    await tenant.update_from_dict(changes).save()
    await tenant_cache.changed(request.app[SERVICES].redis, tenant.id)  # its tokens' tenant as kept (active, name)
    return json_out(TenantOut.model_validate(tenant))


@API.route("POST", "/admin/tenants/{id}/tokens", summary="Create a tenant token (shown once)", tags=("tokens",),
           body=TokenIn, ok=201, response=TokenCreated)
async def create_token(request: web.Request) -> web.Response:
    principal = await _admin(request)
    tenant = await _tenant(principal, _id(request))
    data = await read_model(request, TokenIn)
    token = "lbt_" + _random.token_urlsafe(32)
    row = await ApiToken.create(tenant=tenant, name=data.name, scope=data.scope, token_sha256=token_digest(token))
    return json_out(TokenCreated.model_validate({**TokenOut.model_validate(row).model_dump(), "token": token}), 201)


@API.route("GET", "/admin/tenants/{id}/tokens", summary="List a tenant's tokens", tags=("tokens",),
           response=TokenOut, many=True)
async def list_tokens(request: web.Request) -> web.Response:
    tenant = await _tenant(await _admin(request), _id(request))
    rows = await ApiToken.filter(tenant=tenant).order_by("id")
    return json_out([TokenOut.model_validate(r) for r in rows])


@API.route("POST", "/admin/tokens/{id}/revoke", summary="Revoke a token", tags=("tokens",), response=TokenOut)
async def revoke_token(request: web.Request) -> web.Response:
    principal = await _admin(request)
    row = await ApiToken.get_or_none(id=_id(request))
    if row is None:
        raise HttpProblem(404, "not_found", "token not found")
    principal.check_tenant(row.tenant_id, "token")
    if row.revoked_at is None:
        row.revoked_at = request.app[SERVICES].clock.now()
        await row.save(update_fields=["revoked_at", "updated_at"])
        await tenant_cache.changed(request.app[SERVICES].redis, row.tenant_id)  # refused from the next request on
    return json_out(TokenOut.model_validate(row))


# Apps


async def _app(request: web.Request, principal: Principal) -> App:
    app = await App.get_or_none(id=_id(request))
    if app is None:
        raise HttpProblem(404, "not_found", "app not found")
    principal.check_tenant(app.tenant_id, "app")
    return app


def _app_out(request: web.Request, app: App, *, checklist: bool = False) -> AppOut:
    return app_ops.app_out(app, request.app[SERVICES].settings.base_url(), checklist=checklist)


@API.route("POST", "/admin/apps", summary="Register a chat platform's app", tags=("apps",), body=AppIn, ok=201,
           response=AppOut, errors=(401, 403, 404, 409))
async def create_app_(request: web.Request) -> web.Response:
    principal = await _admin(request)
    data = (await read_model(request, AppIn)).root
    tenant_id = principal.tenant_for(data.tenant_id)
    services = request.app[SERVICES]
    app = await app_ops.register_app(services.box, services.settings, tenant_id, data)
    return json_out(_app_out(request, app, checklist=True), 201)


@API.route("GET", "/admin/apps", summary="List apps", tags=("apps",), query=AppQuery, response=AppOut, many=True)
async def list_apps(request: web.Request) -> web.Response:
    principal = await _admin(request)
    q = query_model(request, AppQuery)
    qs = App.all().order_by("id")
    tenant_id = principal.tenant_id or q.tenant_id
    if principal.tenant_id and q.tenant_id and q.tenant_id != principal.tenant_id:
        return json_out([])
    if tenant_id:
        qs = qs.filter(tenant_id=tenant_id)
    if q.platform:
        qs = qs.filter(platform=q.platform)
    if q.status:
        qs = qs.filter(status=q.status)
    return json_out([_app_out(request, a) for a in await qs])


@API.route("GET", "/admin/apps/{id}", summary="Show an app (secrets are never returned)", tags=("apps",),
           response=AppOut)
async def show_app(request: web.Request) -> web.Response:
    return json_out(_app_out(request, await _app(request, await _admin(request))))


@API.route("PATCH", "/admin/apps/{id}", summary="Update an app's name, api_base or credentials", tags=("apps",),
           body=AppPatch, response=AppOut, errors=(401, 403, 409))
async def update_app(request: web.Request) -> web.Response:
    principal = await _admin(request)
    app = await _app(request, principal)
    patch = await read_model(request, AppPatch)
    services = request.app[SERVICES]
    app = await app_ops.update_app(services.box, services.settings, app, patch)
    services.apps.forget(app.id)
    return json_out(_app_out(request, app))


async def _set_status(request: web.Request, status: AppStatus) -> web.Response:
    app = await _app(request, await _admin(request))
    app = await app_ops.set_status(app, status)
    request.app[SERVICES].apps.forget(app.id)
    return json_out(_app_out(request, app))


@API.route("POST", "/admin/apps/{id}/disable", summary="Disable an app: its callbacks are refused",
           tags=("apps",), response=AppOut)
async def disable_app(request: web.Request) -> web.Response:
    return await _set_status(request, AppStatus.DISABLED)


@API.route("POST", "/admin/apps/{id}/enable", summary="Enable a disabled app", tags=("apps",), response=AppOut)
async def enable_app(request: web.Request) -> web.Response:
    return await _set_status(request, AppStatus.ACTIVE)


@API.route("POST", "/admin/apps/{id}/verify", summary="Check that an app works end to end: every check the platform "
           "allows, each ok/warn/fail with a next step",
           tags=("apps",), response=VerifyOut)
async def verify_app(request: web.Request) -> web.Response:
    app = await _app(request, await _admin(request))
    return json_out(await app_verify.verify_app(request.app[SERVICES], app.id))


@API.route("POST", "/admin/apps/{id}/directory/sync", summary="Sync users from the platform directory: a dry "
           "run (the default) shows the diff, {\"apply\": true} makes it; 424 when the platform refuses the read or "
           "cannot be reached", tags=("apps", "users"), body=DirectorySyncIn, response=DirectorySyncOut,
           errors=(401, 403, 404, 424))
async def sync_directory(request: web.Request) -> web.Response:
    from bot.admin import directory
    from bot.errors import PlatformError

    app = await _app(request, await _admin(request))
    data = await read_model(request, DirectorySyncIn, optional=True)
    services = request.app[SERVICES]
    loaded = await services.apps.require(app.id)
    try:
        report = await directory.sync(services, loaded, dry_run=not data.apply, now=services.clock.now())
    except PlatformError as e:
        # Our words and at most the platform's code (`app_verify.refusal`), never what answered at api_base.
        raise HttpProblem(424, "platform_refused", f"directory not read: {app_verify.refusal(app.platform, e)}"
                          ) from None
    return json_out(DirectorySyncOut.model_validate(report.as_dict()))


@API.route("POST", "/admin/apps/{id}/test", summary="Send a test card to a mapped person; their click is recorded "
           "(GET shows it)", tags=("apps",), body=TestCardIn, response=TestCardOut)
async def send_test_card(request: web.Request) -> web.Response:
    from bot.chat import testcard

    app = await _app(request, await _admin(request))
    data = await read_model(request, TestCardIn)
    return json_out(TestCardOut.model_validate(await testcard.send(request.app[SERVICES], app.id, data.to)))


@API.route("GET", "/admin/apps/{id}/test", summary="What became of the app's latest test card", tags=("apps",),
           response=TestCardOut)
async def show_test_card(request: web.Request) -> web.Response:
    from bot.chat import testcard

    app = await _app(request, await _admin(request))
    return json_out(TestCardOut.model_validate(await testcard.status(request.app[SERVICES], app.id)))


# Users


async def _user(request: web.Request, principal: Principal) -> User:
    user = await User.get_or_none(id=_id(request))
    if user is None:
        raise HttpProblem(404, "not_found", "user not found")
    principal.check_tenant(user.tenant_id, "user")
    return user


@API.route("POST", "/admin/users", summary="Add a rep, manager or admin", tags=("users",), body=UserIn, ok=201,
           response=UserOut, errors=(401, 403, 404, 409))
async def create_user(request: web.Request) -> web.Response:
    principal = await _admin(request)
    data = await read_model(request, UserIn)
    user = await user_ops.create_user(principal.tenant_for(data.tenant_id), data)
    return json_out(await user_ops.user_out(user), 201)


@API.route("GET", "/admin/users", summary="List users", tags=("users",), query=UserQuery, response=UserOut,
           many=True)
async def list_users(request: web.Request) -> web.Response:
    principal = await _admin(request)
    q = query_model(request, UserQuery)
    if principal.tenant_id and q.tenant_id and q.tenant_id != principal.tenant_id:
        return json_out([])
    qs = User.all().order_by("id")
    tenant_id = principal.tenant_id or q.tenant_id
    if tenant_id:
        qs = qs.filter(tenant_id=tenant_id)
    if q.role:
        qs = qs.filter(role=q.role)
    if q.active is not None:
        qs = qs.filter(active=q.active)
    return json_out(await user_ops.users_out(await qs))


@API.route("GET", "/admin/users/{id}", summary="Show a user", tags=("users",), response=UserOut)
async def show_user(request: web.Request) -> web.Response:
    return json_out(await user_ops.user_out(await _user(request, await _admin(request))))


@API.route("PATCH", "/admin/users/{id}", summary="Update a user", tags=("users",), body=UserPatch,
           response=UserOut, errors=(401, 403, 409))
async def update_user(request: web.Request) -> web.Response:
    principal = await _admin(request)
    user = await _user(request, principal)
    user = await user_ops.update_user(user, await read_model(request, UserPatch))
    return json_out(await user_ops.user_out(user))


@API.route("POST", "/admin/users/{id}/disable",
           summary="Deactivate a user: their open leads go to a successor or back to the pool, managers are told",
           tags=("users",), body=DisableUserIn, response=UserOut)
async def disable_user(request: web.Request) -> web.Response:
    principal = await _admin(request)
    user = await _user(request, principal)
    data = await read_model(request, DisableUserIn, optional=True)
    user = await user_ops.disable_with_handover(request.app[SERVICES], user, data.successor_id)
    return json_out(await user_ops.user_out(user))


# Routing rules and tenant settings


@API.route("GET", "/admin/tenants/{id}/rules", summary="A tenant's routing rules, in order", tags=("routing",),
           response=RuleOut, many=True)
async def list_rules(request: web.Request) -> web.Response:
    tenant = await _tenant(await _admin(request), _id(request))
    return json_out([RuleOut.model_validate(r) for r in await rule_ops.ordered(tenant.id)])


@API.route("POST", "/admin/tenants/{id}/rules", summary="Add a routing rule", tags=("routing",), body=RuleIn,
           ok=201, response=RuleOut)
async def create_rule(request: web.Request) -> web.Response:
    tenant = await _tenant(await _admin(request), _id(request))
    row = await rule_ops.create_rule(tenant.id, await read_model(request, RuleIn))
    await tenant_cache.changed(request.app[SERVICES].redis, tenant.id)
    return json_out(RuleOut.model_validate(row), 201)


async def _rule(request: web.Request, principal: Principal) -> RoutingRule:
    row = await RoutingRule.get_or_none(id=_id(request))
    if row is None:
        raise HttpProblem(404, "not_found", "rule not found")
    principal.check_tenant(row.tenant_id, "rule")
    return row


@API.route("PUT", "/admin/rules/{id}", summary="Replace a routing rule", tags=("routing",), body=RuleIn,
           response=RuleOut)
async def replace_rule(request: web.Request) -> web.Response:
    row = await _rule(request, await _admin(request))
    row = await rule_ops.replace_rule(row, await read_model(request, RuleIn))
    await tenant_cache.changed(request.app[SERVICES].redis, row.tenant_id)
    return json_out(RuleOut.model_validate(row))


@API.route("DELETE", "/admin/rules/{id}", summary="Delete a routing rule", tags=("routing",), response=RuleOut)
async def delete_rule(request: web.Request) -> web.Response:
    row = await _rule(request, await _admin(request))
    await row.delete()
    await tenant_cache.changed(request.app[SERVICES].redis, row.tenant_id)
    return json_out(RuleOut.model_validate(row))


@API.route("POST", "/admin/tenants/{id}/users/import", summary="Import users from CSV (text/csv body)",
           tags=("users",), ok=200, response=ImportReport, errors=(401, 403, 413))
async def import_users(request: web.Request) -> web.Response:
    principal = await _admin(request)
    tenant = await _tenant(principal, _id(request))
    raw = await read_body(request)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpProblem(400, "invalid", "CSV must be UTF-8") from None
    rows = user_ops.read_csv(text)  # all of it first: an unreadable file imports nothing
    return json_out(await user_ops.import_rows(tenant.id, rows, ImportReport()))
