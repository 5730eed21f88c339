"""Settings: response deadlines per intent tier, the working calendar (hours, a tenant's own days, the official
holiday schedules and next year's), the escalation ladder, the alert channels with "send me a test", the lexicon.

Changes go through `bot.admin.settings_patch.apply` (what `PATCH /admin/tenants/{id}/settings` and `leadbot settings
set` call), official schedules through `bot.calendar.holidays` (operator only, as `PUT /admin/holidays/{year}`).

    GET  /console/t/{tenant}/settings
    POST /console/t/{tenant}/settings/deadlines      workflow.deadline_minutes and the default
    POST /console/t/{tenant}/settings/calendar       calendar.hours and calendar.overrides
    POST /console/t/{tenant}/settings/escalation     escalation.steps, stale_after_hours
    POST /console/t/{tenant}/settings/holidays       load a year's official schedule (the operator)
    POST /console/t/{tenant}/settings/channels       notify.chain and the SMS provider (`notify.sms`; its form is made
                                                     from the providers' table, `bot.alerting.notify.providers`)
    POST /console/t/{tenant}/settings/test           send a test SMS or e-mail
    POST /console/t/{tenant}/settings/lexicon        the lexicon's competitors and word lists (`lexicons.store`,
                                                     as `PUT /admin/tenants/{id}/lexicon`)
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bot.admin import settings_patch
from bot.admin.tenant_settings import LexiconSection, TenantSettings
from bot.admin.users import split_list
from bot.alerting.notify.providers import SMS_PROVIDERS
from bot.alerting.notify.trial import send_trial
from bot.calendar import holidays
from bot.errors import InvalidField
from bot.leads.types import IntentTier
from bot.runtime import tenant_cache
from bot.runtime.appkeys import SERVICES
from bot.voice import lexicons
from handlers.console.common import Admin, Form, audit, field_errors, page, posting, text, viewing
from storage.models import Tenant


async def _page(request: web.Request, admin: Admin, tenant: Tenant, *, status: int = 200, **extra: Any
                ) -> web.Response:
    services = request.app[SERVICES]
    settings = TenantSettings.of(tenant.settings)
    shown = settings_patch.shown(settings)
    today = holidays.today(services.clock)
    years = [(y, holidays.known(y)) for y in (today.year, today.year + 1)]
    lexicon = await lexicons.tenant_section(tenant.id)
    me = admin.user
    values = {"errors": {}, "notice": None, "sent": None, "to": {"sms": me.phone if me else "",
                                                                    "email": me.email if me else ""}} | extra
    return page(request, "settings.html", status=status, admin=admin, tenant=tenant, s=shown, tiers=list(IntentTier),
                years=years, missing=holidays.missing_years(today), lexicon=lexicon,
                email_on=bool(services.settings.smtp_host), providers=_provider_forms(), **values)


def _provider_forms() -> list[tuple[str, list[str], str]]:
    """Each SMS provider's form as the page shows it: its name, its plain fields in the form's order (the secret
    last, as a password field), and the secret's field name."""
    out = []
    for provider in SMS_PROVIDERS.values():
        names = [n for n in provider.form.model_fields if n not in ("provider", provider.secret_field)]
        out.append((provider.name, names, provider.secret_field))
    return out


def _channels_patch(form: Form) -> dict[str, Any]:
    """The `notify` patch of the channels form: the chain in the order given, and the chosen provider's fields (a
    field left empty is left out; the secret left empty keeps the stored one, as the API does)."""
    # Spaces separate too here: channel names and template variables hold none.
    chain = split_list(text(form, "chain").replace(" ", ","))
    patch: dict[str, Any] = {"chain": chain}
    chosen = text(form, "provider")
    if chosen == "none":
        patch["sms"] = None
    elif chosen in SMS_PROVIDERS:
        provider = SMS_PROVIDERS[chosen]
        sms: dict[str, Any] = {"provider": chosen}
        for name in provider.form.model_fields:
            if name == "provider":
                continue
            value = text(form, f"sms_{chosen}_{name}")
            if name == "params":
                if value:
                    sms[name] = split_list(value.replace(" ", ","))
            elif value:
                sms[name] = value
        patch["sms"] = sms
    elif chosen:
        raise InvalidField("notify.sms.provider", f"one of {', '.join(SMS_PROVIDERS)} or none")
    return patch


async def settings_page(request: web.Request) -> web.Response:
    seen = await viewing(request)
    if isinstance(seen, web.Response):
        return seen
    return await _page(request, *seen)


async def _apply(request: web.Request, admin: Admin, tenant: Tenant, patch: dict[str, Any],
                 notice: tuple[str, str]) -> web.Response:
    services = request.app[SERVICES]
    try:
        await settings_patch.apply(tenant, patch, services.box, services.settings.allow_private_urls)
    except InvalidField as e:
        return await _page(request, admin, tenant, status=400, errors={e.field: e.reason})
    await tenant_cache.changed(services.redis, tenant.id)  # the tenant as API requests keep it
    for section, change in patch.items():
        await audit(request, admin, tenant, f"settings.{section}", section, patch=_without_secrets(change))
    return await _page(request, admin, tenant, notice=notice)


def _without_secrets(change: Any) -> Any:
    """A section's patch as the admins' audit keeps it: an SMS secret only as "changed", never its value."""
    sms = change.get("sms") if isinstance(change, dict) else None
    if not isinstance(sms, dict):
        return change
    secrets = {p.secret_field for p in SMS_PROVIDERS.values()}
    return {**change, "sms": {k: ("(changed)" if k in secrets else v) for k, v in sms.items()}}


def _minutes(form: Form, name: str, field: str) -> int:
    raw = text(form, name)
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6:
        raise InvalidField(field, "分钟数（整数） / whole minutes")
    return int(raw)


async def deadlines(request: web.Request) -> web.Response:
    posted = await posting(request, "deadlines changed")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    try:
        per_tier = {str(t): _minutes(form, f"tier_{t}", f"workflow.deadline_minutes.{t}") for t in IntentTier}
        default = _minutes(form, "default", "workflow.default_deadline_minutes")
    except InvalidField as e:
        return await _page(request, admin, tenant, status=400, errors={e.field: e.reason})
    return await _apply(request, admin, tenant, {"workflow": {"deadline_minutes": per_tier,
                                                              "default_deadline_minutes": default}},
                        ("时限已保存。", "Deadlines saved."))


def _hours(raw: str) -> list[list[str]]:
    """`09:00-12:00, 13:30-18:00` as the calendar section's periods (the section checks each time)."""
    periods = []
    for part in raw.replace("，", ",").split(","):
        if part.strip():
            start, _, end = part.strip().partition("-")
            periods.append([start.strip(), end.strip()])
    return periods


def _overrides(raw: str) -> dict[str, bool]:
    """One day a line: `2026-10-10 上班` / `work` (a working day) or `休息` / `off` (a day off)."""
    out: dict[str, bool] = {}
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        day, _, kind = line.strip().partition(" ")
        kind = kind.strip().lower()
        if kind not in ("work", "off", "上班", "休息"):
            raise InvalidField("calendar.overrides", f"line {n}: DATE work|off (上班|休息)")
        out[day.strip()] = kind in ("work", "上班")
    return out


async def calendar(request: web.Request) -> web.Response:
    posted = await posting(request, "calendar changed")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    try:
        section = {"hours": _hours(text(form, "hours")), "overrides": _overrides(text(form, "overrides"))}
    except InvalidField as e:
        return await _page(request, admin, tenant, status=400, errors={e.field: e.reason})
    # A merge patch merges overrides day by day: a day taken off the list is sent as null, which removes it.
    before = ((tenant.settings or {}).get("calendar") or {}).get("overrides") or {}
    section["overrides"] = {day: None for day in before if day not in section["overrides"]} | section["overrides"]
    return await _apply(request, admin, tenant, {"calendar": section}, ("工作日历已保存。", "Calendar saved."))


async def escalation(request: web.Request) -> web.Response:
    posted = await posting(request, "escalation changed")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    steps = []
    for n, line in enumerate(text(form, "steps").splitlines(), start=1):
        if line.strip():
            action, _, delay = line.strip().partition(" ")
            delay = delay.strip() or "0"
            if not (delay.isascii() and delay.isdigit()):
                return await _page(request, admin, tenant, status=400,
                                   errors={"escalation.steps": f"line {n}: ACTION MINUTES"})
            steps.append({"action": action, "delay_minutes": int(delay)})
    patch: dict[str, Any] = {"steps": steps, "delays_in_working_time": text(form, "working_time") == "on"}
    if text(form, "stale_after_hours"):
        stale = text(form, "stale_after_hours")
        patch["stale_after_hours"] = int(stale) if stale.isascii() and stale.isdigit() else stale
    return await _apply(request, admin, tenant, {"escalation": patch}, ("升级流程已保存。", "Escalation saved."))


async def channels(request: web.Request) -> web.Response:
    posted = await posting(request, "channels changed")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    try:
        patch = _channels_patch(form)
    except InvalidField as e:
        return await _page(request, admin, tenant, status=400, errors={e.field: e.reason})
    # `_apply` writes the SMS secret to the admins' audit only as "(changed)" (`_without_secrets`).
    return await _apply(request, admin, tenant, {"notify": patch}, ("提醒渠道已保存。", "Alert channels saved."))


async def load_holidays(request: web.Request) -> web.Response:
    posted = await posting(request, "holiday schedule")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    if not admin.is_operator:
        return await _page(request, admin, tenant, status=403,
                           errors={"holidays": "只有运维可以加载国家法定节假日安排 / only the operator loads the "
                                               "official schedule"})
    try:
        raw = json.loads(text(form, "schedule") or "null")
        await holidays.store(holidays.parse_schedule(raw))
    except ValueError as e:
        return await _page(request, admin, tenant, status=400, errors={"holidays": f"JSON: {e}"})
    except InvalidField as e:
        return await _page(request, admin, tenant, status=400, errors={"holidays": f"{e.field}: {e.reason}"})
    await holidays.refresh()
    await audit(request, admin, tenant, "holidays.load", str(raw.get("year", "")) if isinstance(raw, dict) else "")
    return await _page(request, admin, tenant, notice=("节假日安排已加载。", "Schedule loaded."))


async def send_test(request: web.Request) -> web.Response:
    posted = await posting(request, "test message")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    channel, to = text(form, "channel"), text(form, "to")
    addresses = {"sms": "", "email": ""} | {channel: to}
    try:
        result = await send_trial(request.app[SERVICES], tenant, channel, to)
    except InvalidField as e:
        return await _page(request, admin, tenant, status=400, to=addresses,
                           errors={f"{channel}.{e.field}" if e.field == "to" else e.field: e.reason})
    await audit(request, admin, tenant, "notify.test", channel, to=result.address, outcome=str(result.outcome),
                code=result.code)
    return await _page(request, admin, tenant, to=addresses, sent=result)


LEXICON_LISTS = ("products", "titles", "keywords", "hotwords")


def _words(raw: str) -> list[str]:
    return split_list(raw.replace("\n", ","))


async def lexicon(request: web.Request) -> web.Response:
    posted = await posting(request, "lexicon changed")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    competitors: dict[str, list[str]] = {}
    for line in text(form, "competitors").splitlines():
        name, _, aliases = line.replace("：", ":").partition(":")
        if name.strip():
            competitors[name.strip()] = _words(aliases)
    # The lists shown are replaced; what the form does not show (removals, context words, title roles) is kept.
    current = (await lexicons.tenant_section(tenant.id)).model_dump()
    data = current | {"competitors": competitors} | {k: _words(text(form, k)) for k in LEXICON_LISTS}
    try:
        section = LexiconSection.model_validate(data)
        await lexicons.store(tenant.id, section)
        await tenant_cache.changed(request.app[SERVICES].redis, tenant.id)  # the tenant as API requests keep it
    except ValidationError as e:
        return await _page(request, admin, tenant, status=400, errors={
            f"lexicon.{k}": v for k, v in field_errors(e).items()})
    except InvalidField as e:
        return await _page(request, admin, tenant, status=400, errors={f"lexicon.{e.field}": e.reason})
    await audit(request, admin, tenant, "settings.lexicon", "lexicon", competitors=len(competitors),
                **{k: len(data[k]) for k in LEXICON_LISTS})
    return await _page(request, admin, tenant, notice=("词库已保存。", "Lexicon saved."))


def setup(app: web.Application) -> None:
    app.router.add_get("/console/t/{tenant}/settings", settings_page)
    app.router.add_post("/console/t/{tenant}/settings/deadlines", deadlines)
    app.router.add_post("/console/t/{tenant}/settings/calendar", calendar)
    app.router.add_post("/console/t/{tenant}/settings/escalation", escalation)
    app.router.add_post("/console/t/{tenant}/settings/holidays", load_holidays)
    app.router.add_post("/console/t/{tenant}/settings/channels", channels)
    app.router.add_post("/console/t/{tenant}/settings/test", send_test)
    app.router.add_post("/console/t/{tenant}/settings/lexicon", lexicon)
