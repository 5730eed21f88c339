"""One driver per platform, so a scenario is written once and run on WeCom and DingTalk alike.

A driver wraps the platform's simulator (what the service calls) and its callback sender (what the platform posts
to the service's real routes): it registers an app through the admin API, creates people on both sides, delivers
what a person does (a click on a card they hold, a text, a voice message with its audio in the simulator's media
store) and reads what a person got (the cards they hold as they look now, the messages and notices sent to them).
Everything a scenario does and sees goes through the wire formats. The one shortcut: `register_app` verifies the
app by calling the adapter's `verify()` directly, as the admin "verify" action does.
"""

from __future__ import annotations

import abc
import itertools
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp.test_utils import TestClient

from bot.runtime.services import Services
from cards.keys import BadButtonKey, ButtonKey, KeyAction

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
    fields: dict[str, str] = field(default_factory=dict)  # the labelled values (预算, 招标日期...)

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
    platform: ClassVar[str]
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
                       platform_id: str | None = None, phone: str | None = None,
                       email: str | None = None) -> Person:
        """A person of the tenant who is also a member of the app on the platform (with a phone and an e-mail
        address for alerts that fall back from chat)."""
        platform_id = platform_id or f"{self.platform}-user-{next(self._ids)}"
        body: dict[str, Any] = {"tenant_id": tenant_id, "name": name, "role": role, self.ident_field: platform_id}
        if manager is not None:
            body["manager_id"] = manager.id
        body.update({k: v for k, v in (("phone", phone), ("email", email)) if v is not None})
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

    # -- what the platform does ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def refuse_next_alert(self) -> str:
        """The platform refuses the next alert sent to a person on the chat channel, as it does when the person
        cannot be reached through the app; the platform's error code, as the delivery record keeps it."""

    # -- what people see ----------------------------------------------------------------------------------------

    @abc.abstractmethod
    def cards_of(self, person: Person) -> list[HeldCard]: ...

    def lead_cards_of(self, person: Person, lead_id: int) -> list[HeldCard]:
        return [c for c in self.cards_of(person) if c.lead_id == lead_id]

    def cards_titled(self, person: Person, title: str) -> list[HeldCard]:
        return [c for c in self.cards_of(person) if c.title == title]

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
