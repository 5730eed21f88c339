"""The Feishu driver: the app in HTTP mode on the Feishu simulator, pushes sealed and signed as Feishu does; people
are addressed by their open_id (`feishu_open_id`)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from aiohttp.test_utils import TestClient

from bot.runtime.services import Services
from tests.parity.drivers.base import HeldCard, Person, PlatformDriver, SentMessage
from tests.sim import feishu as fs_sim

MESSAGES_PATH = "/open-apis/im/v1/messages"
_FIELD = re.compile(r"^\*\*(.+?)\*\*：(.*)$")


class FeishuDriver(PlatformDriver):
    platform = "feishu"
    ident_field = "feishu_open_id"
    APP_ID = "cli_parity0001"
    APP_SECRET = "parity-feishu-secret-0123456789"
    TOKEN = "parity-verification-token"
    ENCRYPT_KEY = "parity-encrypt-key"

    def __init__(self, client: TestClient, services: Services, admin_headers: dict[str, str]) -> None:
        super().__init__(client, services, admin_headers)
        self.sim = fs_sim.FeishuSimulator()
        self.sender = fs_sim.PushSender(client.session)

    async def start(self) -> None:
        await self.sim.start()
        self.sim.add_app(self.APP_ID, self.APP_SECRET)

    async def close(self) -> None:
        await self.sim.close()

    def _app_body(self) -> dict[str, Any]:
        return {"platform": "feishu", "api_base": self.sim.base_url,
                "credentials": {"app_id": self.APP_ID, "app_secret": self.APP_SECRET,
                                "verification_token": self.TOKEN, "encrypt_key": self.ENCRYPT_KEY}}

    def _add_member(self, platform_id: str) -> None:
        self.sim.add_user(platform_id)

    def _user(self, person: Person) -> fs_sim.SimUser:
        return self.sim.users[person.platform_id]

    async def _push(self, route: str, payload: dict[str, Any]) -> int:
        push = await self.sender.send(self._url(f"/feishu/{self.app_id}/{route}"), payload,
                                      encrypt_key=self.ENCRYPT_KEY, timestamp=int(self.services.clock.time()))
        return push.status

    async def click(self, person: Person, card: HeldCard, button_text: str) -> int:
        message = next(m for m in self.sim.cards_to(person.platform_id) if m.uuid == card.card_id)
        value = {"lb_card": card.card_id, "lb_key": card.buttons[button_text]}
        payload = fs_sim.card_action_event(self._user(person), value, message_id=message.message_id,
                                           card_token=self.sim.issue_card_token(message.message_id),
                                           token=self.TOKEN, app_id=self.APP_ID)
        return await self._push("card", payload)

    async def deliver_text(self, person: Person, text: str) -> int:
        payload = fs_sim.message_event(self._user(person), "text", {"text": text}, token=self.TOKEN,
                                       app_id=self.APP_ID)
        return await self._push("events", payload)

    async def deliver_voice(self, person: Person, audio: bytes, *, duration_s: float = 5.0,
                            recognition: str | None = None) -> int:
        message_id, file_key = "om_" + secrets.token_hex(16), "file_v3_" + secrets.token_hex(8)
        self.sim.add_file(message_id, file_key, audio)
        payload = fs_sim.message_event(self._user(person), "audio",
                                       {"file_key": file_key, "duration": int(duration_s * 1000)},
                                       token=self.TOKEN, app_id=self.APP_ID, message_id=message_id)
        return await self._push("events", payload)

    def refuse_next_alert(self) -> str:
        self.sim.inject(MESSAGES_PATH, code=230013, msg="Bot has NO availability to this user.")
        return "230013"

    def cards_of(self, person: Person) -> list[HeldCard]:
        return [_held(m) for m in self.sim.cards_to(person.platform_id) if m.uuid is not None]

    def messages_to(self, person: Person) -> list[SentMessage]:
        out = []
        for m in self.sim.messages.values():
            if m.to != person.platform_id:
                continue
            if m.msg_type == "text":
                out.append(SentMessage("text", m.content.get("text", "")))
            elif m.msg_type == "interactive" and m.uuid is None:  # markdown goes as a card without our id
                out.append(SentMessage("markdown", "\n".join(_markdown(m.content))))
        return out


def _markdown(card: dict[str, Any]) -> list[str]:
    return [e["content"] for e in card.get("body", {}).get("elements", []) if e.get("tag") == "markdown"]


def _held(message: fs_sim.SimMessage) -> HeldCard:
    card = message.content
    header = card.get("header", {})
    tags = header.get("text_tag_list") or [{}]
    buttons: dict[str, str] = {}
    for element in card.get("body", {}).get("elements", []):
        for column in element.get("columns", []):
            for b in column.get("elements", []):
                for behavior in b.get("behaviors", []):
                    if behavior.get("type") == "callback":
                        buttons[b["text"]["content"]] = behavior["value"]["lb_key"]
    fields: dict[str, str] = {}
    details: list[str] = []
    for text in _markdown(card):
        lines = [_FIELD.match(line) for line in text.split("\n")]
        if all(lines):
            fields.update({m.group(1): m.group(2) for m in lines if m})
        else:
            details.append(text)
    return HeldCard(str(message.uuid), header.get("title", {}).get("content", ""),
                    tags[0].get("text", {}).get("content", ""), buttons, message.updates, "\n\n".join(details),
                    fields)
