"""The chat channel: an alert through the app that reaches the person (an app message, or the platform's own alert
channel where it has one: the platform's `alert_channel`).

It wraps a platform adapter behind the same `Channel.send` as SMS and e-mail. Where the alert has a card (a lead's
alert card with 我来处理 and 知道了) and the app can show cards, the card is sent, rendered for that platform, and
`on_card_sent` keeps it on record so a click can find it; otherwise the text goes as markdown with the ack link.

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

from bot.alerting.notify.base import Alert, Channel, DeliveryOutcome, Recipient, Reply, clip
from bot.errors import PlatformError, TransientError
from bot.platforms import registry
from bot.platforms.base import Adapter, SendResult, mask_user
from cards.limits import inert_markdown
from cards.model import Card

# Called after a card went out, with our card id, the platform user id and the platform's answer.
CardSent = Callable[[str, str, SendResult], Awaitable[None]]
MARKDOWN_MAXLEN = 2000


def platform_key(platform: str, app_id: int) -> str:
    """How a person's id on one app is named in `Recipient.platform_ids`."""
    return f"{platform}:{app_id}"


def new_card_id(alert_id: str) -> str:
    """The platform's card id (task id, track id) for an alert card: unique and never reused, [0-9A-Za-z_-] only."""
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
    """One app of one platform. Build it with `ChatChannel.of(adapter, app_id, ...)`: `provider` is the platform's
    name, and the card is drawn by the platform's renderer."""

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
        platform = registry.get(adapter.platform)
        kind = platform.alert_channel() if platform.alert_channel else ChatChannel
        channel = kind(adapter, **kwargs)
        channel.provider = platform.name  # type: ignore[misc] - the platform this instance speaks to
        return channel

    def address(self, recipient: Recipient) -> str | None:
        return recipient.platform_ids.get(platform_key(self.provider, self.app_id)) or None

    def masked(self, address: str) -> str:
        return mask_user(address)

    def render(self, card: Card, card_id: str) -> dict[str, Any]:
        return registry.get(self.adapter.platform).render_card(card, card_id)

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
