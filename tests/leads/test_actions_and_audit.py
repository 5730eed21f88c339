"""Card-button actions through the API: the status machine, gates, who may act, and the audit chain."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from tortoise import connections

from storage.models import Deadline, Lead, LeadEvent, Outbox, RoutingRule, User


async def _assigned_lead(client, team) -> dict:
    await RoutingRule.create(tenant=team.tenant, name="all", spec={"strategy": "named",
                                                                   "named_rep_id": team.reps[0].id})
    r = await client.post("/api/leads", json={"company": "华东机械", "external_id": "x1"}, headers=team.headers)
    return await r.json()


async def _act(client, team, lead_id, **body):
    r = await client.post(f"/api/leads/{lead_id}/actions", json=body, headers=team.headers)
    return r.status, await r.json()


async def test_steps_gates_and_who_may_act(client, team) -> None:
    lead = await _assigned_lead(client, team)
    rep, stranger = team.reps
    status, body = await _act(client, team, lead["id"], action="advance", to="contacted", as_user_id=stranger.id)
    assert (status, body["ok"], body["code"]) == (403, False, "not_allowed")
    assert body["lead"]["version"] == lead["version"]  # nothing changed
    for to in ("contacted", "qualified"):
        status, body = await _act(client, team, lead["id"], action="advance", to=to, as_user_id=rep.id)
        assert (status, body["ok"], body["lead"]["status"]) == (200, True, to)
    # 方案演示 needs a voice summary or an attachment since 需求确认: refused, saying what is missing
    status, body = await _act(client, team, lead["id"], action="advance", to="demo", as_user_id=rep.id)
    assert (status, body["code"]) == (409, "evidence_missing")
    assert body["missing"] and body["lead"]["status"] == "qualified"
    # skipping a stage is refused; the manager may act on their rep's lead
    status, body = await _act(client, team, lead["id"], action="advance", to="contract", as_user_id=rep.id)
    assert (status, body["code"]) == (409, "illegal_transition")
    status, body = await _act(client, team, lead["id"], action="mark_lost", reason="预算取消",
                              as_user_id=team.manager.id)
    assert (status, body["lead"]["status"], body["lead"]["lost_reason"]) == (200, "lost", "预算取消")
    # reopening needs a manager
    status, body = await _act(client, team, lead["id"], action="reopen", as_user_id=rep.id)
    assert (status, body["code"]) == (403, "needs_manager")
    status, body = await _act(client, team, lead["id"], action="reopen", as_user_id=team.manager.id)
    assert (status, body["lead"]["status"]) == (200, "qualified")
    # a stale expected_version is refused
    status, body = await _act(client, team, lead["id"], action="advance", to="demo", expected_version=1)
    assert (status, body["code"]) == (409, "stale_card")

    r = await client.get(f"/api/leads/{lead['id']}", headers=team.headers)
    history = [(e["action"], e["after"].get("status")) for e in (await r.json())["events"]]
    assert history == [("create", "pool"), ("assign", "assigned"), ("advance", "contacted"),
                       ("advance", "qualified"), ("mark_lost", "lost"), ("reopen", "qualified")]


async def test_filters_status_assignee_overdue(client, team) -> None:
    lead = await _assigned_lead(client, team)
    other = await (await client.post("/api/leads", json={"company": "b"}, headers=team.headers)).json()
    r = await client.get("/api/leads", params={"status": "assigned"}, headers=team.headers)
    assert [x["id"] for x in await r.json()] == [lead["id"], other["id"]]
    r = await client.get("/api/leads", params={"assignee_id": str(team.reps[0].id)}, headers=team.headers)
    assert len(await r.json()) == 2
    # the response lock of the first lead has run out (the timer row, written with the assignment, is the truth)
    past = datetime.now(UTC) - timedelta(minutes=1)
    await Deadline.filter(lead_id=lead["id"], kind="response_lock").update(due_at=past)
    await Deadline.filter(lead_id=other["id"], kind="response_lock").update(due_at=past + timedelta(hours=2))
    r = await client.get("/api/leads", params={"overdue": "true"}, headers=team.headers)
    overdue = await r.json()
    assert [x["id"] for x in overdue] == [lead["id"]] and overdue[0]["overdue"] is True
    r = await client.get("/api/leads", params={"overdue": "false"}, headers=team.headers)
    assert [x["id"] for x in await r.json()] == [other["id"]]
    await _act(client, team, lead["id"], action="advance", to="contacted", as_user_id=team.reps[0].id)
    r = await client.get("/api/leads", params={"overdue": "true"}, headers=team.headers)
    assert await r.json() == []  # contacted: no longer overdue
    assert (await client.get("/api/leads", params={"status": "nope"}, headers=team.headers)).status == 400


def _audit_verify(settings) -> subprocess.CompletedProcess:
    env = {**os.environ, "LEADBOT_DATA_DIR": str(settings.data_dir),
           "LEADBOT_MASTER_KEY": settings.master_key.get_secret_value()}
    if settings.database_url:
        env["LEADBOT_DATABASE_URL"] = settings.database_url
    return subprocess.run([sys.executable, "-m", "bot", "audit", "verify"], env=env, capture_output=True, text=True,
                          timeout=120)


async def test_audit_chain_catches_an_edited_and_a_deleted_event(client, team, settings) -> None:
    lead = await _assigned_lead(client, team)
    for to in ("contacted", "qualified"):
        await _act(client, team, lead["id"], action="advance", to=to, as_user_id=team.reps[0].id)
    if settings.database_url is None:
        await connections.get("default").execute_query("PRAGMA wal_checkpoint(FULL)")
    ok = _audit_verify(settings)
    assert ok.returncode == 0 and "0 broken" in ok.stdout, ok.stdout + ok.stderr

    # someone edits history in the database: the chain breaks at that event
    third = await LeadEvent.get(lead_id=lead["id"], seq=3)
    await LeadEvent.filter(id=third.id).update(after={"status": "won"})
    bad = _audit_verify(settings)
    assert bad.returncode == 1
    assert f"lead {lead['id']}: chain broken at event #3" in bad.stdout

    # restore it, then delete the newest event: caught against the head kept on the lead row
    await LeadEvent.filter(id=third.id).update(after=third.after)
    await LeadEvent.filter(lead_id=lead["id"], seq=4).delete()
    cut = _audit_verify(settings)
    assert cut.returncode == 1 and f"lead {lead['id']}: chain broken" in cut.stdout


async def test_deactivating_a_rep_hands_leads_back_and_tells_the_manager(client, team, admin_headers) -> None:
    lead = await _assigned_lead(client, team)
    second = await (await client.post("/api/leads", json={"company": "二号", "external_id": "x2"},
                                      headers=team.headers)).json()
    rep, successor = team.reps
    r = await client.post(f"/api/leads/{second['id']}/actions", headers=team.headers,
                          json={"action": "advance", "to": "contacted", "as_user_id": rep.id})
    assert r.status == 200
    r = await client.post(f"/admin/users/{rep.id}/disable", headers=admin_headers, json={"successor_id": 424242})
    assert r.status == 400  # not a user of this tenant: nothing happens
    assert (await User.get(id=rep.id)).active
    r = await client.post(f"/admin/users/{rep.id}/disable", headers=admin_headers, json={"successor_id": successor.id})
    assert r.status == 200 and (await r.json())["active"] is False
    for lead_id in (lead["id"], second["id"]):
        row = await Lead.get(id=lead_id)
        assert row.assignee_id == successor.id
    notices = await Outbox.filter(kind="notify").values_list("payload", flat=True)
    assert any(p["user_id"] == team.manager.id and "已停用" in p["text"] for p in notices)


async def test_deactivating_without_successor_returns_leads_to_the_pool(client, team, admin_headers) -> None:
    lead = await _assigned_lead(client, team)
    r = await client.post(f"/admin/users/{team.reps[0].id}/disable", headers=admin_headers)
    assert r.status == 200
    row = await Lead.get(id=lead["id"])
    assert (row.status, row.assignee_id, row.bounce_count) == ("pool", None, 0)


async def test_a_change_decided_on_a_lead_that_changed_since_is_stale_and_the_chain_stays_sound(
        client, team, services) -> None:
    """A save appends to the audit chain as loaded with the lead (not read again): when the lead changed in
    between, the save is refused as stale (the caller decides again), and the chain is the other change's."""
    from bot.leads import service as leadservice
    from bot.leads import store as leadstore
    from bot.leads.actions import Advance
    from bot.leads.audit import verify_chain
    from bot.leads.types import EventSource, Status
    from bot.leads.workflow import decide

    lead = await _assigned_lead(client, team)
    rep = team.reps[0]
    with leadstore.remembering_chains():
        loaded = await leadstore.load(lead["id"])
        status, _ = await _act(client, team, lead["id"], action="advance", to="contacted", as_user_id=rep.id)
        assert status == 200  # another change landed after the load
        now = services.clock.now()
        decision = decide(loaded, Advance(Status.CONTACTED), leadservice.actor_for(rep), now,
                          source=EventSource.CARD)
        with pytest.raises(leadstore.StaleLead):
            await leadservice.store(decision, loaded.version, now)
    row = await Lead.get(id=lead["id"])
    events = await leadstore.events_of(lead["id"])
    assert verify_chain(events, head=row.audit_head) is None
    assert [e.action for e, _ in events] == ["create", "assign", "advance"]
    # and a change from a freshly loaded chain appends to it
    status, _ = await _act(client, team, lead["id"], action="advance", to="qualified", as_user_id=rep.id)
    assert status == 200
    row = await Lead.get(id=lead["id"])
    assert verify_chain(await leadstore.events_of(lead["id"]), head=row.audit_head) is None


async def test_a_lead_that_keeps_changing_under_an_action_is_409_and_unchanged(client, team, monkeypatch,
                                                                                caplog) -> None:
    """Every attempt's save finds the lead changed since it was loaded (other changes landing in between): after
    the retries the API answers 409 with a log line, not 500, and the lead is as it was."""
    from bot.leads import store as leadstore

    lead = await _assigned_lead(client, team)

    async def always_stale(*args, **kwargs):
        raise leadstore.StaleLead(lead["id"])

    monkeypatch.setattr(leadstore, "save", always_stale)
    with caplog.at_level("INFO", logger="leadbot.http"):
        status, body = await _act(client, team, lead["id"], action="advance", to="contacted",
                                  as_user_id=team.reps[0].id)
    assert (status, body["error"]) == (409, "conflict")
    assert any("409 conflict" in r.getMessage() for r in caplog.records)
    row = await Lead.get(id=lead["id"])
    assert (row.status, row.version) == ("assigned", lead["version"])
