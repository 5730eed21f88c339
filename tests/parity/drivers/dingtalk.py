"""DingTalk drivers: the app in HTTP mode (clicks to the registered card callback URL) and in Stream mode
(everything over a local Stream gateway to this process's supervisor)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any, ClassVar
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient

from bot.platforms.dingtalk.stream import TOPIC_CARD, TOPIC_ROBOT
from bot.platforms.dingtalk.supervisor import StreamSupervisor
from bot.runtime.services import Services
from tests.parity.drivers.base import HeldCard, Person, PlatformDriver, SentMessage
from tests.sim import dingtalk as dt_sim
from tests.sim.dingtalk_stream import StreamGateway

WORK_NOTICE_PATH = "/topapi/message/corpconversation/asyncsend_v2"


class DingTalkDriver(PlatformDriver):
    platform = "dingtalk"
    ident_field = "dingtalk_staff_id"
    APP_KEY = "dingparityapp01"
    APP_SECRET = "parity-dingtalk-secret-0123456789"
    TEMPLATE = "leadbot.schema"
    MODE = "http"

    def __init__(self, client: TestClient, services: Services, admin_headers: dict[str, str]) -> None:
        super().__init__(client, services, admin_headers)
        self.sim = dt_sim.DingTalkSimulator()
        self.sender = dt_sim.CallbackSender(client.session)

    async def start(self) -> None:
        await self.sim.start()
        self.sim.add_app(self.APP_KEY, self.APP_SECRET, agent_id=4242)

    async def close(self) -> None:
        await self.sim.close()

    def _app_body(self) -> dict[str, Any]:
        return {"platform": "dingtalk", "api_base": self.sim.base_url,
                "credentials": {"app_key": self.APP_KEY, "app_secret": self.APP_SECRET, "mode": self.MODE,
                                "card_template_id": self.TEMPLATE, "agent_id": 4242}}

    def _add_member(self, platform_id: str) -> None:
        self.sim.apps[self.APP_KEY].users.add(platform_id)

    def card_route(self) -> tuple[str, str]:
        """(our URL on the test server, apiSecret) as registered with DingTalk by the app's verification."""
        registered = [v for v in self.sim.callbacks.values() if f"/dingtalk/{self.app_id}/card" in v[0]]
        if not registered:
            raise LookupError("no card callback URL registered for the app (was it verified?)")
        url, api_secret = registered[-1]
        return self._url(urlsplit(url).path), api_secret or ""

    async def click(self, person: Person, card: HeldCard, button_text: str) -> int:
        url, api_secret = self.card_route()
        # Our template's buttons all send actionId "click" with the packed key as their one parameter.
        payload = dt_sim.card_click(card.card_id, person.platform_id, "click", {"key": card.buttons[button_text]})
        return (await self.sender.card_callback(url, api_secret, payload)).status

    async def _robot(self, payload: dict[str, Any]) -> int:
        url = self._url(f"/dingtalk/{self.app_id}/callback")
        return (await self.sender.robot_message(url, self.APP_SECRET, payload)).status

    async def deliver_text(self, person: Person, text: str) -> int:
        return await self._robot(dt_sim.robot_message(self._msg_id(), person.platform_id, text=text,
                                                      robot_code=self.APP_KEY))

    async def deliver_voice(self, person: Person, audio: bytes, *, duration_s: float = 5.0,
                            recognition: str | None = None) -> int:
        code = "dl-" + secrets.token_urlsafe(12)
        self.sim.add_file(code, audio, "audio/amr")
        content: dict[str, Any] = {"downloadCode": code, "duration": int(duration_s * 1000)}
        if recognition is not None:
            content["recognition"] = recognition
        return await self._robot(dt_sim.robot_message(self._msg_id(), person.platform_id, "audio", content=content,
                                                      robot_code=self.APP_KEY))

    def _msg_id(self) -> str:
        return f"msg{time.time_ns()}{next(self._ids)}"

    def refuse_next_alert(self) -> str:
        # Alerts go as work notices (工作通知); 33012 is DingTalk's "invalid userid" for a person it cannot reach.
        self.sim.inject(WORK_NOTICE_PATH, errcode=33012, message="无效的USERID")
        return "33012"

    def cards_of(self, person: Person) -> list[HeldCard]:
        out = []
        for card in self.sim.cards.values():
            if card.to != person.platform_id:
                continue
            shown = {**card.card_data, **card.private_data.get(person.platform_id, {})}
            buttons = {b["text"]: b["key"] for b in json.loads(shown.get("buttons") or "[]")}
            fields = {f["name"]: f["value"] for f in json.loads(shown.get("fields") or "[]")}
            out.append(HeldCard(card.out_track_id, shown.get("title", ""), shown.get("status", ""), buttons,
                                card.updates, shown.get("details", ""), fields))
        return out

    def messages_to(self, person: Person) -> list[SentMessage]:
        out = []
        for m in self.sim.messages:
            if m["to"] == person.platform_id:
                kind = "markdown" if m["msgKey"] == "sampleMarkdown" else "text"
                out.append(SentMessage(kind, m["param"].get("text") or m["param"].get("content") or ""))
        for n in self.sim.notices:
            if person.platform_id in n["users"]:
                msg = n["msg"]
                body = msg.get(msg["msgtype"], {})
                out.append(SentMessage("work_notice", body.get("text") or body.get("content") or ""))
        return out


class DingTalkStreamDriver(DingTalkDriver):
    """The same DingTalk app in Stream mode: no public URL; messages and clicks come over a local Stream gateway
    to this process's supervisor, and count as delivered once the gateway has the ACK."""

    MODE = "stream"
    ACK_WAIT_S = 10.0
    RUNNER_OPTIONS: ClassVar[dict[str, float]] = {"lease_ttl_s": 1.0, "silence_timeout_s": 5.0,
                                                  "backoff_base_s": 0.05, "backoff_max_s": 0.2,
                                                  "stop_grace_s": 1.0, "drain_s": 1.0}

    def __init__(self, client: TestClient, services: Services, admin_headers: dict[str, str]) -> None:
        super().__init__(client, services, admin_headers)
        self.gateway = StreamGateway(redeliver_after_s=0.3, ping_interval_s=0.5)
        self.supervisor: StreamSupervisor | None = None
        self._supervising: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        await self.gateway.start()
        self.gateway.add_app(self.APP_KEY, self.APP_SECRET)
        self.supervisor = StreamSupervisor(self.services, poll_s=0.1, gateway_base=self.gateway.base_url,
                                           runner_options=self.RUNNER_OPTIONS)

    async def register_app(self, tenant_id: int) -> int:
        app_id = await super().register_app(tenant_id)
        assert self.supervisor is not None
        self._supervising = asyncio.create_task(self.supervisor.run())
        await self.gateway.wait_connected(self.APP_KEY)
        return app_id

    async def close(self) -> None:
        if self.supervisor is not None:
            await self.supervisor.stop()
        if self._supervising is not None:
            await asyncio.gather(self._supervising, return_exceptions=True)
        await self.gateway.close()
        await super().close()

    async def push(self, topic: str, data: dict[str, Any]) -> int:
        """Deliver a CALLBACK frame; 200 once acknowledged, 0 if no ACK came (it stays pending for redelivery)."""
        message_id = await self.gateway.push_callback(self.APP_KEY, topic, data)
        try:
            await self.gateway.wait_acked(message_id, self.ACK_WAIT_S)
        except TimeoutError:
            return 0
        return 200

    def card_route(self) -> tuple[str, str]:
        raise LookupError("a Stream-mode app registers no card callback URL")

    async def click(self, person: Person, card: HeldCard, button_text: str) -> int:
        payload = dt_sim.card_click(card.card_id, person.platform_id, "click", {"key": card.buttons[button_text]})
        return await self.push(TOPIC_CARD, payload)

    async def _robot(self, payload: dict[str, Any]) -> int:
        return await self.push(TOPIC_ROBOT, payload)
