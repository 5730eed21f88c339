"""`/board`: the managers' lead-health page, server-rendered (jinja2), light enough for a phone, no script.

    GET  /board/login?t=&next=   the one-time link from chat: a page with a button (link previews spend nothing)
    POST /board/login            spends the token, opens a session (cookie), goes to `next`
    GET  /board                  the viewer's figures with charts, each rep's week, the most pressing leads
    GET  /board/needs?need=&rep=&page=   every lead needing attention, a page at a time (by reason, by holder)
    GET  /board/leads/{id}       one lead: its history, voice notes and delivery attempts
    POST /board/leads/{id}/take  take the lead over (as the card's 我来处理), CSRF-checked
    POST /board/logout           ends the session

A manager sees their team (themselves and their direct reports) and the leads those people hold; an admin their
tenant; a lead outside that is 404 whatever the request, and changes nothing. Every refusal logs one line.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from bot.admin.tenant_settings import TenantSettings
from bot.alerting import alerts
from bot.board import access, charts, needs, report
from bot.board.attention import Need
from bot.board.figures import JUDGED, WINDOW_LABELS
from bot.board.schedule import next_digest
from bot.errors import NotFound
from bot.leads import queries as leadqueries
from bot.leads import service as leadservice
from bot.leads.actions import Claim
from bot.leads.types import EventSource, Status
from bot.platforms import registry
from bot.runtime.appkeys import SERVICES
from handlers.http import read_form
from speech.fields import FIELDS
from storage.models import Lead as LeadRow
from storage.models import Role, Tenant, User, VoiceNote

log = logging.getLogger(__name__)

TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates" / "board"),
    autoescape=True, trim_blocks=True, lstrip_blocks=True,
)
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
           "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"}
ACTIONS = {"create": "创建", "assign": "分配", "claim": "接手", "advance": "推进", "mark_lost": "输单",
           "reopen": "重新打开", "release": "退回公海", "attach_evidence": "添加证据", "update_fields": "更新信息"}


def _page(name: str, status: int = 200, **values: Any) -> web.Response:
    text = TEMPLATES.get_template(name).render(**values)
    return web.Response(text=text, status=status, content_type="text/html", headers=HEADERS)


def _refused(status: int, title: str, message: str) -> web.Response:
    return _page("message.html", status=status, title=title, message=message)


def _sessions(request: web.Request) -> access.Sessions:
    services = request.app[SERVICES]
    return access.Sessions(services.redis, services.box)


def _safe_next(value: str | None) -> str:
    """Only a path of the board itself: never another host (`//evil`, `/\\evil`) or another part of the service."""
    if value and value.startswith("/board") and not value.startswith(("//", "/\\")) and "\\" not in value:
        return value
    return "/board"


async def _viewer(request: web.Request) -> tuple[access.Session, User] | web.Response:
    session = await _sessions(request).find(request.cookies.get(access.COOKIE))
    if session is None:
        chats = "或".join(p.title_zh for p in registry.all())
        return _refused(401, "请先登录", f"请在{chats}里向线索助手发送「看板」，用收到的链接登录。")
    user = await User.get_or_none(id=session.user_id, tenant_id=session.tenant_id, tenant__active=True)
    if not access.may_use_board(user):
        await _sessions(request).close(session)  # deactivated, or no longer a manager: the session ends here
        log.warning("board: session of user %d refused (inactive or not a manager/admin)", session.user_id)
        return _refused(403, "无权访问", "看板只对经理和管理员开放。")
    assert user is not None
    return session, user


async def _poster(request: web.Request, what: str) -> tuple[access.Session, User, Any] | web.Response:
    """The signed-in viewer and the form they posted, or the refusal: no session, or no valid CSRF token."""
    viewer = await _viewer(request)
    if isinstance(viewer, web.Response):
        return viewer
    session, user = viewer
    form = await read_form(request)
    if not access.csrf_ok(session, str(form.get("csrf", ""))):
        log.warning("board: %s by user %d without a valid CSRF token", what, user.id)
        return _refused(403, "请求无效", "页面已过期，请刷新后再试。")
    return session, user, form


# --- signing in -------------------------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    token, nxt = request.query.get("t", ""), _safe_next(request.query.get("next"))
    if await access.peek_link_token(request.app[SERVICES].redis, token):
        return _page("login.html", token=token, next=nxt)
    if await _sessions(request).find(request.cookies.get(access.COOKIE)) is not None:
        raise web.HTTPSeeOther(nxt)  # a spent digest link, but this browser is signed in already
    log.warning("board: sign-in link invalid, spent or expired")
    return _refused(404, "链接无效", "这个登录链接无效、已用过或已过期。请向线索助手发送「看板」获取新链接。")


async def login_submit(request: web.Request) -> web.Response:
    form = await read_form(request)
    services = request.app[SERVICES]
    who = await access.redeem_link_token(services.redis, str(form.get("t", "")))
    if who is None:
        log.warning("board: sign-in with an invalid, spent or expired token")
        return _refused(404, "链接无效", "这个登录链接无效、已用过或已过期。请向线索助手发送「看板」获取新链接。")
    user = await User.get_or_none(id=who[0], tenant_id=who[1], tenant__active=True)
    if not access.may_use_board(user):
        log.warning("board: sign-in refused for user %d (inactive or not a manager/admin)", who[0])
        return _refused(403, "无权访问", "看板只对经理和管理员开放。")
    assert user is not None
    _, cookie = await _sessions(request).open(user.id, user.tenant_id)
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", ""))))
    response.set_cookie(access.COOKIE, cookie, httponly=True, samesite="Lax", path="/board",
                        secure=services.settings.base_url().startswith("https://"),
                        max_age=int(access.SESSION_TTL.total_seconds()))
    log.info("board: user %d signed in", user.id)
    raise response


async def logout(request: web.Request) -> web.Response:
    posted = await _poster(request, "sign-out")
    if isinstance(posted, web.Response):
        return posted
    session, _, _ = posted
    await _sessions(request).close(session)
    response = _refused(200, "已退出", "您已退出看板。")
    response.del_cookie(access.COOKIE, path="/board")
    return response


# --- the board --------------------------------------------------------------------------------------------------


def _fmt(name: str, value: float | None) -> str:
    if value is None:
        return "—"
    if name.endswith("_rate") or name.startswith("conv_"):
        return f"{round(value * 100)}%"
    return f"{value:.0f}" if float(value).is_integer() or value >= 10 else f"{value:.1f}"


def _rows(judged: report.Judged) -> list[dict[str, Any]]:
    return [{"label": j.label, "value": _fmt(name, j.read(judged.figures)), "colour": str(judged.colours[name])}
            for name, j in JUDGED.items()]


async def board_page(request: web.Request) -> web.Response:
    viewer = await _viewer(request)
    if isinstance(viewer, web.Response):
        return viewer
    session, user = viewer
    tenant = await Tenant.get(id=user.tenant_id)
    now = request.app[SERVICES].clock.now()
    # Uncached: the figures are sums the database makes of the kept facts (bot.board.kept, bot.board.sums).
    rep = await report.build(tenant, user, now)
    tz = ZoneInfo(tenant.timezone)
    settings = TenantSettings.of(tenant.settings)
    upcoming = next_digest(now, settings.calendar_for(tenant.timezone),
                           datetime.strptime(settings.board.digest_time, "%H:%M").time())
    chart_svgs = [(title, charts.bars(rep.series[name], title=title)) for name, title in report.SERIES.items()]
    return _page(
        "board.html", user=user, scope=rep.scope, csrf=session.csrf, tz=tz,
        windows=[(WINDOW_LABELS[j.window.name], _rows(j)) for j in rep.windows],
        escalations=rep.windows[1].figures.escalations, charts=chart_svgs,
        reps=[(name, _rows(j), rep_id, rep.counts.of(holder=rep_id))
              for (name, j), rep_id in zip(rep.reps, rep.rep_ids, strict=True)],
        overdue=rep.overdue, others=rep.others, overdue_total=rep.counts.of((Need.OVERDUE,)),
        others_total=rep.counts.of(report.OTHER_NEEDS), need_totals=_need_totals(rep.counts),
        next_digest=upcoming.astimezone(tz).strftime("%m-%d %H:%M"),
        as_of=rep.now.astimezone(tz).strftime("%H:%M:%S"), labels=[j.label for j in JUDGED.values()],
    )


# --- every lead needing attention, a page at a time -------------------------------------------------------------

# The lists the board links to: ?need= names one, none is all of them.
NEED_LISTS: dict[str, tuple[str, tuple[Need, ...]]] = {
    "": ("全部", tuple(Need)),
    "overdue": ("逾期未联系", (Need.OVERDUE,)),
    "others": ("其他需要关注", report.OTHER_NEEDS),
    "bouncing": ("反复退回", (Need.BOUNCING,)),
    "stale": ("长期无跟进", (Need.STALE,)),
}


def _need_totals(counts: needs.Counts, holder: int | None = None) -> list[tuple[str, str, int]]:
    """(the ?need= value, its label, how many) of each list, for the filter links."""
    return [(key, label, counts.of(wanted, holder)) for key, (label, wanted) in NEED_LISTS.items()]


def _positive(raw: str | None) -> int | None:
    # ASCII digits only: `str.isdigit` also takes "²", which `int` refuses (a 500 where a 404 belongs).
    return int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


async def needs_page(request: web.Request) -> web.Response:
    viewer = await _viewer(request)
    if isinstance(viewer, web.Response):
        return viewer
    session, user = viewer
    key = request.query.get("need", "")
    rep_raw = request.query.get("rep", "")
    holder = _positive(rep_raw)
    if key not in NEED_LISTS or (rep_raw and holder is None):
        log.warning("board: user %d asked for an unknown list (need=%r, rep=%r)", user.id, key[:20], rep_raw[:20])
        return _refused(404, "找不到列表", "没有这个列表。")
    tenant = await Tenant.get(id=user.tenant_id)
    label, wanted = NEED_LISTS[key]
    found = await report.listing(tenant, user, request.app[SERVICES].clock.now(), wanted=wanted, holder=holder,
                                 number=_positive(request.query.get("page")) or 1)
    if found is None:
        log.warning("board: user %d refused the list of user %s (not theirs to see)", user.id, rep_raw)
        return _refused(404, "找不到列表", "这个成员不属于您的团队。")
    names = {p.id: p.name for p in found.people}

    def link(number: int = 1, **changed: str) -> str:
        query = {"need": key, "rep": str(holder or ""), "page": str(number) if number > 1 else "", **changed}
        kept = {k: v for k, v in query.items() if v}
        return "/board/needs" + (f"?{urlencode(kept)}" if kept else "")

    page = found.page
    return _page(
        "needs.html", user=user, csrf=session.csrf, scope=found.scope, label=label, page=page,
        holder=names.get(holder) if holder is not None else None, lists=[
            (text, n, link(need=k), k == key) for k, text, n in _need_totals(found.counts, holder)],
        holders=[(p.name, n, link(rep=str(p.id)), p.id == holder) for p in found.people
                 if found.scope.holds(p.id) and (n := found.counts.of(wanted, p.id))],
        everyone=link(rep=""), previous=link(page.number - 1) if page.number > 1 else None,
        next=link(page.number + 1) if page.number < page.pages else None,
        first=(page.number - 1) * page.size + 1,
    )


# --- one lead ---------------------------------------------------------------------------------------------------


def _lead_id(request: web.Request) -> int | None:
    return _positive(request.match_info["id"])


async def _visible_lead(request: web.Request, user: User) -> LeadRow | None:
    """The lead, if it is the viewer's to see: their tenant's, and for a manager, held by their team."""
    lead_id = _lead_id(request)
    lead = await LeadRow.get_or_none(id=lead_id, tenant_id=user.tenant_id) if lead_id else None
    if lead is None:
        return None
    if Role(str(user.role)) is Role.ADMIN:
        return lead
    team = access.team_of(user, await User.filter(tenant_id=user.tenant_id, manager_id=user.id))
    return lead if team is not None and lead.assignee_id in team else None


def _not_found(user: User, what: str) -> web.Response:
    log.warning("board: user %d refused %s (not theirs to see)", user.id, what)
    return _refused(404, "找不到线索", "没有这条线索，或它不属于您的团队。")


async def lead_page(request: web.Request, notice: str = "", status: int = 200) -> web.Response:
    viewer = await _viewer(request)
    if isinstance(viewer, web.Response):
        return viewer
    session, user = viewer
    lead = await _visible_lead(request, user)
    if lead is None:
        return _not_found(user, f"lead {request.match_info['id']}")
    tenant = await Tenant.get(id=user.tenant_id)
    tz = ZoneInfo(tenant.timezone)
    out = await leadqueries.one(user.tenant_id, lead.id, now=request.app[SERVICES].clock.now())
    assert out is not None
    names = dict(await User.filter(tenant_id=user.tenant_id).values_list("id", "name"))
    notes = await VoiceNote.filter(lead_id=lead.id, tenant_id=user.tenant_id).order_by("-created_at")
    may_take = Status(lead.status).is_open and lead.assignee_id != user.id
    return _page(
        "lead.html", status=status, user=user, lead=out, csrf=session.csrf, tz=tz, names=names, actions=ACTIONS,
        assignee=names.get(lead.assignee_id, "公海"), notes=notes, fields=FIELDS,
        deliveries=await alerts.deliveries_of(lead.id),
        may_take=may_take, notice=notice or ("已由您接手。" if request.query.get("taken") else ""),
    )


async def take_over(request: web.Request) -> web.Response:
    posted = await _poster(request, "take-over")
    if isinstance(posted, web.Response):
        return posted
    session, user, form = posted
    lead = await _visible_lead(request, user)
    if lead is None:
        return _not_found(user, f"take-over of lead {request.match_info['id']}")
    services = request.app[SERVICES]
    try:
        outcome = await leadservice.act(services, lead.id, Claim(), leadservice.actor_for(user),
                                        source=EventSource.WEB, inline=False)
    except NotFound:
        return _not_found(user, f"take-over of lead {lead.id}")
    if not outcome.ok:
        message = getattr(outcome.decision, "message", "") or "无法接手这条线索。"
        log.info("board: take-over of lead %d by user %d refused: %s", lead.id, user.id, message)
        return await lead_page(request, notice=message, status=409)
    raise web.HTTPSeeOther(f"/board/leads/{lead.id}?taken=1")


def setup(app: web.Application) -> None:
    app.router.add_get("/board/login", login_page)
    app.router.add_post("/board/login", login_submit)
    app.router.add_post("/board/logout", logout)
    app.router.add_get("/board", board_page)
    app.router.add_get("/board/needs", needs_page)
    app.router.add_get("/board/leads/{id}", lead_page)
    app.router.add_post("/board/leads/{id}/take", take_over)
