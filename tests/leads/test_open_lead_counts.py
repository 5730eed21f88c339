"""Per-rep open-lead counts (routing's least-loaded choice): kept with every change, equal to a fresh count after
any sequence of changes, back-filled by their migration, rebuilt by `leadbot admin recount`."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from bot.admin import users
from bot.leads import open_counts as openleads
from bot.leads import service as leadservice
from bot.leads import types as lt
from bot.leads.actions import Advance, AttachEvidence, Claim, MarkLost, ReleaseToPool, Reopen
from bot.leads.actions import Assign as AssignTo
from bot.leads.store import load
from storage.models import Lead, RepLoad, RoutingRule, User
from tests.foundation.test_migrations import _scratch_database
from tests.leads.conftest import make_team


async def _kept(tenant_id: int | None = None) -> dict[int, int]:
    query = RepLoad.all() if tenant_id is None else RepLoad.filter(tenant_id=tenant_id)
    return {u: n for u, n in await query.values_list("user_id", "open_leads") if n}


async def _recount_by_hand() -> dict[int, int]:
    """The oracle: every lead read into Python and counted the way routing defines a rep's open leads."""
    counts: dict[int, int] = {}
    for status, assignee in await Lead.all().values_list("status", "assignee_id"):
        if assignee is not None and lt.Status(status).is_open and status != "pool":
            counts[assignee] = counts.get(assignee, 0) + 1
    return counts


def _evidence(at) -> AttachEvidence:
    return AttachEvidence(lt.Evidence("voice:1", lt.EvidenceKind.VOICE_SUMMARY, at))


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_counts_equal_a_fresh_count_after_any_sequence_of_changes(services, seed) -> None:
    rnd = random.Random(seed)
    teams = [await make_team(f"t{seed}a", reps=3), await make_team(f"t{seed}b", reps=2)]
    for team in teams:  # least loaded over the team's reps: intake reads the kept counts
        await RoutingRule.create(tenant=team.tenant, name="all", spec={"strategy": "least_loaded"})
    leads: list[tuple[int, object]] = []
    for step in range(70):
        team = rnd.choice(teams)
        reps = await User.filter(tenant_id=team.tenant.id, role="rep").order_by("id")
        active = [r for r in reps if r.active]
        manager = leadservice.actor_for(team.manager)
        kind = rnd.choice(["intake"] * 3 + ["claim", "advance", "advance", "lost", "reopen", "release", "assign",
                                             "evidence"] + ["deactivate"] * (rnd.random() < 0.3))
        mine = [lid for lid, t in leads if t is team]
        if kind == "intake" or not mine:
            row, _ = await leadservice.create_lead(services, team.tenant.id, {"company": f"客户{step}",
                                                                             "region": "华东", "industry": "制造"},
                                                   lt.Actor.system(team.tenant.id))
            leads.append((row.id, team))
            continue
        lead_id = rnd.choice(mine)
        lead = await load(lead_id, team.tenant.id)
        holder = next((r for r in reps if r.id == lead.assignee_id), None)
        rep = rnd.choice(active) if active else reps[0]
        if kind == "claim":
            action, actor = Claim(), leadservice.actor_for(rep)
        elif kind == "advance":
            nxt = lt.PIPELINE[min(lt.PIPELINE.index(lead.status) + 1, len(lt.PIPELINE) - 1)] \
                if lead.status in lt.PIPELINE else lt.Status.CONTACTED
            action, actor = Advance(nxt), leadservice.actor_for(holder) if holder else manager
        elif kind == "evidence":
            action, actor = _evidence(services.clock.now()), manager
        elif kind == "lost":
            action, actor = MarkLost("预算取消"), manager
        elif kind == "reopen":
            action, actor = Reopen(), manager
        elif kind == "release":
            action, actor = ReleaseToPool(), manager
        elif kind == "assign":
            action, actor = AssignTo(leadservice.user_view(rep)), manager
        else:  # a rep leaves: their open leads go to another active rep, or back to the pool
            if len(active) < 2:  # keep someone to route to
                continue
            leaving = rnd.choice(active)
            successor = next((r for r in active if r.id != leaving.id), None) if rnd.random() < 0.6 else None
            await users.deactivate_user(leaving)
            await leadservice.deactivate_rep(services, leaving, successor)
            continue
        await leadservice.act(services, lead_id, action, actor, source=lt.EventSource.API, inline=False)
        assert await _kept() == await _recount_by_hand(), f"step {step}: {kind}"
    fresh = await _recount_by_hand()
    assert fresh, "the sequence left no lead held: the test would prove nothing"
    assert await _kept() == fresh
    assert await openleads.drift() == {}
    for team in teams:
        assert {u: n for u, n in (await openleads.counts(team.tenant.id)).items() if n} == {
            u: n for u, n in fresh.items() if u in {r.id for r in team.reps}}


async def test_intake_reads_the_kept_counts_and_recount_repairs_drift(client, team) -> None:
    await RoutingRule.create(tenant=team.tenant, name="all", spec={"strategy": "least_loaded"})
    first, second = team.reps
    for i in range(3):
        r = await client.post("/api/leads", json={"company": f"甲{i}", "region": "华东", "industry": "制造"}, headers=team.headers)
        assert r.status == 201
    assert await _kept(team.tenant.id) == {first.id: 2, second.id: 1}
    # The counts drift (a bad restore, a hand edit): routing follows them, recount puts them right.
    await RepLoad.filter(user_id=first.id).update(open_leads=0)
    r = await client.post("/api/leads", json={"company": "乙", "region": "华东", "industry": "制造"}, headers=team.headers)
    assert (await r.json())["assignee_id"] == first.id
    assert await openleads.drift() == {first.id: (1, 3)}
    assert await openleads.recount() == {first.id: (1, 3)}
    assert await _kept(team.tenant.id) == {first.id: 3, second.id: 1} == await _recount_by_hand()
    r = await client.post("/api/leads", json={"company": "丙", "region": "华东", "industry": "制造"}, headers=team.headers)
    assert (await r.json())["assignee_id"] == second.id


async def test_recount_command_reports_and_repairs(services, team) -> None:
    await RoutingRule.create(tenant=team.tenant, name="all", spec={"strategy": "least_loaded"})
    await leadservice.create_lead(services, team.tenant.id, {"company": "甲", "region": "华东", "industry": "制造"},
                                  lt.Actor.system(team.tenant.id))
    rep = team.reps[0]
    await RepLoad.filter(user_id=rep.id).update(open_leads=5)
    settings = services.settings
    env = {**os.environ, "LEADBOT_DATA_DIR": str(settings.data_dir),
           "LEADBOT_MASTER_KEY": settings.master_key.get_secret_value()}
    if settings.database_url:
        env["LEADBOT_DATABASE_URL"] = settings.database_url

    def recount(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot", "admin", "recount", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    check = recount("--check")
    assert check.returncode == 1, check.stderr
    assert json.loads(check.stdout)["drifted"] == [{"user_id": rep.id, "kept": 5, "fresh": 1}]
    assert await _kept() == {rep.id: 5}  # a check changes nothing
    repair = recount()
    assert repair.returncode == 0, repair.stderr
    assert json.loads(repair.stdout) == {"drifted": [{"user_id": rep.id, "kept": 5, "fresh": 1}], "repaired": True}
    assert await _kept() == {rep.id: 1}
    again = recount("--check")
    assert (again.returncode, json.loads(again.stdout)["drifted"]) == (0, [])


def test_migration_back_fills_the_counts_of_existing_leads(settings) -> None:
    """A database at migration 5 with leads in it (held, pooled, closed, of two reps and two tenants) upgrades to
    head: the new table holds each rep's open leads, as a fresh count says."""
    script = Path(__file__).with_name("open_counts_upgrade.py")
    out = subprocess.run([sys.executable, str(script), _scratch_database(settings, "cnt") or ""],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["kept"] == result["fresh"] == {"1": 2, "2": 1, "3": 1}
