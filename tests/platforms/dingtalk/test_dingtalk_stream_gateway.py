"""The local Stream gateway speaks the protocol the official client speaks.

The unmodified `dingtalk_stream.DingTalkStreamClient` (its own blocking connection loop, so it runs in a thread
with its own event loop) connects, gets a robot message through its own handler and ACKs it.
"""

from __future__ import annotations

import asyncio
import threading

import dingtalk_stream
import pytest

from tests.sim.dingtalk import robot_message
from tests.sim.dingtalk_stream import StreamGateway

APP_KEY, APP_SECRET = "dingofficialclient", "official-secret"


class RecordingHandler(dingtalk_stream.ChatbotHandler):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    async def process(self, callback: dingtalk_stream.CallbackMessage) -> tuple[int, str]:
        message = dingtalk_stream.ChatbotMessage.from_dict(callback.data)
        self.texts.append(message.text.content)
        return dingtalk_stream.AckMessage.STATUS_OK, "OK"


@pytest.fixture
async def gateway():
    async with StreamGateway(redeliver_after_s=30) as gw:
        gw.add_app(APP_KEY, APP_SECRET)
        yield gw


async def test_official_client_connects_receives_and_acks(gateway, monkeypatch):
    monkeypatch.setattr(dingtalk_stream.DingTalkStreamClient, "OPEN_CONNECTION_API",
                        f"{gateway.base_url}/v1.0/gateway/connections/open")
    client = dingtalk_stream.DingTalkStreamClient(dingtalk_stream.Credential(APP_KEY, APP_SECRET))
    handler = RecordingHandler()
    client.register_callback_handler(dingtalk_stream.ChatbotMessage.TOPIC, handler)
    loop = asyncio.new_event_loop()

    def run() -> None:
        try:
            loop.run_until_complete(client.start())
        except RuntimeError:  # loop.stop() from the test ends it: start() itself never returns
            pass
        # start() swallows one CancelledError (then sleeps 10 s): cancel until every task has ended.
        for _ in range(5):
            pending = asyncio.all_tasks(loop)
            if not pending:
                break
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.wait(pending, timeout=1))
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        await gateway.wait_connected(APP_KEY)
        topic = dingtalk_stream.ChatbotMessage.TOPIC
        assert gateway.opens[0]["subscriptions"] == [{"type": "CALLBACK", "topic": topic}]
        mid = await gateway.push_callback(APP_KEY, dingtalk_stream.ChatbotMessage.TOPIC,
                                          robot_message("official-1", "rep1", text="你好"))
        ack = await gateway.wait_acked(mid)
        assert handler.texts == ["你好"]
        assert ack["headers"]["messageId"] == mid and ack["data"] == '{"response": "OK"}'
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"data": {"clientId": APP_KEY, "clientSecret": APP_SECRET}}, "Content-Type"),
        ({"json": {"clientId": APP_KEY, "clientSecret": APP_SECRET, "subscriptions": []}}, "subscriptions"),
        ({"json": {"clientId": APP_KEY, "clientSecret": APP_SECRET,
                   "subscriptions": [{"type": "PUSH", "topic": "*"}]}}, "bad subscription"),
        ({"json": {"clientId": APP_KEY, "subscriptions": [{"type": "EVENT", "topic": "*"}]}}, "clientSecret"),
    ],
    ids=["form", "no-subscriptions", "unknown-type", "no-secret"],
)
async def test_gateway_refuses_an_open_call_dingtalk_refuses(gateway, kwargs, why: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{gateway.base_url}/v1.0/gateway/connections/open", **kwargs) as r:
            assert r.status == 400
    assert why in gateway.refused_opens[0] and gateway.opens == []


async def test_a_malformed_ack_does_not_count_and_the_message_comes_again(gateway) -> None:
    import json

    import aiohttp

    topic = dingtalk_stream.ChatbotMessage.TOPIC
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{gateway.base_url}/v1.0/gateway/connections/open",
                             json={"clientId": APP_KEY, "clientSecret": APP_SECRET,
                                   "subscriptions": [{"type": "CALLBACK", "topic": topic}]}) as r:
            opened = await r.json()
        async with http.ws_connect(opened["endpoint"], params={"ticket": opened["ticket"]}) as ws:
            mid = await gateway.push_callback(APP_KEY, topic, robot_message("m-1", "rep1", text="你好"))
            frame = json.loads((await ws.receive()).data)
            assert frame["headers"]["messageId"] == mid
            # data as an object instead of a JSON string, and no content type: not an ACK
            await ws.send_str(json.dumps({"code": 200, "headers": {"messageId": mid}, "data": {"response": "OK"}}))
            await gateway.wait_for(lambda: gateway.bad_acks)
            assert mid in gateway.pending
            await ws.send_str(json.dumps({"code": 200, "message": "OK", "data": '{"response": "OK"}',
                                          "headers": {"messageId": mid, "contentType": "application/json"}}))
            await gateway.wait_acked(mid)
    assert mid not in gateway.pending
