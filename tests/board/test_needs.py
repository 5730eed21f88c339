"""The leads needing attention, counted and listed in SQL (`bot.board.needs`, both backends): the counts are exactly
those of ranking every open lead, each page is its slice of that ranking, another tenant's and another team's leads
never count; the board shows the most pressing few with the exact totals and links to the rest, and the list pages
through all of them."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import datetime, timedelta

import pytest

from bot.board import attention, digest, needs, queries, report
from bot.board.attention import Need
from bot.leads.types import Status
from storage.models import Deadline, Tenant, User
from storage.models import Lead as LeadRow
from tests.board.support import Teams, link_token, make_teams
from tests.board.test_board_web import sign_in
from tests.escalation.support import World, assign, configure, new_lead
from tests.support.clock import sh

STALE = timedelta(hours=72)
HELD = [Status.ASSIGNED, Status.CONTACTED, Status.QUALIFIED, Status.DEMO, Status.NEGOTIATION]


async def _random_leads(world: World, tenant: Tenant, holders: list[User], rnd: random.Random, n: int) -> None:
    """Leads written as rows: every stage, holder, priority and bounce count, times either side of each limit (to
    the second), some with a response lock standing or cancelled, some never assigned."""
    now = world.services.clock.now()
    for i in range(n):
        status = rnd.choice([*HELD, Status.POOL, Status.WON])
        ago = timedelta(hours=rnd.choice([1, 23, 24, 25, 71, 72, 73, 200]), seconds=rnd.choice([-1, 0, 1]))
        lead = await LeadRow.create(
            tenant=tenant, company=f"客户{i}", status=str(status),
            assignee=None if status is Status.POOL else rnd.choice(holders), priority=rnd.choice([0, 0, 1, 2]),
            bounce_count=rnd.choice([0, 0, 1, 2, 3]), assigned_at=None if rnd.random() < 0.1 else now - ago,
            last_activity_at=now - timedelta(hours=rnd.choice([1, 71, 72, 73, 300])))
        if rnd.random() < 0.5:
            await Deadline.create(tenant_id=tenant.id, lead=lead, kind="response_lock", fence=0,
                                  due_at=now + timedelta(minutes=rnd.choice([-90, -1, 1, 90])),
                                  state=rnd.choice(["pending", "fired", "cancelled"]))


async def _every_page(tenant_id: int, holders: set[int] | None, now: datetime, stale: timedelta,
                      counts: needs.Counts, wanted: tuple[Need, ...], holder: int | None) -> list[needs.Page]:
    """Pages 1 to the last of a list, 7 leads a page, then the page after the last asked for."""
    pages = [await needs.page(tenant_id, holders, now, stale, counts, needs=wanted, holder=holder, size=7)]
    for k in range(2, pages[0].pages + 2):
        pages.append(await needs.page(tenant_id, holders, now, stale, counts, needs=wanted, holder=holder, number=k,
                                      size=7))
    return pages


@pytest.mark.backend
@pytest.mark.parametrize("seed", range(3))
async def test_counts_and_pages_are_those_of_ranking_every_open_lead(world: World, seed: int) -> None:
    rnd = random.Random(seed)
    world.services.clock.set(sh(2026, 12, 11, 16, 0) + timedelta(microseconds=500))
    now = world.services.clock.now()
    tenant = world.tenant
    team = [world.manager, world.rep, world.rep2]
    await _random_leads(world, tenant, team, rnd, 60)
    # Another tenant's leads, held by its people: never counted, never listed.
    other = await Tenant.create(name="乙公司")
    await _random_leads(world, other, [await User.create(tenant=other, name="外人", role="rep")], rnd, 20)
    for holders in ({world.rep.id, world.rep2.id}, None):
        for stale in (STALE, timedelta(0)):  # 0: the tenant has no stale rule
            everyone = attention.ranked(await queries.open_leads(tenant.id, holders), now, stale)
            counts = await needs.counted(tenant.id, holders, now, stale)
            assert counts.cells == {h: dict(Counter(a.need for a in everyone if a.lead.assignee_id == h))
                                    for h in {a.lead.assignee_id for a in everyone}}
            assert counts.total == len(everyone) > 0
            for wanted in ((Need.OVERDUE,), report.OTHER_NEEDS, tuple(Need)):
                listed = [a for a in everyone if a.need in wanted]
                assert await needs.most_pressing(tenant.id, holders, now, stale, needs=wanted,
                                                 limit=5) == listed[:5]
                for holder in (None, world.rep.id):
                    of = [a for a in listed if holder is None or a.lead.assignee_id == holder]
                    pages = await _every_page(tenant.id, holders, now, stale, counts, wanted, holder)
                    assert all(p.total == len(of) for p in pages)
                    assert [p.number for p in pages] == list(range(1, len(pages))) + [len(pages) - 1]
                    assert [a for p in pages[:-1] for a in p.items] == of
                    assert pages[-1].items == pages[-2].items  # asked past the last page: the last


async def test_the_board_lists_the_most_pressing_with_exact_totals_and_pages_the_rest(
        client, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    teams: Teams = await make_teams(world)
    await configure(world, escalation={"steps": [{"action": "remind_rep"}], "stale_after_hours": 72})
    now = world.services.clock.now()
    # 王经理's team: five leads overdue (the oldest waited longest), one stale; 赵经理's: one overdue.
    titles = {}
    for hours, rep in ((40, world.rep), (50, world.rep2), (60, world.rep), (70, world.rep2)):
        lead = await new_lead(world, f"超时{hours}")
        await assign(world, lead, rep, now=now - timedelta(hours=hours))
        titles[hours] = lead
    quiet = await new_lead(world, "久未跟进")
    await assign(world, quiet, world.rep, now=now - timedelta(days=10))
    await LeadRow.filter(id=quiet).update(status=str(Status.CONTACTED), last_activity_at=now - timedelta(days=5))
    await assign(world, await new_lead(world, "别队超时"), teams.other_rep, now=now - timedelta(hours=45))
    monkeypatch.setattr(needs, "SHOWN", 2)
    monkeypatch.setattr(needs, "PAGE_SIZE", 2)

    cookie = {"Cookie": await sign_in(client, await link_token(world, world.manager))}
    page = await (await client.get("/board", headers=cookie)).text()
    overdue = page.split('id="overdue"')[1].split("</section>")[0]
    assert "逾期未联系（5）" in overdue
    shown = re.findall(r'href="/board/leads/(\d+)"', overdue)
    assert shown == [str(titles[70]), str(titles[60])]  # the two that waited longest
    assert 'href="/board/needs?need=overdue">查看全部 5 条' in overdue
    others = page.split('id="attention"')[1].split("</section>")[0]
    assert "其他需要关注（1）" in others and "久未跟进" in others and "查看全部" not in others
    # Each rep's row counts the leads needing attention they hold, and links to them.
    assert f'<a href="/board/needs?rep={world.rep.id}">4</a>' in page
    assert f'<a href="/board/needs?rep={world.rep2.id}">2</a>' in page
    assert "别队超时" not in page

    seen = []
    url = "/board/needs?need=overdue"
    while url:
        listing = await (await client.get(url.replace("&amp;", "&"), headers=cookie)).text()
        assert "共 5 条" in listing and "别队超时" not in listing
        seen += re.findall(r'href="/board/leads/(\d+)"', listing.split('id="needs"')[1])
        url = (re.findall(r'href="([^"]+)" rel="next"', listing) or [None])[0]
    ranked = [str(titles[h]) for h in (70, 60, 50, 40)] + [str(teams.overdue_lead)]
    assert seen == ranked  # every overdue lead once, most pressing first, page after page
    one = await (await client.get(f"/board/needs?rep={world.rep2.id}", headers=cookie)).text()
    assert re.findall(r'href="/board/leads/(\d+)"', one.split('id="needs"')[1]) == [str(titles[70]),
                                                                                    str(titles[50])]
    # Another team's rep, or a person of another tenant, is not the manager's to list.
    assert (await client.get(f"/board/needs?rep={teams.other_rep.id}", headers=cookie)).status == 404
    assert (await client.get("/board/needs?need=bogus", headers=cookie)).status == 404
    admin = {"Cookie": await sign_in(client, await link_token(world, teams.admin))}
    everything = await (await client.get("/board/needs?need=overdue", headers=admin)).text()
    assert "共 6 条" in everything

    # The digest names the three most pressing and counts the rest exactly.
    data = digest.digest_data(await report.build(await Tenant.get(id=world.tenant.id), world.manager, now),
                              now.date())
    assert [lead["id"] for lead in data["leads"]] == [titles[70], titles[60]]  # as many as the board shows
    assert data["more"] == "另有 4 条待关注，见看板"
