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
