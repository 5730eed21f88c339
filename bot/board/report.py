"""What one viewer's board shows: figures of their scope over three windows with colours, a daily series for the
charts, each rep's figures, and the leads needing attention (exact counts, the most pressing of each list: the rest
is paged by `bot.board.needs`). Loads with `bot.board.queries`, computes with the pure modules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.admin.tenant_settings import TenantSettings
from bot.board import needs, queries, sums
from bot.board.attention import Attention, Need
from bot.board.figures import (
    Colour,
    FactIndex,
    Figures,
    Inputs,
    Person,
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
# The board's second list: the leads needing attention for a reason other than being overdue.
OTHER_NEEDS = (Need.BOUNCING, Need.STALE)
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
    rep_ids: tuple[int, ...]  # those reps' user ids, in the same order
    series: Mapping[str, list[tuple[str, float | None]]]
    overdue: tuple[Attention, ...]  # the most pressing overdue leads (`needs.SHOWN` of them at most)
    others: tuple[Attention, ...]  # the most pressing of the other leads needing attention, as many at most
    counts: needs.Counts  # how many need attention, exactly, per holder and reason
    now: datetime

    @property
    def needs(self) -> tuple[Attention, ...]:
        """The most pressing of all the leads needing attention, in order: the listed overdue ones, then, when they
        are all the overdue ones, the listed others (a beginning of `attention.ranked` of them all)."""
        if len(self.overdue) < self.counts.of((Need.OVERDUE,)):
            return self.overdue
        return self.overdue + self.others


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
    scope = scope_of(tenant, viewer, people)
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
    stale = stale_after(settings)
    holders = set(scope.members) if scope.members is not None else None
    overdue = await needs.most_pressing(tenant.id, holders, now, stale, needs=(Need.OVERDUE,), limit=needs.SHOWN)
    rest = await needs.most_pressing(tenant.id, holders, now, stale, needs=OTHER_NEEDS, limit=needs.SHOWN)
    counts = await needs.counted(tenant.id, holders, now, stale)
    return Report(tenant, scope, judged, rep_rows, tuple(p.id for p in reps), series, tuple(overdue), tuple(rest),
                  counts, now)


def scope_of(tenant: Tenant, viewer: User, people: tuple[Person, ...]) -> Scope:
    """Whose figures and leads the viewer sees: an admin the tenant's, a manager their team's."""
    if Role(str(viewer.role)) is Role.ADMIN:
        return tenant_scope(people, tenant.name)
    return team_scope(next(p for p in people if p.id == viewer.id), people)


def stale_after(settings: TenantSettings) -> timedelta:
    return timedelta(hours=settings.escalation.stale_after_hours)


@dataclass(frozen=True, slots=True)
class Listing:
    """A page of the full list of the leads needing attention in the viewer's scope, with the counts it is cut
    from (the board shows only the most pressing; its links lead here)."""

    scope: Scope
    people: tuple[Person, ...]
    counts: needs.Counts
    page: needs.Page


async def listing(tenant: Tenant, viewer: User, now: datetime, *, wanted: tuple[Need, ...] = tuple(Need),
                  holder: int | None = None, number: int = 1) -> Listing | None:
    """Page `number` of the viewer's leads needing attention for one of `wanted` (of `holder` only, when given);
    None when `holder` is nobody the viewer may see."""
    people = await queries.people(tenant.id)
    scope = scope_of(tenant, viewer, people)
    if holder is not None and not (scope.holds(holder) and any(p.id == holder for p in people)):
        return None
    stale = stale_after(TenantSettings.of(tenant.settings))
    holders = set(scope.members) if scope.members is not None else None
    counts = await needs.counted(tenant.id, holders, now, stale)
    page = await needs.page(tenant.id, holders, now, stale, counts, needs=wanted, holder=holder, number=number)
    return Listing(scope, people, counts, page)
