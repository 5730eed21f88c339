"""The board's inputs loaded from the database (both backends): a history made through the real workflow gives the
figures worked out by hand, and another tenant's rows never count."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from bot.admin.tenant_settings import TenantSettings
from bot.board import attention, queries
from bot.board.figures import facts_of, figures, team_scope, windows
from storage.models import Alert, Deadline, Delivery, Tenant, User, VoiceNote
from tests.escalation.support import World, assign, configure, contact, new_lead
from tests.support.clock import sh

SH = ZoneInfo("Asia/Shanghai")


async def test_figures_from_the_database(world: World) -> None:
    clock = world.services.clock
    clock.set(sh(2026, 12, 11, 16, 0))  # a Friday afternoon; Tuesday to Friday were working days, 08:00 to 20:00
    await configure(world, calendar={"hours": [["08:00", "20:00"]]}, escalation={"steps": [{"action": "remind_rep"}]})
    day = sh(2026, 12, 8, 10, 0)
    quick = await new_lead(world, "杭州云帆科技")
    await assign(world, quick, world.rep, now=day)
    await contact(world, quick, now=day + timedelta(minutes=90))
    slow = await new_lead(world, "宁波海曙机电")
    await assign(world, slow, world.rep2, now=day)
    await contact(world, slow, now=day + timedelta(days=1, hours=1))       # 25 h later: 13 working hours
    await new_lead(world, "温州瓯海五金")                                    # in the pool: nobody's
    await VoiceNote.create(tenant=world.tenant, user=world.rep, audio_sha256="a" * 64, duration_s=30,
                           created_at=clock.now())  # rows the ORM stamps get the test's time, not the machine's
    alert = await Alert.create(tenant_id=world.tenant.id, lead_id=quick, user=world.manager, kind="lock_breached",
                               text="t", dedup_key="lock:1:1:1", plan={"moot": {"assignee_id": world.rep.id}},
                               created_at=clock.now())
    await Delivery.create(tenant_id=world.tenant.id, alert_id=alert.id, channel="sms", provider="aliyun",
                          outcome="ok", at=clock.now())
    # Another tenant's history is invisible.
    other = await Tenant.create(name="乙公司")
    stranger = await User.create(tenant=other, name="外人", role="rep")
    await VoiceNote.create(tenant=other, user=stranger, audio_sha256="b" * 64, duration_s=30, created_at=clock.now())

    now = clock.advance(minutes=5)
    inputs = await queries.load_inputs(world.tenant.id, now)
    tenant = await Tenant.get(id=world.tenant.id)
    calendar = TenantSettings.of(tenant.settings).calendar_for(tenant.timezone)
    facts = facts_of(inputs, now, calendar)
    manager = next(p for p in inputs.people if p.id == world.manager.id)
    week = windows(now, SH)[1]
    f = figures(facts, team_scope(manager, inputs.people), week)
    assert f.first_contacts == 2 and f.ttfc_median_min == (90 + 13 * 60) / 2 and f.ttfc_p90_min == 13 * 60
    assert f.untouched_24h == 1                                             # 宁波 waited 25 h
    assert (f.contacted, f.to_demo) == (2, 0)
    assert f.voice_notes == 1 and f.reps == 2
    assert f.lock_breaches == 1 and f.escalations["alert_manager"] == 1
    assert (f.alerts, f.fallback_alerts) == (1, 1)
    # The overdue list reads open leads with their locks; contacted leads are not overdue.
    assert [lead.title for lead in await queries.open_leads(world.tenant.id)] != []
    assert all(lead.status != "assigned" for lead in await queries.open_leads(world.tenant.id))


async def test_the_leads_needing_attention_are_read_as_assess_finds_them_at_their_limits(world: World) -> None:
    """The page reads only the open leads `attention.assess` may flag (the condition is in SQL, on the stored
    times): at each limit, to the millisecond either side, it finds the leads that ranking all of them finds."""
    clock = world.services.clock
    clock.set(sh(2026, 12, 11, 16, 0) + timedelta(microseconds=500))  # stored times with a fraction of a second
    await configure(world, escalation={"steps": [{"action": "remind_rep"}], "stale_after_hours": 72})
    start = clock.now() - timedelta(days=5)
    waiting = await new_lead(world, "杭州云帆科技")
    await assign(world, waiting, world.rep, now=start)
    quiet = await new_lead(world, "宁波海曙机电")
    await assign(world, quiet, world.rep2, now=start)
    await contact(world, quiet, now=start + timedelta(hours=2))
    stale = timedelta(hours=72)
    limits = [start + attention.UNTOUCHED_AFTER, start + timedelta(hours=2) + stale]
    limits += [d for d, in await Deadline.filter(lead_id=waiting).values_list("due_at")]
    everyone = await queries.open_leads(world.tenant.id)
    for limit, after in [(at, after) for at in limits for after in (stale, timedelta(0))]:  # 0: no stale rule
        for now in (limit - timedelta(milliseconds=1), limit, limit + timedelta(milliseconds=1)):
            needing = await queries.open_leads(world.tenant.id, needing=(now, after))
            assert attention.ranked(needing, now, after) == attention.ranked(everyone, now, after), now
    flagged = {a.lead.id for a in attention.ranked(everyone, limits[1], stale)}
    assert flagged == {waiting, quiet}  # the limits are reached: both reasons were read
