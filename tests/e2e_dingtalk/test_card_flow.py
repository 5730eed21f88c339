"""A lead on DingTalk end to end, as the wire shows it: the card created and delivered to the rep's robot chat,
clicks posted to the card callback URL the app registered when verified, the card updated in place by outTrackId;
and card callbacks we cannot trust refused without effect."""

from __future__ import annotations

import json
import time
from collections import Counter
from urllib.parse import urlsplit

import pytest

from bot.leads import store as leadstore
from storage.models import Lead
from tests.e2e_dingtalk.test_robot_callback import nothing_queued
from tests.parity.drivers import DingTalkDriver, HeldCard
from tests.parity.support import eventually, new_lead, route_everything_to
from tests.sim.dingtalk import card_click


def _card(dt: DingTalkDriver, user, lead_id: int, status: str) -> HeldCard | None:
    return next((c for c in dt.lead_cards_of(user, lead_id) if c.status == status), None)


async def test_card_to_the_rep_then_two_clicks_update_it_in_place(dt, team, services, worker, counted) -> None:
    await route_everything_to(team.tenant_id, team.rep.id)
    lead = await new_lead(services, team.tenant_id)
    card = await eventually(lambda: _card(dt, team.rep, lead.id, "已分配"), what="the lead card")

    (create,) = [r.body for r in dt.sim.requests_to("/v1.0/card/instances/createAndDeliver")]
    route_key = f"leadbot_{dt.APP_KEY}"
    assert (create["outTrackId"], create["openSpaceId"]) == (card.card_id, "dtv1.card//IM_ROBOT.rep1")
    assert (create["callbackType"], create["callbackRouteKey"]) == ("HTTP", route_key)
    registered_url, api_secret = dt.sim.callbacks[route_key]
    assert registered_url == f"https://leadbot.test/dingtalk/{team.app_id}/card"
    assert api_secret and api_secret != dt.APP_SECRET

    url = dt._url(urlsplit(registered_url).path)
    first = await dt.sender.card_callback(url, api_secret, card_click(card.card_id, "rep1", "click",
                                                                      {"key": card.buttons["已联系"]}))
    repeat = await dt.sender.redeliver(first)  # DingTalk's retry of the same press
    assert (first.status, repeat.status) == (200, 200)
    card = await eventually(lambda: _card(dt, team.rep, lead.id, "已联系"), what="the card after click 1")
    await dt.click(team.rep, card, "需求确认")
    card = await eventually(lambda: _card(dt, team.rep, lead.id, "需求确认"), what="the card after click 2")

    updates = [r.body for r in dt.sim.requests_to("/v1.0/card/instances") if r.method == "PUT"]
    assert [u["outTrackId"] for u in updates] == [card.card_id, card.card_id]
    assert all(u["cardUpdateOptions"]["updateCardDataByKey"] for u in updates)
    moves = [(e.before.get("status"), e.after.get("status")) for e, _ in await leadstore.events_of(lead.id)
             if e.actor_id == team.rep.id]
    assert moves == [("assigned", "contacted"), ("contacted", "qualified")]
    assert (await Lead.get(id=lead.id)).status == "qualified"
    assert counted() == Counter({"queued": 2, "duplicate": 1})


def _click_payload() -> dict:
    return card_click("lble1-unknown", "rep1", "click", {"key": "lb1:adv:1:1:contacted"})


@pytest.mark.parametrize(("case", "secret", "offset_ms", "status", "outcome"), [
    ("signed with the AppSecret instead of the card apiSecret", "app", 0, 403, "bad_signature"),
    ("signed with a made-up secret", "made-up-secret", 0, 403, "bad_signature"),
    ("stale timestamp", "card", -2 * 3_600_000, 403, "stale_timestamp"),
])
async def test_card_callbacks_we_cannot_trust_are_refused(dt, team, client, services, counted, case, secret,
                                                          offset_ms, status, outcome) -> None:
    from bot.platforms.dingtalk.sign import compute_sign

    url, api_secret = dt.card_route()
    key = {"app": dt.APP_SECRET, "card": api_secret}.get(secret, secret)
    ts = int(time.time() * 1000) + offset_ms
    r = await client.post(urlsplit(url).path, data=json.dumps(_click_payload()),
                          headers={"timestamp": str(ts), "sign": compute_sign(ts, key)})
    assert (r.status, (await r.json())["error"]) == (status, outcome)
    assert await nothing_queued(services)
    assert counted() == Counter({outcome: 1})


async def test_a_card_callback_without_a_card_or_clicker_is_malformed(dt, team, services) -> None:
    url, api_secret = dt.card_route()
    delivery = await dt.sender.card_callback(url, api_secret, {"type": "actionCallback", "content": "{}"})
    assert (delivery.status, json.loads(delivery.answer)["error"]) == (400, "malformed")
    assert await nothing_queued(services)
