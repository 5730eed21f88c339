"""Replayed and forged card clicks. tests/e2e_wecom covers a replayed text and a WeCom click carrying another
tenant's lead; tests/e2e_dingtalk a DingTalk click redelivered once. Here: a WeCom click delivered three times and
replayed later with a new timestamp (so de-duplication cannot catch it: the lead's version must), and a DingTalk click
forged for another tenant's lead."""

from __future__ import annotations

from bot.runtime.worker import drain
from cards.keys import ButtonKey, KeyAction
from storage.models import Lead, LeadEvent, Tenant
from tests.e2e_wecom.support import REP, World, button_key, cards_of, history, new_lead, status_on
from tests.hostile.support import assert_serving
from tests.parity.support import eventually, route_everything_to
from tests.parity.support import new_lead as dt_new_lead
from tests.sim.dingtalk import card_click
from tests.sim.wecom import CallbackSender, WeComSimulator
from tests.support.people import make_user


async def test_a_click_delivered_three_times_and_replayed_later_moves_the_lead_once(
    world: World, sim: WeComSimulator, sender: CallbackSender, services, client,
) -> None:
    lead = await new_lead(services, world.tenant, "replay-1")
    (card,) = cards_of(sim, REP)
    xml = sender.click(REP, card.task_id, button_key(card, "已联系"))
    # WeCom never saw our 200 (say): three deliveries, each encrypted afresh.
    assert (await sender.deliver(world.url, xml, until_ok=False)).statuses == [200, 200, 200]
    await drain(services)
    # Captured and replayed an hour later with a new CreateTime: not a retry WeCom would send, so not de-duplicated;
    # the key carries the lead's version, which has moved on.
    replayed = xml.replace(b"<CreateTime>", b"<CreateTime>1", 1)
    assert (await sender.deliver(world.url, replayed)).statuses == [200]
    await drain(services)
    await lead.refresh_from_db()
    assert (lead.status, lead.version) == ("contacted", 2)
    assert [h for h in await history(lead.id) if h[0] == "advance"] == [("advance", "assigned", "contacted")]
    assert len(card.updates) == 1 and status_on(card) == "已联系"
    await assert_serving(client)


async def test_a_dingtalk_click_forged_for_another_tenants_lead_changes_nothing(dt, team, services, client,
                                                                                worker) -> None:
    await route_everything_to(team.tenant_id, team.rep.id)
    ours = await dt_new_lead(services, team.tenant_id)
    card = await eventually(lambda: next(iter(dt.lead_cards_of(team.rep, ours.id)), None), what="the lead card")
    other = await Tenant.create(name="别家公司")
    theirs = await Lead.create(tenant=other, company="别家的客户", status="assigned", version=1,
                               assignee=await make_user(tenant=other, name="别人", dingtalk_staff_id="rep1"))
    url, api_secret = dt.card_route()
    forged = ButtonKey(KeyAction.ADVANCE, theirs.id, 1, "contacted").pack()
    delivery = await dt.sender.card_callback(url, api_secret, card_click(card.card_id, "rep1", "click",
                                                                         {"key": forged}))
    assert delivery.status == 200  # taken like any click: the worker decides, and refuses
    told = await eventually(lambda: [m for m in dt.messages_to(team.rep) if "找不到" in m.text],
                            what="the rep being told")
    assert told
    for lead, version in ((ours, 1), (theirs, 1)):
        await lead.refresh_from_db()
        assert lead.version == version
    assert await LeadEvent.filter(lead_id=theirs.id).count() == 0
    assert (await Lead.get(id=ours.id)).status == "assigned"
    await assert_serving(client)
