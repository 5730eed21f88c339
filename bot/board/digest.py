"""The daily digest: every working morning (the tenant's calendar, zone and digest time), each manager with a team
gets one card with the team's figures over the last 7 days and the three leads that most need them.

It is an alert like any other (`bot.alerting.alerts.raise_alert`), so it goes down the same chain (chat, then SMS and
e-mail when chat fails) with every attempt on record. Its dedup key names the tenant, the manager and the day: two
workers, a restart or a cron run twice raise it once. The figures are computed when it is raised and frozen onto
the alert; the card is drawn when it is sent, with a fresh sign-in link for its 查看 buttons.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time
from typing import Any
from urllib.parse import quote

from bot.admin.tenant_settings import TenantSettings
from bot.alerting import alerts
from bot.alerting.ladder import AlertSpec, Timer
from bot.board import access, queries, report
from bot.board.attention import Attention
from bot.board.figures import Figures
from bot.board.schedule import digest_day
from bot.runtime.services import Services
from cards.digest import MAX_LEADS, digest_card
from cards.model import Card
from storage.models import Alert, Role, Tenant, User

log = logging.getLogger(__name__)

KIND = queries.DIGEST_KIND
HEADLINE = "线索日报"


def dedup_key(tenant_id: int, manager_id: int, day: date) -> str:
    return f"board:{tenant_id}:{manager_id}:{day.isoformat()}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{round(v * 100)}%"


def _num(v: float | None, unit: str = "") -> str:
    return "-" if v is None else f"{v:.0f}{unit}" if float(v).is_integer() or v >= 10 else f"{v:.1f}{unit}"


def _fields(f: Figures, colours: dict[str, str]) -> list[dict[str, str]]:
    """The six figures the card shows (the tightest platform card: at most 6 items, names of at most 5
    characters)."""
    shown = [("24h未联", "untouched_24h", _num(f.untouched_24h)),
             ("首联中位", "ttfc_median_min", _num(f.ttfc_median_min, "分钟")),
             ("超时", "lock_breaches", _num(f.lock_breaches)),
             ("无证据率", "unevidenced_rate", _pct(f.unevidenced_rate)),
             ("演示转化", "conv_demo", _pct(f.conv_demo)),
             ("人均语音", "voice_per_rep", _num(f.voice_per_rep))]
    return [{"name": n, "value": v, "colour": str(colours.get(k, "none"))} for n, k, v in shown]


def _lead(a: Attention) -> dict[str, Any]:
    return {"id": a.lead.id, "version": a.lead.version, "title": a.lead.title, "rep": a.lead.assignee_name,
            "reason": a.reason}


def digest_data(rep: report.Report, day: date) -> dict[str, Any]:
    week = rep.windows[1]
    leads = [_lead(a) for a in rep.needs[:MAX_LEADS]]
    more = rep.counts.total - len(leads)  # exact: the page lists only the most pressing
    return {"day": day.isoformat(), "team": f"{rep.scope.name}团队", "subtitle": "近 7 天",
            "fields": _fields(week.figures, {k: str(v) for k, v in week.colours.items()}), "leads": leads,
            "more": f"另有 {more} 条待关注，见看板" if more > 0 else ""}


def digest_text(data: dict[str, Any], board_url: str) -> str:
    """The digest in words: what SMS and e-mail carry when chat fails."""
    figures = "；".join(f"{f['name']} {f['value']}" for f in data["fields"])
    leads = " ".join(f"{i}. {lead['title']}（{lead['rep'] or '-'}）{lead['reason']}"
                     for i, lead in enumerate(data["leads"], 1))
    return (f"{data['team']}近 7 天：{figures}。" + (f"需要关注：{leads}。" if leads else "今天没有需要您处理的线索。")
            + f"打开看板：{board_url}")


async def send_due(services: Services, now: datetime) -> list[Timer]:
    """Raise today's digest for every manager still without one, in every tenant whose digest time has come."""
    timers: list[Timer] = []
    for tenant in await Tenant.filter(active=True).order_by("id"):
        settings = TenantSettings.of(tenant.settings)
        if not settings.board.enabled:
            continue
        day = digest_day(now, settings.calendar_for(tenant.timezone), time.fromisoformat(settings.board.digest_time))
        if day is None:
            continue
        timers += await _send_tenant(services, tenant, day, now)
    return timers


async def _send_tenant(services: Services, tenant: Tenant, day: date, now: datetime) -> list[Timer]:
    managers = await User.filter(tenant_id=tenant.id, role=Role.MANAGER, active=True).order_by("id")
    keys = {m.id: dedup_key(tenant.id, m.id, day) for m in managers}
    sent = set(await Alert.filter(dedup_key__in=list(keys.values())).values_list("dedup_key", flat=True))
    todo = [m for m in managers if keys[m.id] not in sent]
    if not todo:
        return []
    with_reps = set(await User.filter(tenant_id=tenant.id, role=Role.REP, active=True,
                                      manager_id__in=[m.id for m in todo]).values_list("manager_id", flat=True))
    inputs = await queries.load_inputs(tenant.id, now, lead_history=False)  # once for all the tenant's managers
    board = f"{services.settings.base_url()}/board"
    timers: list[Timer] = []
    for manager in todo:
        if manager.id not in with_reps:
            continue  # nobody to report on
        data = digest_data(await report.build(tenant, manager, now, inputs), day)
        spec = AlertSpec(manager.id, KIND, HEADLINE, digest_text(data, board), None, keys[manager.id], extra=data)
        timers += await alerts.raise_alert(tenant.id, spec, now=now)
        log.info("board digest for %s raised for manager %d (tenant %d)", day, manager.id, tenant.id)
    return timers


async def build_card(services: Services, alert: Alert, user: User) -> Card:
    """The digest card for its chat send: its links sign the manager in once (then their session carries on)."""
    token = await access.issue_link_token(services.redis, user, access.DIGEST_LINK_TTL)
    login = f"{services.settings.base_url()}/board/login?t={token}&next="
    return digest_card(alert.plan["extra"], login + quote("/board", safe=""),
                       login + quote("/board/leads/", safe="") + "{lead_id}")


alerts.CARD_BUILDERS[KIND] = build_card
