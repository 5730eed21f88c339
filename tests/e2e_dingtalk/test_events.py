"""POST /dingtalk/{app_id}/events: the encrypted event subscription, checked by an independent implementation
(the simulator seals pushes and opens our answers with wechatpy's code for the same scheme)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bot.platforms.base import InboundKind
from bot.runtime.worker import drain
from tests.e2e_dingtalk.test_robot_callback import nothing_queued
from tests.sim.dingtalk import _success_reply_ok

TOKEN = "evtokenE2E2026"
AES_KEY = "e2eAesKey0123456789abcdefghijklmnopqrstuvwx"
OTHER_AES_KEY = "zyxwvutsrqponmlkjihgfedcba9876543210ZYXWVUT"


@pytest.fixture
async def events_url(dt, team, client, admin_headers) -> str:
    r = await client.patch(f"/admin/apps/{team.app_id}", headers=admin_headers,
                           json={"credentials": {"event_token": TOKEN, "event_aes_key": AES_KEY}})
    assert r.status == 200, await r.text()
    return dt._url(f"/dingtalk/{team.app_id}/events")


def _answer_ok(delivery, owner_key: str) -> bool:
    import base64

    return _success_reply_ok(delivery.answer, TOKEN, base64.b64decode(AES_KEY + "="), owner_key)


async def test_the_url_check_is_answered_with_the_encrypted_success_map(dt, events_url, services,
                                                                        counted) -> None:
    delivery = await dt.sender.event(events_url, token=TOKEN, aes_key=AES_KEY, owner_key=dt.APP_KEY,
                                     event={"EventType": "check_url"}, attempts=1)
    assert delivery.accepted and delivery.attempts == 1
    assert set(json.loads(delivery.answer)) == {"msg_signature", "timeStamp", "nonce", "encrypt"}
    assert await nothing_queued(services)
    assert counted() == Counter({"check_url": 1})


async def test_an_event_pushed_again_is_answered_each_time_and_processed_once(dt, events_url, services, recorder,
                                                                              counted) -> None:
    event = {"EventType": "user_modify_org", "UserId": ["rep1"], "CorpId": "dingcorp", "TimeStamp": "1767225600000"}
    first = await dt.sender.event(events_url, token=TOKEN, aes_key=AES_KEY, owner_key=dt.APP_KEY, event=event)
    again = await dt.sender.redeliver(first)
    assert first.accepted and again.status == 200 and _answer_ok(again, dt.APP_KEY)

    await drain(services)
    (got,) = recorder.of(InboundKind.EVENT)
    assert (got.event, got.sender) == ("user_modify_org", "rep1")
    assert counted() == Counter({"queued": 1, "duplicate": 1})


@pytest.mark.parametrize(("case", "token", "aes_key", "owner", "status", "outcome"), [
    ("signed with another token", "not-the-token", AES_KEY, None, 403, "bad_signature"),
    ("sealed with another aes_key", TOKEN, OTHER_AES_KEY, None, 400, "undecryptable"),
    ("sealed for another app", TOKEN, AES_KEY, "dingsomeoneelse", 400, "undecryptable"),
])
async def test_pushes_we_cannot_trust_are_refused_without_effect(dt, events_url, services, recorder, counted,
                                                                  case, token, aes_key, owner, status,
                                                                  outcome) -> None:
    delivery = await dt.sender.event(events_url, token=token, aes_key=aes_key, owner_key=owner or dt.APP_KEY,
                                     event={"EventType": "user_add_org", "UserId": ["rep2"]}, attempts=1)
    assert (delivery.status, json.loads(delivery.answer)["error"]) == (status, outcome)
    assert await nothing_queued(services)
    assert counted() == Counter({outcome: 1})


@pytest.mark.parametrize(("body", "outcome"), [(b"encrypt=abc", "malformed"), (b'{"encrypt": 5}', "malformed"),
                                               (b'{"encrypt": "!!not base64!!"}', "bad_signature")])
async def test_malformed_pushes_are_refused(client, team, events_url, services, body, outcome) -> None:
    r = await client.post(f"/dingtalk/{team.app_id}/events?signature=abc&timestamp=1&nonce=n", data=body)
    assert (await r.json())["error"] == outcome and r.status in (400, 403)
    assert await nothing_queued(services)


async def test_an_app_without_an_event_subscription_has_no_events_endpoint(dt, team, services) -> None:
    delivery = await dt.sender.event(dt._url(f"/dingtalk/{team.app_id}/events"), token=TOKEN, aes_key=AES_KEY,
                                     owner_key=dt.APP_KEY, event={"EventType": "check_url"}, attempts=1)
    assert (delivery.status, json.loads(delivery.answer)["error"]) == (404, "events_not_configured")
