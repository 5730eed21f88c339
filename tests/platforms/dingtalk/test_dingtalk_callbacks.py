"""CallbackSender -> a receiver built from our checks (what the HTTP routes will do): signed robot messages,
encrypted events with the encrypted success reply, card callbacks to the registered route, redelivery."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.errors import SignatureError, StaleTimestamp
from bot.platforms.base import Inbound, InboundKind
from bot.platforms.dingtalk.crypto import DingTalkCrypto
from bot.platforms.dingtalk.errors import CryptoError, MalformedPayload
from bot.platforms.dingtalk.events import load_json, parse_card_callback, parse_event, parse_robot_message
from bot.platforms.dingtalk.sign import verify_callback
from tests.platforms.dingtalk.support import APP_SECRET, credentials
from tests.sim.dingtalk import CallbackSender, card_click, robot_message

EVENT_TOKEN = "evtoken123"
EVENT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
CARD_SECRET = "card-api-secret"


class Receiver:
    def __init__(self, *, plain_event_reply: bool = False) -> None:
        self.got: list[Inbound] = []
        self.refused: list[str] = []
        self.plain_event_reply = plain_event_reply
        creds = credentials(event_token=EVENT_TOKEN, event_aes_key=EVENT_AES_KEY)
        self.crypto = DingTalkCrypto.from_credentials(creds)

    async def callback(self, request: web.Request) -> web.Response:
        try:
            verify_callback(request.headers.get("timestamp"), request.headers.get("sign"), APP_SECRET,
                            now_ms=int(time.time() * 1000))
            self.got.append(parse_robot_message(load_json(await request.read())))
        except (SignatureError, StaleTimestamp, MalformedPayload) as e:
            self.refused.append(type(e).__name__)
            return web.Response(status=403)
        return web.json_response({})

    async def card(self, request: web.Request) -> web.Response:
        verify_callback(request.headers.get("timestamp"), request.headers.get("sign"), CARD_SECRET,
                        now_ms=int(time.time() * 1000))
        self.got.append(parse_card_callback(load_json(await request.read())))
        return web.json_response({})

    async def events(self, request: web.Request) -> web.Response:
        try:
            text = self.crypto.verify_and_decrypt(request.query, load_json(await request.read()).get("encrypt", ""))
            self.got.append(parse_event(load_json(text)))
        except (SignatureError, CryptoError, MalformedPayload) as e:
            self.refused.append(type(e).__name__)
            return web.Response(status=403)
        if self.plain_event_reply:
            return web.Response(text="success")
        return web.json_response(self.crypto.encrypted_reply(timestamp=str(int(time.time() * 1000))))


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rx = Receiver()
    app = web.Application()
    app.router.add_post("/dingtalk/1/callback", rx.callback)
    app.router.add_post("/dingtalk/1/card", rx.card)
    app.router.add_post("/dingtalk/1/events", rx.events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield rx, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/dingtalk/1"
    await runner.cleanup()


async def test_signed_robot_message_is_verified_and_parsed(session, receiver):
    rx, base = receiver
    payload = robot_message("m-100", "rep1", "audio", content={"downloadCode": "dl", "duration": 5000,
                                                                "recognition": "预算一百万"})
    delivery = await CallbackSender(session).robot_message(f"{base}/callback", APP_SECRET, payload)
    assert delivery.accepted
    (inbound,) = rx.got
    assert (inbound.kind, inbound.media_ref, inbound.recognition) == (InboundKind.VOICE, "dl", "预算一百万")


async def test_redelivery_is_the_same_message(session, receiver):
    rx, base = receiver
    sender = CallbackSender(session)
    delivery = await sender.robot_message(f"{base}/callback", APP_SECRET, robot_message("m-101", "rep1", text="x"))
    await sender.redeliver(delivery)
    assert [i.dedup_key for i in rx.got] == ["m-101", "m-101"]


@pytest.mark.parametrize(
    ("kwargs", "refusal"),
    [({"sign": "Zm9yZ2Vk"}, "SignatureError"), ({"timestamp_ms": 1_000_000_000_000}, "StaleTimestamp")],
)
async def test_bad_signature_or_old_timestamp_is_refused(session, receiver, kwargs, refusal):
    rx, base = receiver
    delivery = await CallbackSender(session).robot_message(f"{base}/callback", APP_SECRET,
                                                           robot_message("m-102", "rep1", text="x"), **kwargs)
    assert not delivery.accepted and delivery.status == 403
    assert rx.refused == [refusal] and rx.got == []


async def test_encrypted_event_gets_the_encrypted_success_reply(session, receiver):
    rx, base = receiver
    delivery = await CallbackSender(session).event(f"{base}/events", token=EVENT_TOKEN, aes_key=EVENT_AES_KEY,
                                                   owner_key=credentials().app_key, event={"EventType": "check_url"})
    assert delivery.accepted and delivery.attempts == 1
    assert [i.event for i in rx.got] == ["check_url"]


async def test_plain_success_is_not_accepted_and_the_event_comes_again(session, receiver):
    rx, base = receiver
    rx.plain_event_reply = True
    delivery = await CallbackSender(session).event(f"{base}/events", token=EVENT_TOKEN, aes_key=EVENT_AES_KEY,
                                                   owner_key=credentials().app_key,
                                                   event={"EventType": "user_add_org", "UserId": ["u1"]}, attempts=3)
    assert not delivery.accepted and delivery.attempts == 3
    assert len({i.dedup_key for i in rx.got}) == 1 and len(rx.got) == 3


async def test_event_sealed_for_another_app_is_refused(session, receiver):
    rx, base = receiver
    delivery = await CallbackSender(session).event(f"{base}/events", token=EVENT_TOKEN, aes_key=EVENT_AES_KEY,
                                                   owner_key="dingotherapp", event={"EventType": "check_url"},
                                                   attempts=1)
    assert not delivery.accepted and rx.refused == ["CryptoError"]


async def test_card_callback_goes_to_the_registered_route(session, receiver, sim, make_adapter):
    rx, base = receiver
    adapter = make_adapter()
    await adapter.register_card_callback(f"{base}/card", CARD_SECRET)
    await adapter.send_card("rep1", "lead-5-v1", {"cardData": {"cardParamMap": {"stage": "已分配"}}})
    card = sim.cards["lead-5-v1"]
    url, secret = sim.callbacks[card.route_key]
    delivery = await CallbackSender(session).card_callback(url, secret, card_click(card.out_track_id, card.to,
                                                                                    "contacted", {"lead": "5"}))
    assert delivery.accepted
    (inbound,) = rx.got
    assert (inbound.card.card_id, inbound.card.key, inbound.card.params) == ("lead-5-v1", "contacted", {"lead": "5"})
