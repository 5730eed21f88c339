"""The escalation ladder's three steps on a controlled clock (each step run with the `now` it is due at), the
handover at the end, a step made moot by 已联系, the bounce flag, stale deals, and the metrics they feed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from bot.alerting import deadlines
from bot.alerting.ladder import deadline_timer
from bot.jobs import timers
from bot.leads import service as leadservice
from bot.leads.actions import Assign
from bot.leads.types import EventSource
from bot.runtime.worker import drain
from storage.models import Alert, RoutingRule
from storage.models import Lead as LeadRow
from tests.escalation.support import (
    AGENT_ID,
    WED_10,
    World,
    alert_cards_to,
    alerts_of,
    assign,
    attempts,
    buttons,
    cards_to,
    configure,
    contact,
    deadline_of,
    new_lead,
    sh,
)
from tests.support.people import make_user


def escalations(step: str) -> float:
    return REGISTRY.get_sample_value("leadbot_escalations_total", {"step": step}) or 0.0


async def run(world: World, lead_id: int, step: int, at) -> list:
    """The timer of step `step` fires at `at`: run it (with that clock), then let the worker deliver."""
    row = await deadline_of(lead_id)
    armed = await deadlines.run_step(world.services, row.id, row.fence, step, now=at)
    await timers.arm(world.services.redis, [t for t in armed if t.function == "advance_alert"])
    await drain(world.services)
    return [t for t in armed if t.function == "fire_deadline"]


async def test_three_steps_then_reassigned_by_the_rules(world: World) -> None:
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)  # due 10:30
    await RoutingRule.create(tenant_id=world.tenant.id, name="华东", spec={"rep_ids": [world.rep2.id]})
    row = await deadline_of(lead_id)
    before = [escalations(s) for s in ("remind_rep", "alert_manager", "reassign")]

    # 10:30: the rep is reminded, with 已联系 on the card
    assert await run(world, lead_id, 0, sh(2026, 6, 3, 10, 30)) == [
        deadline_timer(row.id, row.fence, 1, sh(2026, 6, 3, 11, 0))]
    [reminder] = await alerts_of(lead_id, "lock_reminder")
    assert reminder.user_id == world.rep.id and await attempts(reminder) == [("chat", "ok", "0")]
    assert list(buttons(alert_cards_to(world.sim, "zhang")[-1])) == ["已联系", "知道了"]

    # 11:00: the manager gets the alert card with 我来处理; the last step is 2 working hours later (lunch!)
    assert await run(world, lead_id, 1, sh(2026, 6, 3, 11, 0)) == [
        deadline_timer(row.id, row.fence, 2, sh(2026, 6, 3, 14, 30))]
    [breached] = await alerts_of(lead_id, "lock_breached")
    assert breached.user_id == world.manager.id
    assert list(buttons(alert_cards_to(world.sim, "wang")[-1])) == ["我来处理", "知道了"]

    # 14:30: reassigned by the routing rule; both reps hear of it; the new rep's lock starts
    assert await run(world, lead_id, 2, sh(2026, 6, 3, 14, 30)) == []
    lead = await LeadRow.get(id=lead_id)
    assert (lead.assignee_id, lead.status, lead.bounce_count) == (world.rep2.id, "assigned", 1)
    [away] = await alerts_of(lead_id, "reassigned_away")
    assert away.user_id == world.rep.id and "李四" in away.text and away.state == "delivered"
    assert [c.task_id[:4] for c in cards_to(world.sim, "li")] == ["lble"]  # 李四 got the lead's card
    fresh = await deadline_of(lead_id)
    assert fresh.fence > row.fence and fresh.step == 0 and fresh.plan["assignee_id"] == world.rep2.id
    old = await Alert.get(id=reminder.id)
    assert old.state == "waiting"  # its ack timeout will find it moot (the lead left 张三)

    history = (await deadline_of(lead_id)).history  # the new lock starts clean; the old one's record:
    assert history == []
    after = [escalations(s) for s in ("remind_rep", "alert_manager", "reassign")]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]


async def test_step_history_records_when_each_step_ran(world: World) -> None:
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    await run(world, lead_id, 0, sh(2026, 6, 3, 10, 30, 1))
    await run(world, lead_id, 1, sh(2026, 6, 3, 11, 0, 2))
    row = await deadline_of(lead_id)
    assert [(h["step"], h["action"], h["due"], h["at"]) for h in row.history] == [
        (0, "remind_rep", sh(2026, 6, 3, 10, 30).isoformat(), sh(2026, 6, 3, 10, 30, 1).isoformat()),
        (1, "alert_manager", sh(2026, 6, 3, 11, 0).isoformat(), sh(2026, 6, 3, 11, 0, 2).isoformat()),
    ]
    assert row.step == 2 and row.state == "pending" and row.next_at == sh(2026, 6, 3, 14, 30)


async def test_without_anyone_to_route_to_the_lead_goes_back_to_the_pool(world: World) -> None:
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    for step, at in enumerate((sh(2026, 6, 3, 10, 30), sh(2026, 6, 3, 11, 0), sh(2026, 6, 3, 14, 30))):
        await run(world, lead_id, step, at)
    lead = await LeadRow.get(id=lead_id)
    assert (lead.status, lead.assignee_id, lead.bounce_count) == ("pool", None, 1)
    told = {a.user_id for a in await alerts_of(lead_id, "returned_to_pool")}
    assert told == {world.rep.id, world.manager.id}
    row = await deadline_of(lead_id)
    assert row.state == "done" and [h["step"] for h in row.history] == [0, 1, 2]


async def test_release_step_goes_to_the_pool_even_with_rules(world: World) -> None:
    await configure(world, escalation={"steps": [{"action": "remind_rep"},
                                                 {"action": "release", "delay_minutes": 60},
                                                 {"action": "alert_manager", "delay_minutes": 5}]})
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    assert [s["action"] for s in (await deadline_of(lead_id)).plan["steps"]] == ["remind_rep", "release"]
    await RoutingRule.create(tenant_id=world.tenant.id, name="all", spec={"rep_ids": [world.rep2.id]})
    await run(world, lead_id, 0, sh(2026, 6, 3, 10, 30))
    assert await run(world, lead_id, 1, sh(2026, 6, 3, 11, 30)) == []
    assert (await LeadRow.get(id=lead_id)).status == "pool"


async def test_step_made_moot_by_contact_does_nothing(world: World) -> None:
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    await run(world, lead_id, 0, sh(2026, 6, 3, 10, 30))
    await contact(world, lead_id, now=sh(2026, 6, 3, 10, 40))
    assert await run(world, lead_id, 1, sh(2026, 6, 3, 11, 0)) == []
    assert await alerts_of(lead_id, "lock_breached") == []
    assert (await LeadRow.get(id=lead_id)).assignee_id == world.rep.id


async def test_time_to_contact_is_measured(world: World) -> None:
    def observed() -> tuple[float, float]:
        return (REGISTRY.get_sample_value("leadbot_time_to_contact_seconds_count") or 0.0,
                REGISTRY.get_sample_value("leadbot_time_to_contact_seconds_sum") or 0.0)

    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    count, total = observed()
    await contact(world, lead_id, now=WED_10 + timedelta(minutes=20))
    assert observed() == (count + 1, total + 1200)


async def test_lead_that_went_back_twice_is_flagged_to_the_manager(world: World) -> None:
    await configure(world, escalation={"steps": [{"action": "release"}]})
    lead_id = await new_lead(world, intent="high")
    for n, rep in enumerate((world.rep, world.rep2)):
        await assign(world, lead_id, rep, now=WED_10 + timedelta(hours=n))
        await run(world, lead_id, 0, WED_10 + timedelta(hours=n, minutes=30))
    lead = await LeadRow.get(id=lead_id)
    assert (lead.status, lead.bounce_count) == ("pool", 2)
    [flag] = await alerts_of(lead_id, "flagged")
    assert flag.user_id == world.manager.id and "退回 2 次" in flag.text
    assert await attempts(flag) == [("chat", "ok", "0")] and flag.state == "waiting"  # it asks for an ack


async def test_manual_reassignment_is_not_a_bounce(world: World) -> None:
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    await leadservice.act(world.services, lead_id, Assign(leadservice.user_view(world.rep2)),
                          leadservice.actor_for(world.manager), source=EventSource.API)
    assert (await LeadRow.get(id=lead_id)).bounce_count == 0
    assert await alerts_of(lead_id, "flagged") == []


# --- stale deals --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("silent_h", "now", "alerts"),
    [
        (73, sh(2026, 6, 3, 10, 0), 1),  # Wednesday morning, 73 h of silence: one alert
        (71, sh(2026, 6, 3, 10, 0), 0),  # not yet
        (73, sh(2026, 6, 7, 3, 0), 0),  # Sunday night: it waits for working time
        (150, sh(2026, 6, 3, 10, 0), 1),  # two periods: one alert now (the key names the period)
    ],
)
async def test_stale_deal_alerts_its_manager(world: World, silent_h, now, alerts) -> None:
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10 - timedelta(days=10))
    await contact(world, lead_id)
    await LeadRow.filter(id=lead_id).update(last_activity_at=now - timedelta(hours=silent_h))
    await deadlines.check_stale_deals(now)
    await deadlines.check_stale_deals(now)  # the next run does not alert again
    found = await alerts_of(lead_id, "stale_deal")
    assert len(found) == alerts
    if alerts:
        assert found[0].user_id == world.manager.id and "天没有任何跟进" in found[0].text


async def test_stale_deal_alerts_again_after_another_period_and_stops_on_activity(world: World, aliyun) -> None:
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10 - timedelta(days=10))
    await contact(world, lead_id)
    quiet = sh(2026, 6, 1, 9, 0)
    await LeadRow.filter(id=lead_id).update(last_activity_at=quiet)
    for now in (quiet + timedelta(hours=73), quiet + timedelta(hours=145)):  # Thursday, then Sunday..
        await deadlines.check_stale_deals(now)
    await deadlines.check_stale_deals(sh(2026, 6, 8, 10, 0))  # ..which waited for Monday morning
    first, second = await alerts_of(lead_id, "stale_deal")
    assert first.dedup_key != second.dedup_key
    await drain(world.services)
    await LeadRow.filter(id=lead_id).update(last_activity_at=sh(2026, 6, 8, 11, 0))  # the rep logged a visit
    from bot.alerting import alerts

    assert await alerts.advance(world.services, second.id, (await Alert.get(id=second.id)).channel_index) == []
    assert (await Alert.get(id=second.id)).state == "moot"
    assert aliyun[0].accepted == []


async def test_stale_rule_can_be_turned_off(world: World) -> None:
    await configure(world, escalation={"stale_after_hours": 0})
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10 - timedelta(days=10))
    await contact(world, lead_id)
    await LeadRow.filter(id=lead_id).update(last_activity_at=WED_10 - timedelta(days=9))
    assert await deadlines.check_stale_deals(WED_10) == []
    assert await alerts_of(lead_id, "stale_deal") == []


async def test_rep_without_a_manager_escalates_to_an_admin(world: World) -> None:
    from storage.models import User

    admin = await make_user(tenant_id=world.tenant.id, name="管理员", role="admin", wecom_userid="boss")
    world.sim.apps[AGENT_ID].members.add("boss")
    await User.filter(id=world.rep.id).update(manager_id=None)
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    assert (await deadline_of(lead_id)).plan["manager_id"] == admin.id
    await run(world, lead_id, 0, sh(2026, 6, 3, 10, 30))
    await run(world, lead_id, 1, sh(2026, 6, 3, 11, 0))
    [breached] = await alerts_of(lead_id, "lock_breached")
    assert breached.user_id == admin.id and await attempts(breached) == [("chat", "ok", "0")]
