"""Routing rules: the ordered list, moving a rule up or down, adding and deleting, and a trial lead ("which rep
would get this?"), all through `bot.admin.rules` as `/admin/tenants/{id}/rules` and the CLI.

    GET  /console/t/{tenant}/rules                   the rules in the order they are tried, the add and trial forms
    POST /console/t/{tenant}/rules                   add a rule (per-field errors)
    POST /console/t/{tenant}/rules/trial             route a sample lead by the rules as they stand (nothing stored)
    POST /console/t/{tenant}/rules/{id}/move         one place up or down
    POST /console/t/{tenant}/rules/{id}/delete       delete
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bot.admin import rules as rule_ops
from bot.admin.users import split_list
from bot.errors import InvalidField, NotFound
from bot.leads.schemas import RuleIn
from bot.runtime import tenant_cache
from bot.runtime.appkeys import SERVICES
from handlers.console.common import Admin, Form, audit, field_errors, page, posting, refused, text, viewing
from storage.models import RoutingRule, Tenant, User

LISTS = ("regions", "industries", "sources", "tags_any")


async def _page(request: web.Request, admin: Admin, tenant: Tenant, *, status: int = 200, **extra: Any
                ) -> web.Response:
    rows = await rule_ops.ordered(tenant.id)
    # Plain rows, not model objects: the rep pickers list every active person of a tenant that may have thousands.
    people = await User.filter(tenant_id=tenant.id).order_by("id").values("id", "name", "active")
    values = {"values": {"strategy": "least_loaded"}, "errors": {}, "sample": {}, "trial": None,
              "notice": None} | extra
    return page(request, "rules.html", status=status, admin=admin, tenant=tenant, rules=rows,
                names={p["id"]: p["name"] for p in people}, reps=[p for p in people if p["active"]], **values)


async def rules_page(request: web.Request) -> web.Response:
    seen = await viewing(request)
    if isinstance(seen, web.Response):
        return seen
    return await _page(request, *seen)


def _money(raw: str) -> int | str | None:
    """Yuan as typed (commas and spaces allowed); what is not a number is passed on for the model to refuse."""
    cleaned = raw.replace(",", "").replace("，", "").replace(" ", "")
    return int(cleaned) if cleaned.isascii() and cleaned.isdigit() else (raw or None)


def _posted_rule(form: Form) -> dict[str, Any]:
    data: dict[str, Any] = {"name": text(form, "name"), "strategy": text(form, "strategy") or "least_loaded"}
    for name in LISTS:
        data[name] = split_list(text(form, name))
    for name in ("budget_min", "budget_max"):
        if text(form, name):
            data[name] = _money(text(form, name))
    reps = [v for v in form.getall("rep_ids", []) if isinstance(v, str) and v.isascii() and v.isdigit()]
    data["rep_ids"] = [int(v) for v in reps[:500]]
    if text(form, "named_rep_id"):
        data["named_rep_id"] = text(form, "named_rep_id")
    return data


async def add_rule(request: web.Request) -> web.Response:
    posted = await posting(request, "rule added")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    data = _posted_rule(form)
    shown = {k: text(form, k) for k in ("name", "strategy", *LISTS, "budget_min", "budget_max", "named_rep_id")}
    last = (await rule_ops.ordered(tenant.id))[-1:]
    data["position"] = (last[0].position + 10) if last else 10  # a new rule is tried last
    try:
        rule = await rule_ops.create_rule(tenant.id, RuleIn.model_validate(data))
    except ValidationError as e:
        return await _page(request, admin, tenant, status=400, values=shown, errors=field_errors(e))
    except InvalidField as e:
        return await _page(request, admin, tenant, status=400, values=shown, errors={e.field: e.reason})
    await tenant_cache.changed(request.app[SERVICES].redis, tenant.id)  # API requests read the rules again
    await audit(request, admin, tenant, "rule.add", rule.name, rule_id=rule.id, spec=rule.spec)
    return await _page(request, admin, tenant, status=201,
                       notice=("规则已添加（排在最后）。", "Rule added (tried last)."))


async def _rule(request: web.Request, tenant: Tenant) -> RoutingRule | None:
    raw = request.match_info["id"]
    rule_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else 0
    return await RoutingRule.get_or_none(id=rule_id, tenant_id=tenant.id) if rule_id else None


async def move_rule(request: web.Request) -> web.Response:
    posted = await posting(request, "rule moved")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    rule = await _rule(request, tenant)
    if rule is None:
        return refused(request, 404, "没有这条规则。", "No such rule.")
    try:
        rows = await rule_ops.move(tenant.id, rule.id, -1 if text(form, "to") == "up" else 1)
    except NotFound:
        return refused(request, 404, "没有这条规则。", "No such rule.")
    await tenant_cache.changed(request.app[SERVICES].redis, tenant.id)  # API requests read the rules again
    await audit(request, admin, tenant, "rule.move", rule.name, rule_id=rule.id, order=[r.id for r in rows])
    raise web.HTTPSeeOther(f"/console/t/{tenant.id}/rules#rule-{rule.id}")


async def delete_rule(request: web.Request) -> web.Response:
    posted = await posting(request, "rule deleted")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, _ = posted
    rule = await _rule(request, tenant)
    if rule is None:
        return refused(request, 404, "没有这条规则。", "No such rule.")
    await rule.delete()
    await tenant_cache.changed(request.app[SERVICES].redis, tenant.id)  # API requests read the rules again
    await audit(request, admin, tenant, "rule.delete", rule.name, rule_id=rule.id, spec=rule.spec)
    return await _page(request, admin, tenant, notice=(f"已删除规则「{rule.name}」。", f"Rule “{rule.name}” deleted."))


async def trial(request: web.Request) -> web.Response:
    posted = await posting(request, "rule trial")
    if isinstance(posted, web.Response):
        return posted
    admin, tenant, form = posted
    sample = {k: text(form, k) for k in ("region", "industry", "source", "tags", "budget")}
    budget = _money(sample["budget"]) if sample["budget"] else None
    if budget is not None and not isinstance(budget, int):
        return await _page(request, admin, tenant, status=400, sample=sample,
                           errors={"budget": "预算请填整数（元） / budget in whole yuan"})
    result = await rule_ops.trial(tenant.id, {
        "region": sample["region"], "industry": sample["industry"], "source": sample["source"],
        "tags": split_list(sample["tags"]), "budget_min": budget, "budget_max": budget})
    return await _page(request, admin, tenant, sample=sample, trial=result)


def setup(app: web.Application) -> None:
    app.router.add_get("/console/t/{tenant}/rules", rules_page)
    app.router.add_post("/console/t/{tenant}/rules", add_rule)
    app.router.add_post("/console/t/{tenant}/rules/trial", trial)
    app.router.add_post("/console/t/{tenant}/rules/{id}/move", move_rule)
    app.router.add_post("/console/t/{tenant}/rules/{id}/delete", delete_rule)
