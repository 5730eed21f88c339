"""The WeCom driver: encrypted XML callbacks to /wecom/{app_id}/callback, cards read from the simulator."""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp.test_utils import TestClient

from bot.runtime.services import Services
from tests.parity.drivers.base import HeldCard, Person, PlatformDriver, RouteMissing, SentMessage
from tests.sim import wecom as wc_sim


class WeComDriver(PlatformDriver):
    platform = "wecom"
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

    def refuse_next_alert(self) -> str:
        # 81013: user, party and tag all invalid (the person is outside the app's visible range). WeCom sends
        # cards and messages through the same message/send, so call this once the lead's own card is out.
        self.sim.inject("message/send", errcode=81013)
        return "81013"

    def cards_of(self, person: Person) -> list[HeldCard]:
        out = []
        for sent in self.sim.cards.values():
            if person.platform_id not in sent.to:
                continue
            shown = sent.card
            for update in sent.updates:
                shown = update.get("template_card") or shown
            buttons = {b["text"]: b.get("key", "") for b in shown.get("button_list") or []}
            fields = {f["keyname"]: f.get("value", "") for f in shown.get("horizontal_content_list") or []}
            out.append(HeldCard(sent.task_id, (shown.get("main_title") or {}).get("title", ""),
                                (shown.get("source") or {}).get("desc", ""), buttons, len(sent.updates),
                                shown.get("sub_title_text", ""), fields))
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
