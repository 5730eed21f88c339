"""Issue 19: a test card proves the whole path. It reaches a mapped person; their click comes back through the
real callback route and worker, is recorded and reported ("card delivered, click received … s later"), and touches
no lead."""

from __future__ import annotations

from bot.runtime.worker import drain
from storage.models import LeadEvent
from tests.e2e_wecom.support import AGENT_ID, REP, STRANGER


async def test_the_click_on_a_test_card_is_reported(client, admin_headers, services, sim, sender, world) -> None:
    r = await client.post(f"/admin/apps/{world.app_id}/test", headers=admin_headers, json={"to": REP})
    body = await r.json()
    assert r.status == 200, body
    assert body["delivered"] is True and body["clicked"] is False and body["summary"] == "card delivered, no click yet"
    (card,) = [c for c in sim.cards.values() if c.to == [REP]]
    key = card.card["button_list"][0]["key"]
    events_before = await LeadEvent.all().count()

    delivery = await sender.deliver(world.url, sender.click(REP, card.task_id, key))
    assert delivery.ok
    await drain(services)

    shown = await (await client.get(f"/admin/apps/{world.app_id}/test", headers=admin_headers)).json()
    assert shown["clicked"] is True and shown["click_after_s"] is not None and shown["click_after_s"] >= 0
    assert shown["summary"] == f"card delivered, click received {shown['click_after_s']} s later"
    assert shown["clicked_by"] == str(world.rep.id)
    assert await LeadEvent.all().count() == events_before  # no lead was touched
    assert any("点击已收到" in str(d.message) for d in sim.inbox(REP))


async def test_only_a_mapped_person_gets_a_test_card(client, admin_headers, sim, world) -> None:
    r = await client.post(f"/admin/apps/{world.app_id}/test", headers=admin_headers, json={"to": "nobody"})
    assert r.status == 400
    assert sim.calls("message/send") == []


async def test_a_refused_test_card_says_so(client, admin_headers, sim, world) -> None:
    sim.untrusted_ip = "203.0.113.5"
    r = await client.post(f"/admin/apps/{world.app_id}/test", headers=admin_headers, json={"to": STRANGER})
    body = await r.json()
    assert body["delivered"] is False and "60020" in body["summary"]
    r = await client.get(f"/admin/apps/{world.app_id}/test", headers=admin_headers)
    assert (await r.json())["test_id"] == body["test_id"]
    assert AGENT_ID in sim.apps


async def test_the_cli_waits_for_the_click(services, sim, sender, world) -> None:
    import asyncio
    import json

    from tests.e2e_wecom.test_app_verify import _leadbot

    cli = asyncio.create_task(_leadbot(services.settings, "apps", "test", str(world.app_id), "--to", REP,
                                       "--wait", "60"))
    for _ in range(600):
        cards = [c for c in sim.cards.values() if c.to == [REP]]
        if cards or cli.done():
            break
        await asyncio.sleep(0.1)
    (card,) = cards
    assert (await sender.deliver(world.url, sender.click(REP, card.task_id, card.card["button_list"][0]["key"]))).ok
    await drain(services)
    code, out, err = await cli
    assert code == 0, err
    answer = json.loads(out)
    assert answer["clicked"] is True and answer["summary"].startswith("card delivered, click received")
    assert "card delivered, no click yet" in err
