"""Interchangeable alert channels: chat, SMS, e-mail, each answering one `send` the same way.

In the Apprise style, a channel is a small class whose limits are class attributes and whose one verb is `send`.
Every send ends in a `DeliveryResult` that the fallback chain stores as the record of the attempt. A provider's
refusal is an answer, not an exception: HTTP 200 with a non-OK code in the body is a failed delivery that keeps the
provider's own code, and so are HTTP errors, refused connections and timeouts. Only programming mistakes raise.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import aiohttp

from bot.runtime.outbound import guarded_session, refusal

log = logging.getLogger(__name__)


class DeliveryOutcome(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"  # no answer in time: the message may or may not have gone out


@dataclass(frozen=True, slots=True)
class Alert:
    """What to tell a person, in every form a channel may need.

    `sms_params` fill the provider's pre-approved SMS template and are kept in order: Aliyun receives them as the
    named `TemplateParam` JSON, Tencent receives the values in this order for its positional {1}, {2}...
    `ack_link` is where the person acknowledges the alert (stops the fallback chain); `link` opens the lead.
    """

    id: str
    kind: str
    subject: str
    text: str
    html: str | None = None
    link: str | None = None
    ack_link: str | None = None
    sms_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Recipient:
    """A person and every address the channels may use. `phone` is E.164 (see `bot.alerting.notify.phone`)."""

    name: str
    phone: str | None = None
    email: str | None = None
    platform_ids: Mapping[str, str] = field(default_factory=dict)  # e.g. {"<platform>:<app id>": "zhangsan"}


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The record of one attempt on one channel.

    `code` is what the provider said, verbatim: Aliyun's `Code`, Tencent's per-number `Code` or `Error.Code`,
    the SMTP reply code, the chat platform's errcode, or "HTTP 503" when only the status is known.
    `address` is the masked address used (never the full phone number or e-mail address).
    """

    channel: str
    provider: str
    outcome: DeliveryOutcome
    latency_ms: float
    address: str = ""
    request_id: str | None = None
    code: str | None = None
    detail: str = ""
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is DeliveryOutcome.OK

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["outcome"] = str(self.outcome)
        return d


@dataclass(frozen=True, slots=True)
class Reply:
    """What a channel's `_deliver` found out; `Channel.send` adds the channel, provider, address and timing."""

    outcome: DeliveryOutcome
    code: str | None = None
    detail: str = ""
    request_id: str | None = None
    http_status: int | None = None

    @classmethod
    def failed(cls, code: str | None, detail: str = "", **kwargs: Any) -> Reply:
        return cls(DeliveryOutcome.FAILED, code, detail, **kwargs)


def clip(value: str, limit: int) -> str:
    """`value` cut to `limit` characters, an ellipsis marking the cut."""
    return value if len(value) <= limit else value[: max(limit - 1, 0)] + "…"


def one_line(value: str) -> str:
    """For headers and titles: line breaks would be refused (or worse, injected as headers)."""
    return " ".join(value.split())


class Channel(ABC):
    """One way of reaching a person. Subclasses set the class attributes and implement `address` and `_deliver`."""

    channel: ClassVar[str]  # "chat" | "sms" | "email"
    provider: ClassVar[str]  # "aliyun", "tencent", "smtp", a chat platform's name...
    text_maxlen: ClassVar[int] = 4000  # characters of `Alert.text` the channel carries
    subject_maxlen: ClassVar[int] = 200
    default_timeout_s: ClassVar[float] = 10.0

    def __init__(self, *, timeout_s: float | None = None) -> None:
        self.timeout_s = self.default_timeout_s if timeout_s is None else timeout_s

    @abstractmethod
    def address(self, recipient: Recipient) -> str | None:
        """The recipient's address on this channel, or None when the channel cannot reach them."""

    @abstractmethod
    def masked(self, address: str) -> str:
        """The address as it may appear in logs and records."""

    @abstractmethod
    async def _deliver(self, alert: Alert, recipient: Recipient, address: str) -> Reply:
        """Send once to `address`. Raise only for transport failures (aiohttp/OS errors, timeouts)."""

    async def send(self, alert: Alert, recipient: Recipient) -> DeliveryResult:
        address = self.address(recipient)
        if address is None:
            return self._result(Reply.failed("no_address", f"{recipient.name} has no {self.channel} address"), 0.0)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                reply = await self._deliver(alert, recipient, address)
        except TimeoutError:
            reply = Reply(DeliveryOutcome.TIMEOUT, "timeout", f"no answer within {self.timeout_s:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            message = refusal(exc)
            reply = Reply.failed("refused_target", message) if message else Reply.failed(type(exc).__name__,
                                                                                          str(exc)[:500])
        result = self._result(reply, (time.perf_counter() - started) * 1000, self.masked(address))
        log.info(
            "alert %s via %s/%s to %s: %s code=%s request_id=%s",
            alert.id,
            self.channel,
            self.provider,
            result.address,
            result.outcome,
            result.code,
            result.request_id,
        )
        return result

    def _result(self, reply: Reply, latency_ms: float, address: str = "") -> DeliveryResult:
        return DeliveryResult(
            channel=self.channel,
            provider=self.provider,
            outcome=reply.outcome,
            latency_ms=round(latency_ms, 1),
            address=address,
            request_id=reply.request_id,
            code=reply.code,
            detail=reply.detail,
            http_status=reply.http_status,
        )


class HttpChannel(Channel):
    """A channel that talks HTTP: shares one aiohttp session, given by the caller (the service's guarded one) or
    opened on first use through `bot.runtime.outbound` (private addresses only when `allow_private`)."""

    def __init__(self, *, session: aiohttp.ClientSession | None = None, timeout_s: float | None = None,
                 allow_private: bool = False) -> None:
        super().__init__(timeout_s=timeout_s)
        self._session = session
        self._owns_session = session is None
        self._allow_private = allow_private

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = guarded_session(allow_private=self._allow_private)
            self._owns_session = True
        return self._session

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> HttpChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
