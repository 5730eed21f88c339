"""The board from kept facts (issue 24): on random histories made through the real workflow, the page's figures
summed in SQL are the figures of the event walk (`bot.board.figures` over every event, as the page computed them
before), and rebuilding the kept facts from the events gives the facts kept change by change."""

from __future__ import annotations

import random
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.admin.tenant_settings import TenantSettings
from bot.board import attention, kept, queries, report
from bot.board.figures import (
    FactIndex,
    Figures,
    daily_windows,
    facts_of,
    figures,
    rep_scope,
    team_scope,
    tenant_scope,
    windows,
)
from bot.leads import service as leadservice
from bot.leads.actions import Advance, Assign, AttachEvidence, Cause, Claim, MarkLost, ReleaseToPool, Reopen
from bot.leads.types import PIPELINE, EventSource, Evidence, EvidenceKind, Status
from storage.models import BoardFact, Tenant, User
from storage.models import Lead as LeadRow
from tests.escalation.support import World, configure, new_lead
from tests.support.clock import sh

SH = ZoneInfo("Asia/Shanghai")
NEXT = {a: b for a, b in zip(PIPELINE, PIPELINE[1:], strict=False)}


async def _step(world: World, rnd: random.Random, lead_id: int, people: list[User], now) -> None:
    """One random thing done to a lead at `now` (refused ones change nothing, as they would for a person)."""
    row = await LeadRow.get(id=lead_id)
    holder = next((p for p in people if p.id == row.assignee_id), None)
    pick = rnd.random()
    if pick < 0.25:
        to = rnd.choice([p for p in people if p.role == "rep"])
        action, actor = Assign(leadservice.user_view(to), cause=rnd.choice([Cause.MANUAL, Cause.ESCALATION])), None
    elif pick < 0.6 and Status(row.status) in NEXT:
        action, actor = Advance(NEXT[Status(row.status)]), holder
    elif pick < 0.75:
        kind = rnd.choice([EvidenceKind.VOICE_SUMMARY, EvidenceKind.ATTACHMENT, EvidenceKind.NOTE])
        logged = now - timedelta(minutes=rnd.choice([0, 0, 5, 300]))  # a voice note is attached once transcribed
        action, actor = AttachEvidence(Evidence(f"file:{rnd.randrange(10**6)}", kind, logged)), holder
    elif pick < 0.82:
        action, actor = Claim(), rnd.choice([p for p in people if p.role == "rep"])
    elif pick < 0.88:
        action, actor = ReleaseToPool(cause=rnd.choice([Cause.MANUAL, Cause.ESCALATION])), None
    elif pick < 0.94:
        action, actor = MarkLost("价格"), holder
    else:
        action, actor = Reopen("回访"), None
    who = leadservice.actor_for(actor or world.manager)
    await leadservice.act(world.services, lead_id, action, who, source=EventSource.API, inline=False, now=now)


async def _history(world: World, seed: int) -> None:
    rnd = random.Random(seed)
    clock = world.services.clock
    start = clock.now() - timedelta(days=20)
    people = [world.manager, world.rep, world.rep2]
    leads = [await new_lead(world, f"客户{i}") for i in range(8)]
    at = start
    for _ in range(70):
        at += timedelta(minutes=rnd.choice([1, 7, 30, 90, 240, 600, 1440, 1500]))
        if at >= clock.now():
            break
        await _step(world, rnd, rnd.choice(leads), people, at)


def _walked(inputs, tenant: Tenant, viewer: User, now) -> tuple[list[Figures], list[Figures], list[Figures]]:
    """The page's figures as it computed them before: every event of the window walked, in Python."""
    settings = TenantSettings.of(tenant.settings)
    tz = ZoneInfo(tenant.timezone)
    people = inputs.people
    me = next(p for p in people if p.id == viewer.id)
    scope = tenant_scope(people, tenant.name) if viewer.role == "admin" else team_scope(me, people)
    facts = FactIndex(facts_of(inputs, now, settings.calendar_for(tenant.timezone))).only(scope)
    week = windows(now, tz)[1]
    reps = [p for p in people if p.role == "rep" and p.active and scope.holds(p.id)]
    return ([figures(facts.within(w), scope, w) for w in windows(now, tz)],
            [figures(facts.within(week), rep_scope(p), week) for p in reps],
            [figures(facts.within(w), scope, w) for w in daily_windows(now, tz, report.SERIES_DAYS)])


async def _facts() -> list[tuple]:
    rows = await BoardFact.all().values_list("tenant_id", "lead_id", "person_id", "kind", "tag", "at", "value")
    return sorted(rows, key=repr)


@pytest.mark.backend
@pytest.mark.parametrize("seed", range(6))
async def test_kept_facts_give_the_figures_of_the_event_walk(world: World, seed: int) -> None:
    clock = world.services.clock
    clock.set(sh(2026, 12, 11, 16, 30))  # a Friday afternoon
    await configure(world, calendar={"hours": [["08:00", "12:00"], ["13:00", "20:00"]]},
                    escalation={"steps": [{"action": "remind_rep"}]})
    await _history(world, seed)
    admin = await User.create(tenant=world.tenant, name="孙管理员", role="admin")
    tenant = await Tenant.get(id=world.tenant.id)
    for now in (clock.now(), clock.now() + timedelta(hours=30)):  # later: untouched leads pass their 24 h
        inputs = await queries.load_inputs(tenant.id, now)
        for viewer in (world.manager, admin):
            built = await report.build(tenant, viewer, now)
            wins, reps, days = _walked(inputs, tenant, viewer, now)
            assert [j.figures for j in built.windows] == wins
            assert [j.figures for _, j in built.reps] == reps
            for name, points in built.series.items():
                assert [v for _, v in points] == [report._series_value(name, f) for f in days], name
            # The page reads only the open leads that need attention: the same list as ranking all of them.
            stale = timedelta(hours=TenantSettings.of(tenant.settings).escalation.stale_after_hours)
            team = None if viewer is admin else {world.manager.id, world.rep.id, world.rep2.id}
            assert built.needs == tuple(attention.ranked(await queries.open_leads(tenant.id, team), now, stale))
    kept_by_changes = await _facts()
    assert kept_by_changes  # the history made some
    await kept.rebuild()
    assert await _facts() == kept_by_changes


@pytest.mark.backend
async def test_an_upgraded_database_gets_its_facts_built_once(world: World) -> None:
    """A database from before the kept facts has the leads' events but no facts: the worker's start builds them
    (`kept.backfill`), the same as kept change by change, and a later start finds nothing to do."""
    clock = world.services.clock
    clock.set(sh(2026, 12, 11, 16, 30))
    await _history(world, 7)
    kept_by_changes = await _facts()
    await BoardFact.all().delete()
    assert await kept.backfill() == len(kept_by_changes)
    assert await _facts() == kept_by_changes
    assert await kept.backfill() is None


@pytest.mark.backend
async def test_evidence_logged_after_an_advance_with_an_earlier_time_backs_it(world: World) -> None:
    """A voice note recorded before the rep advanced the lead, but transcribed and attached after: the advance was
    backed (as the event walk says), so its kept fact is written anew when the evidence comes."""
    clock = world.services.clock
    clock.set(sh(2026, 12, 11, 16, 30))
    lead_id = await new_lead(world, "杭州云帆科技")
    t = clock.now() - timedelta(hours=3)
    rep = leadservice.actor_for(world.rep)
    await leadservice.act(world.services, lead_id, Assign(leadservice.user_view(world.rep)),
                          leadservice.actor_for(world.manager), source=EventSource.API, inline=False, now=t)
    for minutes, action in ((20, Advance(Status.CONTACTED)), (40, Advance(Status.QUALIFIED)),
                            (45, AttachEvidence(Evidence("voice:1", EvidenceKind.VOICE_SUMMARY, t + timedelta(
                                minutes=30))))):
        outcome = await leadservice.act(world.services, lead_id, action, rep, source=EventSource.API, inline=False,
                                        now=t + timedelta(minutes=minutes))
        assert outcome.ok, outcome.decision
    built = await report.build(await Tenant.get(id=world.tenant.id), world.manager, clock.now())
    assert (built.windows[0].figures.advances, built.windows[0].figures.unevidenced) == (1, 0)
