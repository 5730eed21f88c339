"""One driver per platform, so a scenario is written once and run on WeCom and DingTalk alike.

A driver wraps the platform's simulator (what the service calls) and its callback sender (what the platform posts
to the service's real routes): it registers an app through the admin API, creates people on both sides, delivers
what a person does (a click on a card they hold, a text, a voice message with its audio in the simulator's media
store) and reads what a person got (the cards they hold as they look now, the messages and notices sent to them).
Everything a scenario sees goes through the wire formats; nothing reaches into the service's internals.
"""

from __future__ import annotations

import abc
import asyncio
import itertools
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient

from bot.platforms.base import Platform
from bot.platforms.dingtalk.stream import TOPIC_CARD, TOPIC_ROBOT
from bot.platforms.dingtalk.supervisor import StreamSupervisor
from bot.services import Services
from cards.keys import BadButtonKey, ButtonKey, KeyAction
from tests.sim import dingtalk as dt_sim
from tests.sim import wecom as wc_sim
from tests.sim.dingtalk_stream import StreamGateway

LEAD_ACTIONS = frozenset({KeyAction.ADVANCE, KeyAction.LOST, KeyAction.REOPEN, KeyAction.CLAIM, KeyAction.RELEASE,
                          KeyAction.REFRESH})


class RouteMissing(Exception):
    """The service has no callback route for this platform (its capability is not in this build)."""


@dataclass(frozen=True, slots=True)
class Person:
    id: int  # our user id
    name: str
    platform_id: str  # WeCom userid / DingTalk staffId


@dataclass(frozen=True, slots=True)
class HeldCard:
    """An interactive card as its holder sees it now (after every update)."""

    card_id: str
    title: str
    status: str
    buttons: dict[str, str]  # button text -> packed key
    updates: int
    details: str = ""  # the free text: a notice (why a click was refused), what is missing, the body

    def key(self, text: str) -> ButtonKey:
        return ButtonKey.unpack(self.buttons[text])

    def targets(self, *actions: KeyAction) -> set[int]:
        found = set()
        for packed in self.buttons.values():
            try:
                key = ButtonKey.unpack(packed)
            except BadButtonKey:
                continue
            if key.action in actions:
                found.add(key.target)
        return found

    @property
    def lead_id(self) -> int | None:
        leads = self.targets(*LEAD_ACTIONS)
        return leads.pop() if len(leads) == 1 else None


@dataclass(frozen=True, slots=True)
class SentMessage:
    channel: str  # "text", "markdown", "work_notice", "notice_card"
    text: str


class PlatformDriver(abc.ABC):
    platform: ClassVar[Platform]
    ident_field: ClassVar[str]

    def __init__(self, client: TestClient, services: Services, admin_headers: dict[str, str]) -> None:
        self.client = client
        self.services = services
        self.admin_headers = admin_headers
        self.app_id = 0
        self._ids = itertools.count(1)

    # -- lifecycle ----------------------------------------------------------------------------------------------

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    # -- set-up -------------------------------------------------------------------------------------------------

    @abc.abstractmethod
    def _app_body(self) -> dict[str, Any]:
        """`platform`, `api_base` and `credentials` of the app on this simulator."""

    async def register_app(self, tenant_id: int) -> int:
        """Register the simulator's app through the admin API and verify it (token, card callback URL)."""
        body = {"tenant_id": tenant_id, "name": f"{self.platform} sales", **self._app_body()}
        r = await self.client.post("/admin/apps", json=body, headers=self.admin_headers)
        assert r.status == 201, await r.text()
        self.app_id = (await r.json())["id"]
        adapter = await self.services.adapter(self.app_id)
        verify = getattr(adapter, "verify", None)
        if verify is not None:
            await verify()
        return self.app_id

    @abc.abstractmethod
    def _add_member(self, platform_id: str) -> None: ...

    async def add_user(self, tenant_id: int, name: str, *, role: str = "rep", manager: Person | None = None,
                       platform_id: str | None = None) -> Person:
        """A person of the tenant who is also a member of the app on the platform."""
        platform_id = platform_id or f"{self.platform}-user-{next(self._ids)}"
        body: dict[str, Any] = {"tenant_id": tenant_id, "name": name, "role": role, self.ident_field: platform_id}
        if manager is not None:
            body["manager_id"] = manager.id
        r = await self.client.post("/admin/users", json=body, headers=self.admin_headers)
        assert r.status == 201, await r.text()
        self._add_member(platform_id)
        return Person((await r.json())["id"], name, platform_id)

    # -- what people do -----------------------------------------------------------------------------------------

    @abc.abstractmethod
    async def click(self, person: Person, card: HeldCard, button_text: str) -> int:
        """`person` presses a button on a card they hold; the HTTP status the service answered."""

    @abc.abstractmethod
    async def deliver_text(self, person: Person, text: str) -> int: ...

    @abc.abstractmethod
    async def deliver_voice(self, person: Person, audio: bytes, *, duration_s: float = 5.0,
                            recognition: str | None = None) -> int:
        """A voice message whose audio sits in the simulator's media store until the service downloads it."""

    # -- what people see ----------------------------------------------------------------------------------------

    @abc.abstractmethod
    def cards_of(self, person: Person) -> list[HeldCard]: ...

    def lead_cards_of(self, person: Person, lead_id: int) -> list[HeldCard]:
        return [c for c in self.cards_of(person) if c.lead_id == lead_id]

    @abc.abstractmethod
    def messages_to(self, person: Person) -> list[SentMessage]:
        """Every non-interactive message shown to `person`: chat texts and markdown, notices."""

    def alerts_to(self, person: Person) -> list[SentMessage]:
        """What an alert on the chat channel looks like to `person`: a message or notice, or an alert card
        (one whose button acknowledges an alert)."""
        cards = [SentMessage("alert_card", f"{c.title} {c.status}") for c in self.cards_of(person)
                 if c.targets(KeyAction.ACK)]
        return self.messages_to(person) + cards

    def _url(self, path: str) -> str:
        return str(self.client.make_url(path))


# -- DingTalk ---------------------------------------------------------------------------------------------------


class DingTalkDriver(PlatformDriver):
    platform = Platform.DINGTALK
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

    def cards_of(self, person: Person) -> list[HeldCard]:
        out = []
        for card in self.sim.cards.values():
            if card.to != person.platform_id:
                continue
            shown = {**card.card_data, **card.private_data.get(person.platform_id, {})}
            buttons = {b["text"]: b["key"] for b in json.loads(shown.get("buttons") or "[]")}
            out.append(HeldCard(card.out_track_id, shown.get("title", ""), shown.get("status", ""), buttons,
                                card.updates, shown.get("details", "")))
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


# -- WeCom ------------------------------------------------------------------------------------------------------


class WeComDriver(PlatformDriver):
    platform = Platform.WECOM
    ident_field = "wecom_userid"
    AGENT_ID = 1000002
    SECRET = "parity-wecom-secret-0123456789"
    TOKEN = "ParityTok3n"
    AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
    ROUTE = "/wecom/{app_id}/callback"

    def __init__(self, client: TestClient, services: Services, admin_headers: dict[str, str]) -> None:
        super().__init__(client, services, admin_headers)
        # The simulator's clock starts now: callback timestamps must look current to the service.
        self.sim = wc_sim.WeComSimulator(clock=wc_sim.SimClock(time.time()))
        self.sender = wc_sim.CallbackSender(client.session, token=self.TOKEN, encoding_aes_key=self.AES_KEY,
                                            corp_id=self.sim.corp_id, agent_id=self.AGENT_ID, simulator=self.sim)

    async def start(self) -> None:
        if not any(getattr(r, "canonical", None) == self.ROUTE for r in self.client.app.router.resources()):
            raise RouteMissing(f"this build has no {self.ROUTE} route")
        await self.sim.start()
        self.sim.add_app(self.AGENT_ID, self.SECRET, set())

    async def close(self) -> None:
        await self.sim.close()

    def _app_body(self) -> dict[str, Any]:
        return {"platform": "wecom", "api_base": self.sim.url,
                "credentials": {"corp_id": self.sim.corp_id, "agent_id": self.AGENT_ID, "secret": self.SECRET,
                                "token": self.TOKEN, "encoding_aes_key": self.AES_KEY}}

    def _add_member(self, platform_id: str) -> None:
        self.sim.apps[self.AGENT_ID].members.add(platform_id)

    async def _deliver(self, inner_xml: bytes) -> int:
        result = await self.sender.deliver(self._url(self.ROUTE.format(app_id=self.app_id)), inner_xml)
        return result.statuses[-1] or 0

    async def click(self, person: Person, card: HeldCard, button_text: str) -> int:
        # The sender's own click() only knows the buttons of the card as first sent; after an update the buttons
        # carry new keys, so the event is built here the same way, with a fresh single-use ResponseCode.
        fields = {"EventKey": card.buttons[button_text], "TaskId": card.card_id, "CardType": "button_interaction",
                  "ResponseCode": self.sim.issue_response_code(self.AGENT_ID, card.card_id)}
        return await self._deliver(self.sender.event(person.platform_id, "template_card_event", **fields))

    async def deliver_text(self, person: Person, text: str) -> int:
        return await self._deliver(self.sender.text(person.platform_id, text))

    async def deliver_voice(self, person: Person, audio: bytes, *, duration_s: float = 5.0,
                            recognition: str | None = None) -> int:
        # WeCom app voice carries no duration or recognition: the service learns both from the audio itself.
        media_id = "media-" + secrets.token_urlsafe(12)
        self.sim.add_media(media_id, audio, "audio/amr")
        return await self._deliver(self.sender.voice(person.platform_id, media_id))

    def cards_of(self, person: Person) -> list[HeldCard]:
        out = []
        for sent in self.sim.cards.values():
            if person.platform_id not in sent.to:
                continue
            shown = sent.card
            for update in sent.updates:
                shown = update.get("template_card") or shown
            buttons = {b["text"]: b.get("key", "") for b in shown.get("button_list") or []}
            out.append(HeldCard(sent.task_id, (shown.get("main_title") or {}).get("title", ""),
                                (shown.get("source") or {}).get("desc", ""), buttons, len(sent.updates),
                                shown.get("sub_title_text", "")))
        return out

    def messages_to(self, person: Person) -> list[SentMessage]:
        out = []
        for d in self.sim.inbox(person.platform_id):
            msgtype = d.message.get("msgtype")
            if msgtype in ("text", "markdown"):
                out.append(SentMessage(msgtype, d.message[msgtype].get("content", "")))
            elif msgtype == "template_card":
                card = d.message["template_card"]
                if card.get("card_type") in wc_sim.INTERACTIVE_CARDS:
                    continue
                title = (card.get("main_title") or {}).get("title", "")
                out.append(SentMessage("notice_card", f"{title} {card.get('sub_title_text', '')}".strip()))
        return out


DRIVERS: dict[str, type[PlatformDriver]] = {"wecom": WeComDriver, "dingtalk": DingTalkDriver,
                                            "dingtalk-stream": DingTalkStreamDriver}
