"""Cards: a routed lead reaches its rep as a button card, clicks move it along, and the card follows."""

from __future__ import annotations

from bot.runtime.worker import drain
from cards.keys import ButtonKey, KeyAction
from storage.models import CardInstance, Lead, Tenant
from tests.e2e_wecom.support import (
    MANAGER,
    REP,
    STRANGER,
    World,
    button_key,
    cards_of,
    event_count,
    history,
    new_lead,
    status_on,
)
from tests.sim.wecom import CallbackSender, WeComSimulator
from tests.support.people import make_user


async def click(sender: CallbackSender, world: World, services, userid: str, task_id: str, key: str) -> None:
    """The person presses a button; WeCom delivers the click (with a fresh ResponseCode) and the worker runs."""
    delivery = await sender.deliver(world.url, sender.click(userid, task_id, key))
    assert delivery.statuses == [200]
    await drain(services)


async def test_a_routed_lead_reaches_its_rep_as_a_button_card(world: World, sim: WeComSimulator, services) -> None:
    lead = await new_lead(services, world.tenant, "crm-1")
    assert (lead.status, lead.assignee_id) == ("assigned", world.rep.id)
    (card,) = cards_of(sim, REP)
    assert card.card["card_type"] == "button_interaction"
    assert card.card["main_title"]["title"] == "杭州云帆科技有限公司"
    assert status_on(card) == "已分配"
    key = ButtonKey.unpack(button_key(card, "已联系"))
    assert (key.action, key.target, key.arg) == (KeyAction.ADVANCE, lead.id, "contacted")
    assert await CardInstance.filter(subject_id=lead.id, user_id=world.rep.id, live=True).count() == 1


async def test_two_clicks_move_the_lead_two_steps_on_the_card_and_in_its_history(
    world: World, sim: WeComSimulator, sender: CallbackSender, services
) -> None:
    lead = await new_lead(services, world.tenant, "crm-2")
    (card,) = cards_of(sim, REP)
    await click(sender, world, services, REP, card.task_id, button_key(card, "已联系"))
    assert len(card.updates) == 1 and status_on(card) == "已联系"
    await click(sender, world, services, REP, card.task_id, button_key(card, "需求确认"))
    assert len(card.updates) == 2 and status_on(card) == "需求确认"
    # Updated in place, each time with the code its click brought: no second card.
    assert cards_of(sim, REP) == [card]
    codes = [u["response_code"] for u in card.updates]
    assert len(set(codes)) == 2 and all(sim.codes[c].used for c in codes)
    await lead.refresh_from_db()
    assert (lead.status, lead.version) == ("qualified", 3)
    assert (await history(lead.id))[-2:] == [("advance", "assigned", "contacted"), ("advance", "contacted", "qualified")]


async def test_a_click_whose_code_expired_gets_a_fresh_card(
    world: World, sim: WeComSimulator, sender: CallbackSender, services, session
) -> None:
    lead = await new_lead(services, world.tenant, "crm-3")
    (old,) = cards_of(sim, REP)
    xml = sender.click(REP, old.task_id, button_key(old, "已联系"))
    params, body = sender.signed(xml)  # WeCom signs the delivery when the click happens
    sim.clock.advance(24 * 3600 + 60)  # the click's code is past its 24 h before the worker gets to it
    r = await session.post(world.url, params=params, data=body)
    assert r.status == 200
    await drain(services)
    await lead.refresh_from_db()
    assert lead.status == "contacted"
    assert old.updates == [] and status_on(old) == "已分配"
    old_card, fresh = cards_of(sim, REP)
    assert old_card is old and status_on(fresh) == "已联系" and fresh.task_id != old.task_id
    instances = await CardInstance.filter(subject_id=lead.id).order_by("id")
    assert [(c.card_id, c.live) for c in instances] == [(old.task_id, False), (fresh.task_id, True)]
    # The fresh card works: its own button moves the lead on.
    await click(sender, world, services, REP, fresh.task_id, button_key(fresh, "需求确认"))
    assert status_on(fresh) == "需求确认"


async def test_a_click_by_a_stranger_changes_nothing_and_tells_them_why(
    world: World, sim: WeComSimulator, sender: CallbackSender, services
) -> None:
    lead = await new_lead(services, world.tenant, "crm-4")
    (card,) = cards_of(sim, REP)
    events_before = await event_count(lead.id)
    # The rep's card, pressed by someone else (a forwarded screenshot is not enough: WeCom sends their id).
    xml = sender.event(STRANGER, "template_card_event", EventKey=button_key(card, "已联系"), TaskId=card.task_id,
                       CardType="button_interaction", ResponseCode=sim.issue_response_code(sender.agent_id,
                                                                                          card.task_id))
    assert (await sender.deliver(world.url, xml)).statuses == [200]
    await drain(services)
    await lead.refresh_from_db()
    assert (lead.status, lead.version) == ("assigned", 1)
    assert await event_count(lead.id) == events_before
    assert card.updates == []
    (told,) = [d.message for d in sim.inbox(STRANGER)]
    assert (told["msgtype"], told["text"]["content"]) == ("text", "只有负责人、其经理或管理员可以操作这条线索")


async def test_a_click_carrying_another_tenants_lead_id_changes_nothing(
    world: World, sim: WeComSimulator, sender: CallbackSender, services
) -> None:
    ours = await new_lead(services, world.tenant, "crm-5")
    other_tenant = await Tenant.create(name="别家公司")
    theirs = await Lead.create(tenant=other_tenant, company="别家的客户", status="assigned", version=1,
                               assignee=await make_user(tenant=other_tenant, name="别人", wecom_userid=REP))
    (card,) = cards_of(sim, REP)
    forged = ButtonKey(KeyAction.ADVANCE, theirs.id, 1, "contacted").pack()
    xml = sender.event(REP, "template_card_event", EventKey=forged, TaskId=card.task_id,
                       CardType="button_interaction", ResponseCode=sim.issue_response_code(sender.agent_id,
                                                                                          card.task_id))
    assert (await sender.deliver(world.url, xml)).statuses == [200]
    await drain(services)
    for lead in (ours, theirs):
        before = lead.version
        await lead.refresh_from_db()
        assert lead.version == before
    assert (theirs.status, await event_count(theirs.id)) == ("assigned", 0)
    assert card.updates == []
    assert [d.message["text"]["content"] for d in sim.inbox(REP) if d.message["msgtype"] == "text"] == [
        "找不到这条线索。"]


async def test_the_managers_click_is_accepted(world: World, sim: WeComSimulator, sender: CallbackSender,
                                              services) -> None:
    """The control for the stranger: the same button pressed by the rep's manager moves the lead."""
    lead = await new_lead(services, world.tenant, "crm-6")
    (card,) = cards_of(sim, REP)
    xml = sender.event(MANAGER, "template_card_event", EventKey=button_key(card, "已联系"), TaskId=card.task_id,
                       CardType="button_interaction", ResponseCode=sim.issue_response_code(sender.agent_id,
                                                                                          card.task_id))
    assert (await sender.deliver(world.url, xml)).statuses == [200]
    await drain(services)
    await lead.refresh_from_db()
    assert lead.status == "contacted"
    assert status_on(card) == "已联系" and card.shown is card.updates[-1]["template_card"]
