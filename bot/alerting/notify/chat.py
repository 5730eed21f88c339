"""The chat channel: an alert through the app that reaches the person (WeCom app message, DingTalk work notice).

It wraps a platform adapter behind the same `Channel.send` as SMS and e-mail. Where the alert has a card (a lead's
alert card with 我来处理 and 知道了) and the app can show cards, the card is sent, rendered for that platform, and
`on_card_sent` keeps it on record so a click can find it; otherwise the text goes as markdown with the ack link.
DingTalk apps with an AgentId send alerts as work notices instead (see `DingTalkChat`).

A platform's refusal is an answer, as for the other channels: the adapter's `PlatformError` becomes a failed
`Reply` keeping the platform's own errcode (81013 nobody reachable, 60020 IP not trusted...), an HTTP 5xx becomes
"HTTP 500", and no answer within `timeout_s` is a timeout. The adapter's own client timeout is longer than the
channel's by default, so a hang is cut here, once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from bot.alerting.notify.base import Alert, Channel, DeliveryOutcome, Recipient, Reply, clip, one_line
from bot.errors import PlatformError, TransientError
from bot.platforms.base import Adapter, Platform, SendResult
from bot.platforms.dingtalk.adapter import DingTalkAdapter
from bot.platforms.wecom.adapter import mask_user  # platform user ids may be phones or e-mails, on either platform
from cards import dingtalk as dingtalk_cards
from cards import wecom as wecom_cards
from cards.limits import inert_markdown
from cards.model import Card

# Called after a card went out, with our card id, the platform user id and the platform's answer.
CardSent = Callable[[str, str, SendResult], Awaitable[None]]
MARKDOWN_MAXLEN = 2000


def platform_key(platform: str, app_id: int) -> str:
    """How a person's id on one app is named in `Recipient.platform_ids`."""
    return f"{platform}:{app_id}"


def new_card_id(alert_id: str) -> str:
    """WeCom task_id / DingTalk outTrackId for an alert card: unique and never reused, [0-9A-Za-z_-] only."""
    safe = "".join(c for c in alert_id if c.isascii() and c.isalnum())[:24]
    return f"lbal{safe}-{time.time_ns() // 1_000_000:x}-{secrets.token_hex(6)}"


def markdown(alert: Alert) -> str:
    lines = [inert_markdown(clip(alert.text.strip(), MARKDOWN_MAXLEN))]  # a lead's words: never a link
    if alert.link:
        lines.append(f"[查看线索]({alert.link})")
    if alert.ack_link:
        lines.append(f"[确认收到]({alert.ack_link})")
    return "\n\n".join(lines)


def reply_for(error: PlatformError) -> Reply:
    """The adapter's exception as the record of a failed attempt, with the platform's code verbatim."""
    if error.errcode not in (None, 0):
        code = str(error.errcode)
    elif error.errcode == 0:
        code = "invaliduser"  # errcode 0, but the recipient was listed as invalid or unlicensed
    elif error.http_status is not None:
        code = f"HTTP {error.http_status}"
    else:
        code = "transport"
    timed_out = isinstance(error, TransientError) and error.http_status is None and "timed out" in error.errmsg
    outcome = DeliveryOutcome.TIMEOUT if timed_out else DeliveryOutcome.FAILED
    return Reply(outcome, "timeout" if timed_out else code, error.errmsg[:500], error.request_id, error.http_status)


class ChatChannel(Channel):
    """One app of one platform. Build it with `ChatChannel.of(adapter, app_id, ...)`."""

    channel: ClassVar[str] = "chat"
    provider: ClassVar[str] = "chat"
    default_timeout_s: ClassVar[float] = 8.0

    def __init__(
        self,
        adapter: Adapter,
        *,
        app_id: int,
        card: Card | None = None,
        cards_supported: bool = True,
        on_card_sent: CardSent | None = None,
        timeout_s: float | None = None,
    ) -> None:
        super().__init__(timeout_s=timeout_s)
        self.adapter = adapter
        self.app_id = app_id
        self.card = card if cards_supported else None
        self.on_card_sent = on_card_sent

    @classmethod
    def of(cls, adapter: Adapter, **kwargs: Any) -> ChatChannel:
        kind = WeComChat if adapter.platform == Platform.WECOM else DingTalkChat
        return kind(adapter, **kwargs)

    def address(self, recipient: Recipient) -> str | None:
        return recipient.platform_ids.get(platform_key(self.provider, self.app_id)) or None

    def masked(self, address: str) -> str:
        return mask_user(address)

    def render(self, card: Card, card_id: str) -> dict[str, Any]:
        raise NotImplementedError

    async def _deliver(self, alert: Alert, recipient: Recipient, address: str) -> Reply:
        try:
            if self.card is not None:
                card_id = new_card_id(alert.id)
                result = await self.adapter.send_card(address, card_id, self.render(self.card, card_id))
                if self.on_card_sent is not None:
                    await self.on_card_sent(card_id, address, result)
            else:
                result = await self.adapter.send_markdown(address, inert_markdown(clip(alert.subject, 60)),
                                                          markdown(alert))
        except PlatformError as e:
            return reply_for(e)
        return Reply(DeliveryOutcome.OK, "0", f"message_id={result.message_id or ''}",
                     result.request_id or result.message_id)


class WeComChat(ChatChannel):
    provider: ClassVar[str] = str(Platform.WECOM)

    def render(self, card: Card, card_id: str) -> dict[str, Any]:
        return wecom_cards.render(card, card_id)


class DingTalkChat(ChatChannel):
    """On DingTalk an alert is a work notice (工作通知) when the app has an AgentId: the platform's channel for an
    app's alerts, shown under 工作通知 with its own notification, reaching anyone in the app's visible range
    whether or not they ever opened the robot's chat. A work notice has no callback buttons, so it carries the
    lead link and the ack link (the e-mail's two-step ack page). Without an AgentId the robot's card (or its
    markdown) goes instead, as on WeCom.

    DingTalk accepts a work notice asynchronously: errcode 0 is "accepted", and a person it cannot reach after
    that is caught by the ack timeout like an unread message. Its refusals (33012 invalid userid, 40056 bad
    AgentId, 60020 IP not allowed, 90018 rate limit, HTTP 5xx, no answer) are failed attempts: the chain goes on.
    """

    provider: ClassVar[str] = str(Platform.DINGTALK)

    def render(self, card: Card, card_id: str) -> dict[str, Any]:
        return dingtalk_cards.render(card, card_id)

    async def _deliver(self, alert: Alert, recipient: Recipient, address: str) -> Reply:
        adapter = self.adapter
        if not isinstance(adapter, DingTalkAdapter) or not adapter.sends_work_notices:
            return await super()._deliver(alert, recipient, address)
        try:
            result = await adapter.send_work_notice([address], inert_markdown(one_line(clip(alert.subject, 60))),
                                                    markdown(alert))
        except PlatformError as e:
            return reply_for(e)
        return Reply(DeliveryOutcome.OK, "0", f"task_id={result.message_id or ''}",
                     result.request_id or result.message_id)
