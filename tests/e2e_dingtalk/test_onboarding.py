"""Issue 19 on DingTalk: the test card's click comes back through the card callback route and is reported, and
directory sync reads department/listsub + user/list (leaders as managers, dry run, apply)."""

from __future__ import annotations

from bot.chat import testcard
from storage.models import LeadEvent
from tests.parity.support import eventually
from tests.sim.dingtalk import card_click
from tests.support.people import by_outside_id, user_exists


async def test_a_dingtalk_test_card_click_is_reported(dt, team, client, admin_headers, services, worker) -> None:
    r = await client.post(f"/admin/apps/{team.app_id}/verify", headers=admin_headers)
    assert (await r.json())["ok"] is True  # also registers the card callback route
    r = await client.post(f"/admin/apps/{team.app_id}/test", headers=admin_headers, json={"to": "rep1"})
    sent = await r.json()
    assert r.status == 200 and sent["delivered"] is True, sent
    (card,) = [c for c in dt.cards_of(team.rep) if c.title == testcard.test_card(1).title]
    url, api_secret = dt.card_route()
    events = await LeadEvent.all().count()
    payload = card_click(card.card_id, "rep1", "click", {"key": next(iter(card.buttons.values()))})
    assert (await dt.sender.card_callback(url, api_secret, payload)).status == 200

    async def clicked():
        body = await (await client.get(f"/admin/apps/{team.app_id}/test", headers=admin_headers)).json()
        return body if body["clicked"] else None

    body = await eventually(clicked, what="the test card's click")
    assert body["summary"].startswith("card delivered, click received") and body["clicked_by"] == str(team.rep.id)
    assert await LeadEvent.all().count() == events


async def test_dingtalk_directory_sync(dt, team, client, admin_headers) -> None:
    sim = dt.sim
    sim.departments[2] = ("华南销售", 1)
    sim.add_person("boss", "老板", [1], leader=True, mobile="13700137000")
    sim.add_person("mgr1", "王经理", [2], leader=True)
    sim.add_person("rep1", "张三丰", [2], mobile="13900139000")
    sim.add_person("newrep", "新人", [2])
    url = f"/admin/apps/{team.app_id}/directory/sync"
    dry = await (await client.post(url, headers=admin_headers, json={})).json()
    assert dry["dry_run"] is True and sorted(c["user_id"] for c in dry["added"]) == ["boss", "newrep"]
    assert not await user_exists(team.tenant_id, dingtalk_staff_id="newrep")
    applied = await (await client.post(url, headers=admin_headers, json={"apply": True})).json()
    assert applied["dry_run"] is False
    users = await by_outside_id(team.tenant_id, "dingtalk_staff_id")
    assert users["newrep"].manager_id == users["mgr1"].id  # the department's leader
    assert users["mgr1"].manager_id == users["boss"].id  # the leader above
    assert users["boss"].phone == "+8613700137000"
    # rep1 was added by hand through the API: the name typed stays, and the answer says so
    (skipped,) = [c for c in applied["skipped"] if c["user_id"] == "rep1"]
    assert "name" in skipped["skipped"] and users["rep1"].name == "张三"
