"""The response lock: armed through the real path on the tenant's working time, fenced against late and duplicate
work, cancelled by 已联系, and durable: Redis may lose its timers, the database re-arms them."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from arq.constants import default_queue_name, in_progress_key_prefix, job_key_prefix, result_key_prefix

from bot.alerting import deadlines
from bot.alerting.ladder import deadline_timer
from bot.jobs import timers
from bot.runtime.worker import drain, running_worker
from storage import redis_keys
from storage.models import Alert, Deadline
from storage.models import Lead as LeadRow
from tests.escalation.support import (
    WED_10,
    World,
    alerts_of,
    assign,
    configure,
    contact,
    deadline_of,
    eventually,
    new_lead,
    sh,
)
from tests.support.jobclock import queued

# --- working time, through the real arm path ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assigned", "intent", "due"),
    [
        # 30 working minutes across the lunch break: 15 before it, 15 after 13:30
        (sh(2026, 6, 3, 11, 45), "high", sh(2026, 6, 3, 13, 45)),
        # Friday 17:30 + 2 h: 30 min on Friday, 90 on Monday morning
        (sh(2026, 6, 5, 17, 30), "medium", sh(2026, 6, 8, 10, 30)),
        # 国庆 2026 (1-7 October): 30 September 17:00 + 2 h lands on 8 October
        (sh(2026, 9, 30, 17, 0), "medium", sh(2026, 10, 8, 10, 0)),
        # 调休: Saturday 10 October 2026 is a working day
        (sh(2026, 10, 9, 17, 0), "medium", sh(2026, 10, 10, 10, 0)),
        # assigned at night: the clock starts at 09:00
        (sh(2026, 6, 3, 22, 10), "high", sh(2026, 6, 4, 9, 30)),
        # 24 working hours: 3.2 working days of 7.5 h
        (sh(2026, 6, 1, 9, 0), "low", sh(2026, 6, 4, 10, 30)),
        # no tier: the tenant's default of 4 h
        (sh(2026, 6, 3, 9, 0), None, sh(2026, 6, 3, 14, 30)),
    ],
)
async def test_deadline_counts_working_time(world: World, assigned, intent, due) -> None:
    lead_id = await new_lead(world, intent=intent)
    await assign(world, lead_id, world.rep, now=assigned)
    deadline = await deadline_of(lead_id)
    assert deadline.due_at == due
    assert deadline.state == "pending" and deadline.step == 0 and deadline.next_at == due
    assert await queued(world.services) == {f"lb:deadline:{deadline.id}:{deadline.fence}:0": due.timestamp()}


async def test_admin_overrides_move_the_deadline(world: World) -> None:
    # next year's holidays come late: the admin marks the 调休 Saturday a day off, and a holiday Monday
    await configure(world, calendar={"overrides": {"2026-10-10": False, "2026-10-12": False}})
    lead_id = await new_lead(world, intent="medium")
    await assign(world, lead_id, world.rep, now=sh(2026, 10, 9, 17, 0))
    assert (await deadline_of(lead_id)).due_at == sh(2026, 10, 13, 10, 0)


async def test_urgent_lead_gets_the_shortest_lock_and_tenant_hours(world: World) -> None:
    await configure(world, calendar={"hours": [["08:30", "12:00"], ["13:00", "17:30"]]})
    lead_id = await new_lead(world, intent="low", tags=["急"])
    await LeadRow.filter(id=lead_id).update(priority=2)
    await assign(world, lead_id, world.rep, now=sh(2026, 6, 3, 11, 50))
    assert (await deadline_of(lead_id)).due_at == sh(2026, 6, 3, 13, 20)


@pytest.mark.parametrize(
    ("working", "manager_at", "reassign_at"),
    [
        (True, sh(2026, 6, 4, 9, 20), sh(2026, 6, 4, 11, 20)),  # ladder delays count working time too
        (False, sh(2026, 6, 3, 18, 20), sh(2026, 6, 3, 20, 20)),  # the tenant chose wall-clock delays
    ],
)
async def test_ladder_is_frozen_onto_the_lock(world: World, working, manager_at, reassign_at) -> None:
    await configure(world, escalation={"delays_in_working_time": working})
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=sh(2026, 6, 3, 17, 20))  # due 17:50
    plan = (await deadline_of(lead_id)).plan
    assert [(s["action"], datetime.fromisoformat(s["at"])) for s in plan["steps"]] == [
        ("remind_rep", sh(2026, 6, 3, 17, 50)), ("alert_manager", manager_at), ("reassign", reassign_at)]
    assert (plan["assignee_id"], plan["manager_id"]) == (world.rep.id, world.manager.id)
    # a later settings change does not reshape a lock already running
    await configure(world, escalation={"steps": [{"action": "release", "delay_minutes": 5}]})
    assert (await deadline_of(lead_id)).plan == plan


# --- fences: late, out-of-order and duplicate work changes nothing -------------------------------------------------


async def test_reassignment_restarts_the_lock_and_the_old_timer_does_nothing(world: World) -> None:
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    first = await deadline_of(lead_id)
    await assign(world, lead_id, world.rep2, now=WED_10 + timedelta(minutes=10))
    second = await deadline_of(lead_id)
    assert second.id == first.id and second.fence > first.fence
    assert second.plan["assignee_id"] == world.rep2.id and second.due_at == sh(2026, 6, 3, 10, 40)
    # the old lock's timer fires: stale, nothing happens; the new one runs its first step
    assert await deadlines.run_step(world.services, first.id, first.fence, 0) == []
    assert (await deadline_of(lead_id)).step == 0
    await deadlines.run_step(world.services, second.id, second.fence, 0)
    assert [a.user_id for a in await alerts_of(lead_id, "lock_reminder")] == [world.rep2.id]


async def test_arm_and_cancel_arriving_out_of_order(world: World) -> None:
    lead_id = await new_lead(world)
    at = WED_10.isoformat()
    arm = {"lead_id": lead_id, "assignee_id": world.rep.id, "minutes": 30, "at": at}
    # the cancel of version 5 is carried out before the arm of version 4 (the sweeper ran them out of order)
    await deadlines.cancel_lock(world.tenant.id, {"lead_id": lead_id, "fence": 5})
    assert await deadlines.arm_lock(world.tenant.id, {**arm, "fence": 4}) == []
    row = await deadline_of(lead_id)
    assert (row.state, row.fence) == ("cancelled", 5)
    # a newer arm does restart it, and an older one arriving after it is ignored
    assert len(await deadlines.arm_lock(world.tenant.id, {**arm, "fence": 7})) == 1
    assert await deadlines.arm_lock(world.tenant.id, {**arm, "fence": 6, "assignee_id": world.rep2.id}) == []
    row = await deadline_of(lead_id)
    assert (row.state, row.fence, row.plan["assignee_id"]) == ("pending", 7, world.rep.id)


async def test_arm_run_twice_arms_the_same_timer(world: World) -> None:
    lead_id = await new_lead(world)
    payload = {"lead_id": lead_id, "assignee_id": world.rep.id, "minutes": 30, "fence": 3, "at": WED_10.isoformat()}
    first = await deadlines.arm_lock(world.tenant.id, payload)
    again = await deadlines.arm_lock(world.tenant.id, payload)  # the outbox row ran twice (crash before done)
    assert first == again and len(first) == 1
    assert await timers.arm(world.services.redis, first + again) == 1


async def test_duplicate_and_concurrent_step_runs_claim_once(world: World) -> None:
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    row = await deadline_of(lead_id)
    results = await asyncio.gather(*(deadlines.run_step(world.services, row.id, row.fence, 0) for _ in range(3)))
    assert sorted(len(r) for r in results) == [0, 0, 2]  # one run: the reminder's first attempt, the next step
    assert await deadlines.run_step(world.services, row.id, row.fence, 0) == []  # later duplicate
    assert await deadlines.run_step(world.services, row.id, row.fence + 1, 1) == []  # wrong fence
    row = await deadline_of(lead_id)
    assert [h["step"] for h in row.history] == [0] and row.step == 1
    assert len(await alerts_of(lead_id, "lock_reminder")) == 1
    assert await Alert.filter(dedup_key=f"lock:{row.id}:{row.fence}:0").count() == 1


# --- 已联系 -----------------------------------------------------------------------------------------------------------


async def test_contacted_lead_is_never_escalated(world: World) -> None:
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    await contact(world, lead_id)
    row = await deadline_of(lead_id)
    assert row.state == "cancelled" and row.next_at is None
    await drain(world.services)  # the lock's timer (long due) fires
    assert (await deadline_of(lead_id)).history == []
    assert await alerts_of(lead_id) == []


async def test_contact_racing_the_timer_wins(world: World) -> None:
    """The rep pressed 已联系 and the timer fires before the follow-ups ran: the lock was cancelled with the change
    itself (one transaction, issue 23), so the step does nothing, and the follow-up, when it comes, leaves it so."""
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    fence = (await deadline_of(lead_id)).fence
    await contact(world, lead_id, inline=False)  # follow-ups queued, not run
    row = await deadline_of(lead_id)
    assert row.state == "cancelled" and row.fence > fence
    assert await deadlines.run_step(world.services, row.id, fence, 0) == []  # the timer of the old lock
    await drain(world.services)
    row = await deadline_of(lead_id)
    assert row.state == "cancelled" and row.history == []
    assert await alerts_of(lead_id) == []


async def test_contact_after_the_reminder_stops_the_ladder_and_the_reminder(world: World, aliyun) -> None:
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    row = await deadline_of(lead_id)
    armed = await deadlines.run_step(world.services, row.id, row.fence, 0)
    await timers.arm(world.services.redis, [t for t in armed if t.function == "advance_alert"])
    await drain(world.services)  # the reminder goes out by chat and waits for an ack
    reminder = (await alerts_of(lead_id, "lock_reminder"))[0]
    assert reminder.state == "waiting"
    await contact(world, lead_id)
    assert await deadlines.run_step(world.services, row.id, row.fence, 1) == []
    from bot.alerting import alerts

    assert await alerts.advance(world.services, reminder.id, 1) == []  # its ack timeout: no SMS, it is moot
    assert (await Alert.get(id=reminder.id)).state == "moot"
    assert aliyun[0].accepted == []
    assert await alerts_of(lead_id, "lock_breached") == []


# --- durable timers ---------------------------------------------------------------------------------------------


async def test_deadline_survives_worker_restart_and_flushdb(world: World) -> None:
    await configure(world, escalation={"steps": [{"action": "remind_rep"},
                                                 {"action": "alert_manager", "delay_minutes": 43200}],
                                       "delays_in_working_time": False})
    lead_id = await new_lead(world, intent="high")
    # due long ago (fires as soon as anything runs it); the manager step 30 days after that, in the future
    await assign(world, lead_id, world.rep, now=world.services.clock.now() - timedelta(days=12))
    services = world.services
    await services.redis.flushdb()  # Redis lost every timer before any worker ran
    assert await queued(services) == {}

    async def fired() -> bool:
        return len((await deadline_of(lead_id)).history) == 1

    async with running_worker(services):  # starts by re-arming from the database
        await eventually(fired)
    row = await deadline_of(lead_id)
    step1 = f"lb:deadline:{row.id}:{row.fence}:1"

    # again: Redis flushed, worker restarted; step 0 must not run twice, step 1 is armed again
    await services.redis.flushdb()
    async with running_worker(services):
        await eventually(lambda: _has(services, step1))
        # a duplicate of step 0's job delivered anyway (arq is at-least-once): claimed already, nothing happens
        await timers.arm(services.redis, [deadline_timer(row.id, row.fence, 0, WED_10)], force=True)
        await eventually(lambda: _gone(services, f"lb:deadline:{row.id}:{row.fence}:0"))
    row = await deadline_of(lead_id)
    assert [h["step"] for h in row.history] == [0]
    assert len(await alerts_of(lead_id, "lock_reminder")) == 1
    step1_at = datetime.fromisoformat(row.plan["steps"][1]["at"])
    assert (await queued(services))[step1] == int(step1_at.timestamp() * 1000) / 1000  # arq keeps whole ms


async def _has(services, job_id: str) -> bool:
    return job_id in await queued(services)


async def _gone(services, job_id: str) -> bool:
    return not await services.redis.exists(job_key_prefix + job_id) and job_id not in await queued(services)


async def test_auditor_rearms_everything_after_a_data_loss(world: World) -> None:
    lead_ids = [await new_lead(world, company=f"客户{i}", intent="low") for i in range(3)]
    for lead_id in lead_ids:
        await assign(world, lead_id, world.rep, now=world.services.clock.now() + timedelta(days=1))  # due in the future
    services = world.services
    armed = await queued(services)
    assert len(armed) == 3
    await timers.rearm_all(services)
    await services.redis.flushdb()  # (only this test's database: the server may be shared)
    assert await timers.audit(services) == 3  # the sentinel is gone: everything comes back, not only the overdue
    assert await queued(services) == armed
    assert await timers.audit(services) == 0  # and the next pass finds nothing to do


async def test_auditor_rearms_a_lost_overdue_timer_and_takes_back_a_dead_workers(world: World) -> None:
    services = world.services
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    row = await deadline_of(lead_id)
    job_id = f"lb:deadline:{row.id}:{row.fence}:0"
    await timers.rearm_all(services)  # sentinel present: no data loss seen
    # one job lost on its own
    await services.redis.delete(job_key_prefix + job_id)
    await services.redis.zrem(default_queue_name, job_id)
    assert await timers.audit(services) == 1
    assert job_id in await queued(services)
    # running in a live worker (picked late, workers behind): left alone
    await services.redis.set(in_progress_key_prefix + job_id, b"1", px=300_000)
    await services.redis.set(redis_keys.TIMER_RUNNING + job_id, b"1", px=60_000)
    assert await timers.audit(services) == 0
    assert await services.redis.exists(in_progress_key_prefix + job_id)
    # its worker died mid-run: the in-progress mark holds it, and a kept result would block a plain re-arm
    await services.redis.delete(redis_keys.TIMER_RUNNING + job_id)
    await services.redis.set(result_key_prefix + job_id, b"x", px=300_000)
    assert await timers.audit(services) == 1
    assert not await services.redis.exists(in_progress_key_prefix + job_id, result_key_prefix + job_id)
    await drain(services)  # every step is long due: each runs, once
    assert [h["step"] for h in (await deadline_of(lead_id)).history] == [0, 1, 2]


async def test_rearm_marks_redis_as_complete(world: World) -> None:
    services = world.services
    await services.redis.delete(redis_keys.TIMERS_ARMED)
    await timers.rearm_all(services)
    assert await services.redis.exists(redis_keys.TIMERS_ARMED)
    assert await Deadline.filter(state="pending").count() == 0


async def test_web_process_rearms_at_start(world: World, aiohttp_client) -> None:
    """`leadbot serve --no-worker` re-arms too: a web process starting after Redis lost its data."""
    from bot.runtime.app import create_app

    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    row = await deadline_of(lead_id)
    await world.services.redis.flushdb()
    await aiohttp_client(create_app(world.services))
    await eventually(lambda: _has(world.services, f"lb:deadline:{row.id}:{row.fence}:0"))
    # The mark follows once every timer is armed: a moment after the first one is queued (on a busy machine, the
    # assertion ran in between).
    await eventually(lambda: world.services.redis.exists(redis_keys.TIMERS_ARMED))
