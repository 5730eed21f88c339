"""The daily digest: its schedule across a weekend, the Mid-Autumn/National Day holidays and a 调休 Saturday; one
card per manager per day through the alert chain, with 查看 links and 接手 that takes the lead over."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from bot.board import digest
from bot.board.schedule import digest_day, next_digest
from bot.calendar.worktime import WorkCalendar
from bot.runtime.worker import drain
from storage.models import Alert, Delivery
from storage.models import Lead as LeadRow
from tests.escalation.support import World, alert_cards_to, assign, buttons, click, configure, new_lead
from tests.support.people import make_user

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar("Asia/Shanghai")
NINE = time(9, 0)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def test_schedule_across_holidays_and_weekend() -> None:
    """2026: 09-25 (Fri) Mid-Autumn, 10-01..07 National Day, Saturday 10-10 a make-up working day."""
    sent: dict[date, datetime] = {}
    now = sh(2026, 9, 24, 0, 0)
    while now < sh(2026, 10, 13, 0, 0):
        day = digest_day(now, CAL, NINE)
        if day is not None:
            sent.setdefault(day, now)
        now += timedelta(minutes=15)
    assert sorted(sent) == [date(2026, 9, 24), date(2026, 9, 28), date(2026, 9, 29), date(2026, 9, 30),
                            date(2026, 10, 8), date(2026, 10, 9), date(2026, 10, 10), date(2026, 10, 12)]
    assert {t.time() for t in sent.values()} == {NINE}
    assert next_digest(sh(2026, 9, 30, 9, 0), CAL, NINE) == sh(2026, 10, 8, 9, 0)
    assert next_digest(sh(2026, 9, 24, 9, 0), CAL, NINE) == sh(2026, 9, 28, 9, 0)


def test_a_late_digest_still_goes_that_day_but_not_after_work() -> None:
    assert digest_day(sh(2026, 9, 29, 8, 59), CAL, NINE) is None
    assert digest_day(sh(2026, 9, 29, 14, 0), CAL, NINE) == date(2026, 9, 29)   # workers were down at 09:00
    assert digest_day(sh(2026, 9, 29, 18, 0), CAL, NINE) is None
    assert digest_day(sh(2026, 9, 29, 7, 30), CAL, time(7, 30)) == date(2026, 9, 29)


async def _digests() -> list[Alert]:
    return await Alert.filter(kind=digest.KIND).order_by("id")


async def test_one_digest_per_manager_per_working_morning(world: World) -> None:
    await configure(world, calendar={"hours": [["09:00", "12:00"], ["13:30", "18:00"]]})
    lead = await new_lead(world, "杭州云帆科技")
    await assign(world, lead, world.rep, now=sh(2026, 9, 24, 10, 0))
    s = world.services
    for now in (sh(2026, 9, 25, 9, 30), sh(2026, 9, 26, 9, 30), sh(2026, 10, 3, 9, 30),   # holiday, weekend
                sh(2026, 10, 10, 8, 59)):                                                # 调休 Saturday, too early
        assert await digest.send_due(s, now) == []
    assert await _digests() == []
    timers = await digest.send_due(s, sh(2026, 10, 10, 9, 0))
    assert len(timers) == 1
    assert await digest.send_due(s, sh(2026, 10, 10, 9, 1)) == []          # the same morning again: nothing new
    assert await digest.send_due(s, sh(2026, 10, 10, 11, 0)) == []
    sat = await _digests()
    assert [(a.user_id, a.dedup_key) for a in sat] == [(world.manager.id, f"board:{world.tenant.id}:"
                                                                           f"{world.manager.id}:2026-10-10")]
    assert len(await digest.send_due(s, sh(2026, 10, 12, 9, 0))) == 1     # Monday: the next one
    # A manager without reps gets none; a tenant that turned the board off neither.
    await make_user(tenant=world.tenant, name="孤经理", role="manager", wecom_userid="gu")
    assert await digest.send_due(s, sh(2026, 10, 13, 9, 0)) != []
    assert {a.user_id for a in await _digests()} == {world.manager.id}
    await configure(world, calendar={"hours": [["09:00", "18:00"]]})
    tenant = world.tenant
    tenant.settings = {**tenant.settings, "board": {"enabled": False}}
    await tenant.save()
    assert await digest.send_due(s, sh(2026, 10, 14, 9, 0)) == []


async def test_digest_card_shows_figures_and_takes_a_lead_over(world: World) -> None:
    s = world.services
    # The locks below are armed in the past and run when the worker drains: keep the leads with their reps.
    await configure(world, escalation={"steps": [{"action": "remind_rep"}]})
    quiet = await new_lead(world, "宁波海曙机电")
    await assign(world, quiet, world.rep, now=sh(2026, 6, 1, 10, 0))          # untouched since Monday
    busy = await new_lead(world, "苏州工业园")
    await assign(world, busy, world.rep2, now=sh(2026, 6, 2, 10, 0))
    await digest.send_due(s, sh(2026, 6, 3, 9, 5))                           # Wednesday morning
    alert = (await _digests())[0]
    assert alert.plan["extra"]["leads"][0]["id"] == quiet                   # waited longest
    assert "宁波海曙机电" in alert.text and "https://leadbot.test/board" in alert.text
    await s.queue.enqueue("advance_alert", alert_id=alert.id, index=0)
    await drain(s)
    [card] = [c for c in alert_cards_to(world.sim, "wang") if c.task_id.startswith(f"lbal{alert.id}-")]
    tc = card.card
    assert tc["main_title"]["title"].startswith("线索日报：王经理团队")
    names = [f["keyname"] for f in tc["horizontal_content_list"]]
    assert names == ["24h未联", "首联中位", "超时", "无证据率", "演示转化", "人均语音"]
    assert "宁波海曙机电" in tc["sub_title_text"]
    links = {b["text"]: b["url"] for b in tc["button_list"] if b.get("type") == 1}
    assert set(links) == {"打开看板", "查看1", "查看2"}
    view = urlsplit(links["查看1"])
    assert view.path == "/board/login" and parse_qs(view.query)["next"] == [f"/board/leads/{quiet}"]
    assert [d.channel for d in await Delivery.filter(alert_id=alert.id)] == ["chat"]

    await click(world, "wang", card, "接手1")
    row = await LeadRow.get(id=quiet)
    assert row.assignee_id == world.manager.id
    assert (await LeadRow.get(id=busy)).assignee_id == world.rep2.id
    assert buttons(card)["接手2"]                                           # the digest itself stays as it was
