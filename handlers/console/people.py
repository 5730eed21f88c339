"""People: list and search, add, edit, disable with hand-over, CSV import with a preview, directory sync's diff.

Everything goes through `bot.admin.users` and `bot.admin.directory`, as `/admin/users` and the CLI do.

    GET  /console/t/{tenant}/people?q=               the list (search by name, id, phone, e-mail) and the add form
    POST /console/t/{tenant}/people                  add a person (per-field errors)
    GET  /console/t/{tenant}/people/{id}             edit form, and disabling with a successor
    POST /console/t/{tenant}/people/{id}             save the edit
    POST /console/t/{tenant}/people/{id}/disable     deactivate; open leads go to the successor or the pool
    POST /console/t/{tenant}/people/import           CSV: `preview` (a dry run, nothing written) or `apply`
    POST /console/t/{tenant}/people/sync             directory sync of one app: dry run shows the diff, or apply
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError
from tortoise.expressions import Q, Subquery

from bot.admin import app_verify, directory, platform_ids
from bot.admin import users as user_ops
from bot.admin.schemas import ImportReport, UserIn, UserPatch
from bot.admin.tenant_settings import TenantSettings
from bot.errors import Conflict, InvalidField, NotFound, PlatformError
from bot.runtime.appkeys import SERVICES
from handlers.console.common import Admin, Form, audit, field_errors, page, posting, refused, text, viewing
from storage.models import App, AppStatus, Role, Tenant, User, UserPlatformId

# Each platform's id field on a person (`bot.admin.platform_ids.EXTERNAL_FIELDS`): the list and the forms.
ID_FIELDS = platform_ids.EXTERNAL_FIELDS
MAX_CSV_BYTES = 1 << 20
# A page lists at most this many people; a search narrows a bigger tenant down.
SHOWN = 200


def form_fields() -> tuple[str, ...]:
    """The person form's fields, a platform's id among them (`ID_FIELDS` is known once the wiring is installed)."""
    return ("name", "role", "manager_id", *ID_FIELDS.values(), "phone", "email", "region", "industries")


def _reachable(user: User, ids: dict[str, str], sms_on: bool, email_on: bool) -> list[str]:
    """The channels an alert could reach this person by (`ids`: their id on each platform)."""
    out = [p for p in ID_FIELDS if ids.get(p)]
    if user.phone and sms_on:
        out.append("sms")
    if user.email and email_on:
        out.append("email")
    return out


def _search(tenant_id: int, q: str) -> Q:
    """Name, phone, e-mail, region or a platform id containing `q` (SQLite and PostgreSQL alike, any case)."""
    # The ids through a subquery, not a join: a person with two matching ids is still one row (and one in the count).
    by_id = UserPlatformId.filter(tenant_id=tenant_id, platform_user_id__icontains=q).values("user_id")
    return Q(*(Q(**{f"{name}__icontains": q}) for name in ("name", "phone", "email", "region")),
             Q(id__in=Subquery(by_id)), join_type=Q.OR)


async def _list(request: web.Request, admin: Admin, tenant: Tenant, *, status: int = 200,
                **extra: Any) -> web.Response:
    q = request.query.get("q", "").strip()[:100]
    # The database narrows and counts; only the people listed are loaded (a tenant may have thousands).
    matching = User.filter(tenant_id=tenant.id)
    matching = matching.filter(_search(tenant.id, q)) if q else matching
    found = await matching.count()
    shown = await matching.order_by("id").limit(SHOWN)
    managers = await User.filter(tenant_id=tenant.id).exclude(role=Role.REP).order_by("id")
    names = {u.id: u.name for u in managers}
    email_on = bool(request.app[SERVICES].settings.smtp_host)
    sms_on = TenantSettings.of(tenant.settings).notify.sms is not None
    ids = await platform_ids.ids_of_users(u.id for u in shown)
    rows = [(u, names.get(u.manager_id, "") if u.manager_id else "", _reachable(u, ids.get(u.id, {}), sms_on,
                                                                                  email_on), ids.get(u.id, {}))
            for u in shown]
    apps = await App.filter(tenant_id=tenant.id, status=AppStatus.ACTIVE).order_by("id")
    values = {"values": {"role": "rep"}, "errors": {}, "preview": None, "sync": None, "notice": None} | extra
    return page(request, "people.html", status=status, admin=admin, tenant=tenant, rows=rows, q=q, found=found,
                id_fields=ID_FIELDS, managers=[u for u in managers if u.active],
                apps=apps, **values)


async def people_page(request: web.Request) -> web.Response:
    seen = await viewing(request)
    if isinstance(seen, web.Response):
        return seen
    return await _list(request, *seen)


def _posted_person(form: Form, *, partial: bool) -> tuple[dict[str, str], dict[str, Any]]:
    """What the form showed (to show it again) and the data for `UserIn`/`UserPatch`: an empty optional field is
    left out of a new person, and cleared (null) on an edit."""
    shown = {k: text(form, k) for k in form_fields()}
    data: dict[str, Any] = {}
    for k, v in shown.items():
        if k == "industries":
            data[k] = user_ops.split_list(v)
        elif v:
            data[k] = v
        elif partial and k not in ("name", "role"):
            data[k] = None
    return shown, data


async def add_person(request: web.Request) -> web.Response:
    posted = await posting(request, "person added")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    shown, data = _posted_person(form, partial=False)
    try:
        user = await user_ops.create_user(tenant.id, UserIn.model_validate(data))
    except ValidationError as e:
        return await _list(request, admin, tenant, status=400, values=shown, errors=field_errors(e))
    except InvalidField as e:
        return await _list(request, admin, tenant, status=400, values=shown, errors={e.field: e.reason})
    except Conflict as e:
        return await _list(request, admin, tenant, status=409, values=shown, errors={"_": str(e)})
    await audit(request, admin, tenant, "person.add", user.name, user_id=user.id, role=str(user.role))
    return await _list(request, admin, tenant, status=201, notice=(f"已添加 {user.name}。", f"Added {user.name}."))


async def _person(request: web.Request, tenant: Tenant) -> User | None:
    raw = request.match_info["id"]
    user_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else 0
    return await User.get_or_none(id=user_id, tenant_id=tenant.id) if user_id else None


async def _fields_of(user: User) -> dict[str, Any]:
    """The person as the form names their fields (their platform ids included)."""
    ids = platform_ids.external(await platform_ids.ids_of(user))
    return {k: ids[k] if k in ids else getattr(user, k) for k in form_fields()}


async def _edit(request: web.Request, admin: Admin, tenant: Tenant, user: User, *, status: int = 200,
                values: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                notice: tuple[str, str] | None = None) -> web.Response:
    current = {k: v or "" for k, v in (await _fields_of(user)).items() if k != "industries"}
    current["industries"] = "，".join(user.industries or [])
    current["role"] = str(user.role)
    current["manager_id"] = str(user.manager_id or "")
    others = await User.filter(tenant_id=tenant.id, active=True).exclude(id=user.id).order_by("id")
    return page(request, "person.html", status=status, admin=admin, tenant=tenant, person=user,
                values=values or current, errors=errors or {}, notice=notice, id_fields=ID_FIELDS,
                managers=[u for u in others if u.role is not Role.REP], successors=others)


async def person_page(request: web.Request) -> web.Response:
    seen = await viewing(request)
    if isinstance(seen, web.Response):
        return seen
    admin, tenant = seen
    user = await _person(request, tenant)
    if user is None:
        return refused(request, 404, "没有这个人。", "No such person.")
    return await _edit(request, admin, tenant, user)


async def save_person(request: web.Request) -> web.Response:
    posted = await posting(request, "person edited")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    user = await _person(request, tenant)
    if user is None:
        return refused(request, 404, "没有这个人。", "No such person.")
    shown, data = _posted_person(form, partial=True)
    try:
        # Only what the admin changed goes into the patch, as an API client sends only what it changes: a field
        # set by hand is left alone by directory sync from then on, so resubmitting unchanged ones must not mark them.
        full = UserPatch.model_validate(data)
        now = await _fields_of(user)
        changed = sorted(k for k in data if getattr(full, k) != now[k])
        user = await user_ops.update_user(user, UserPatch.model_validate({k: data[k] for k in changed}))
    except ValidationError as e:
        return await _edit(request, admin, tenant, user, status=400, values=shown, errors=field_errors(e))
    except InvalidField as e:
        return await _edit(request, admin, tenant, user, status=400, values=shown, errors={e.field: e.reason})
    except Conflict as e:
        return await _edit(request, admin, tenant, user, status=409, values=shown, errors={"_": str(e)})
    await audit(request, admin, tenant, "person.edit", user.name, user_id=user.id, fields=changed)
    return await _edit(request, admin, tenant, user, notice=("已保存。", "Saved."))


async def disable_person(request: web.Request) -> web.Response:
    posted = await posting(request, "person disabled")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    user = await _person(request, tenant)
    if user is None:
        return refused(request, 404, "没有这个人。", "No such person.")
    raw = text(form, "successor_id")
    successor = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None
    try:
        user = await user_ops.disable_with_handover(request.app[SERVICES], user, successor)
    except InvalidField as e:
        return await _edit(request, admin, tenant, user, status=400, errors={e.field: e.reason})
    await audit(request, admin, tenant, "person.disable", user.name, user_id=user.id, successor_id=successor)
    return await _edit(request, admin, tenant, user, notice=("已停用，进行中的线索已转交。",
                                                             "Disabled; their open leads were handed over."))


async def _csv_text(form: Form) -> str | None:
    upload = form.get("file")
    if isinstance(upload, web.FileField):
        raw = upload.file.read(MAX_CSV_BYTES + 1)
        if raw:
            return raw.decode("utf-8") if len(raw) <= MAX_CSV_BYTES else None
    value = form.get("csv", "")
    return value if isinstance(value, str) else None


async def import_people(request: web.Request) -> web.Response:
    posted = await posting(request, "CSV import")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    try:
        csv_text = await _csv_text(form)
    except UnicodeDecodeError:
        csv_text = None
    if not csv_text:
        return await _list(request, admin, tenant, status=400,
                           errors={"csv": "请上传或粘贴 UTF-8 编码的 CSV（1 MB 以内） / a UTF-8 CSV of at most 1 MB"})
    try:
        rows = user_ops.read_csv(csv_text)  # all of it first: an unreadable file imports nothing
    except InvalidField as e:
        return await _list(request, admin, tenant, status=400, errors={"csv": e.reason})
    apply = text(form, "action") == "apply"
    # The preview is the import itself in a transaction rolled back: the same checks, nothing written.
    report = await user_ops.import_rows(tenant.id, rows, ImportReport(), dry_run=True)
    if apply and not report.errors:
        report = await user_ops.import_rows(tenant.id, rows, ImportReport())
        await audit(request, admin, tenant, "people.import", f"{len(rows)} rows", created=report.created,
                    updated=report.updated, errors=len(report.errors))
    errors_by_row: dict[int, list[str]] = {}
    for err in report.errors:
        reason = err.reason.removeprefix("Value error, ")  # pydantic's prefix for a validator's own words
        errors_by_row.setdefault(err.row, []).append(f"{err.field}: {reason}" if err.field else reason)
    preview = {"rows": [(line, row, errors_by_row.get(line, [])) for line, row in rows], "report": report,
               "applied": apply and not report.errors, "csv": csv_text, "columns": user_ops.csv_columns()}
    return await _list(request, admin, tenant, status=400 if report.errors else 200, preview=preview)


async def sync_directory(request: web.Request) -> web.Response:
    posted = await posting(request, "directory sync")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    raw = text(form, "app_id")
    app_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else 0
    app = await App.get_or_none(id=app_id, tenant_id=tenant.id) if app_id else None
    if app is None:
        return await _list(request, admin, tenant, status=400, errors={"app_id": "请选择一个应用 / choose an app"})
    services = request.app[SERVICES]
    apply = text(form, "action") == "apply"
    try:
        loaded = await services.apps.require(app.id)
        report = await directory.sync(services, loaded, dry_run=not apply, now=services.clock.now())
    except PlatformError as e:
        return await _list(request, admin, tenant, status=424,
                           errors={"app_id": f"directory not read: {app_verify.refusal(app.platform, e)}"})
    except NotFound as e:
        return await _list(request, admin, tenant, status=400, errors={"app_id": str(e)})
    if apply:
        await audit(request, admin, tenant, "people.directory_sync", app.name, app_id=app.id,
                    **{k: len(v) for k, v in report.as_dict().items() if isinstance(v, list)})
    return await _list(request, admin, tenant, sync={"app": app, "report": report.as_dict()})


def setup(app: web.Application) -> None:
    app.router.add_get("/console/t/{tenant}/people", people_page)
    app.router.add_post("/console/t/{tenant}/people", add_person)
    app.router.add_post("/console/t/{tenant}/people/import", import_people)
    app.router.add_post("/console/t/{tenant}/people/sync", sync_directory)
    app.router.add_get("/console/t/{tenant}/people/{id}", person_page)
    app.router.add_post("/console/t/{tenant}/people/{id}", save_person)
    app.router.add_post("/console/t/{tenant}/people/{id}/disable", disable_person)
