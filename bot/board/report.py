"""What one viewer's board shows: figures of their scope over three windows with colours, a daily series for the
charts, each rep's figures, and the overdue list. Loads with `bot.board.queries`, computes with the pure modules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.admin.tenant_settings import TenantSettings
from bot.board import attention, queries, sums
from bot.board.attention import Attention
from bot.board.figures import (
    Colour,
    FactIndex,
    Figures,
    Inputs,
    Scope,
    Threshold,
    Window,
    colours,
    daily_windows,
    facts_of,
    merged,
    rep_scope,
    summed,
    tally,
    team_scope,
    tenant_scope,
    windows,
)
from storage.models import Role, Tenant, User

SERIES_DAYS = 14
# What the charts draw, day by day.
SERIES = {"untouched_24h": "超24小时未联系", "ttfc_median_min": "首次联系中位数(分钟)",
          "lock_breaches": "超时未联系", "unevidenced": "无证据推进"}


@dataclass(frozen=True, slots=True)
class Judged:
    window: Window
    figures: Figures
    colours: Mapping[str, Colour]


@dataclass(frozen=True, slots=True)
class Report:
    tenant: Tenant
    scope: Scope
    windows: tuple[Judged, ...]
    reps: tuple[tuple[str, Judged], ...]  # each rep of the scope over 7 days
    series: Mapping[str, list[tuple[str, float | None]]]
    overdue: tuple[Attention, ...]
    needs: tuple[Attention, ...]  # every lead needing attention, most pressing first
    now: datetime


def thresholds(settings: TenantSettings) -> dict[str, Threshold]:
    return {k: Threshold(t.yellow, t.red) for k, t in settings.board.all_thresholds().items()}


def _series_value(name: str, f: Figures) -> float | None:
    return f.unevidenced if name == "unevidenced" else getattr(f, name)


async def build(tenant: Tenant, viewer: User, now: datetime, inputs: Inputs | None = None) -> Report:
    """The viewer's report; `inputs` may be given when several viewers of one tenant are reported at once (what
    comes from the leads' events is read from the kept facts, whatever `inputs` holds of them)."""
    settings = TenantSettings.of(tenant.settings)
    tz = ZoneInfo(tenant.timezone)
    inputs = inputs or await queries.load_inputs(tenant.id, now, lead_history=False)
    people = inputs.people
    me = next(p for p in people if p.id == viewer.id)
    scope = tenant_scope(people, tenant.name) if Role(str(viewer.role)) is Role.ADMIN else team_scope(me, people)
    # Escalation steps, voice notes and alerts are few and their own rows: counted here. The leads' facts are
    # summed by the database from what `bot.board.kept` keeps.
    others = FactIndex(facts_of(replace(inputs, events=(), leads=()), now,
                                settings.calendar_for(tenant.timezone))).only(scope)
    week = windows(now, tz)[1]
    reps = [p for p in people if p.role == "rep" and p.active and scope.holds(p.id)]
    days = daily_windows(now, tz, SERIES_DAYS)
    asked = ([(w, scope) for w in windows(now, tz)] + [(week, rep_scope(p)) for p in reps]
             + [(w, scope) for w in days])
    kept = await sums.sums(tenant.id, [sums.Bucket(w.start, w.end, s.members) for w, s in asked])
    figs = [summed(merged(counts, tally(others.within(w), s, w)[0]), contacts, s)
            for (w, s), (counts, contacts) in zip(asked, kept, strict=True)]
    bounds = thresholds(settings)
    judged = tuple(Judged(w, f, colours(f, bounds, w)) for (w, _), f in zip(asked[:3], figs, strict=False))
    rep_rows = tuple((p.name, Judged(week, f, colours(f, bounds, week)))
                     for p, f in zip(reps, figs[3:3 + len(reps)], strict=True))
    per_day = [(w.name[5:], f) for w, f in zip(days, figs[3 + len(reps):], strict=True)]
    series = {name: [(label, _series_value(name, f)) for label, f in per_day] for name in SERIES}
    stale = timedelta(hours=settings.escalation.stale_after_hours)
    leads = await queries.open_leads(tenant.id, set(scope.members) if scope.members is not None else None,
                                     needing=(now, stale))
    needs = tuple(attention.ranked(leads, now, stale))
    return Report(tenant, scope, judged, rep_rows, series, tuple(a for a in needs if a.need is attention.Need.OVERDUE),
                  needs, now)
