"""What every chat platform adapter offers, in platform-neutral terms.

Handlers turn a verified callback into an `Inbound`; jobs act on it and talk back through an `Adapter`.
Only `bot/platforms/<platform>/` knows a wire format: errcodes, XML tags, header names, JSON paths.
"""

from __future__ import annotations

import enum
from copy import deepcopy
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Protocol, runtime_checkable


class Platform(enum.StrEnum):
    WECOM = "wecom"
    DINGTALK = "dingtalk"
    FEISHU = "feishu"


class InboundKind(enum.StrEnum):
    TEXT = "text"
    VOICE = "voice"
    IMAGE = "image"
    CARD_CLICK = "card_click"
    EVENT = "event"  # any other platform event (enter_agent, subscribe, check_url...)
    OTHER = "other"  # a message type we do not act on (video, file, location...)


@dataclass(frozen=True, slots=True)
class CardClick:
    """A button pressed on an interactive card.

    `card_id` is the id we gave the card when sending it (WeCom TaskId, DingTalk outTrackId); `key` is the
    button's key (WeCom EventKey, DingTalk actionId); `response_code` is WeCom's single-use update code.
    """

    card_id: str
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    response_code: str | None = None
    card_type: str | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message or event from a platform, verified and decrypted, ready to be queued.

    `dedup_key` identifies the delivery across the platform's retries (MsgId for messages; a composite for events).
    `sender` is the platform's user id (WeCom UserID, DingTalk staffId). Times are epoch seconds as sent.
    """

    platform: str
    kind: InboundKind
    sender: str
    created_at: float
    dedup_key: str
    msg_id: str | None = None
    text: str | None = None
    media_ref: str | None = None  # WeCom MediaId, DingTalk downloadCode
    media_format: str | None = None
    duration_s: float | None = None
    recognition: str | None = None  # the platform's own speech recognition, when it gives one
    card: CardClick | None = None
    event: str | None = None
    conversation_id: str | None = None
    reply_url: str | None = None  # DingTalk sessionWebhook
    reply_url_expires_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (for the job queue): only builtins, so any serializer takes it."""
        # By hand, not dataclasses.asdict: that deep-copies field by field, a good part of a callback's CPU time.
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["kind"] = str(self.kind)
        if self.card is not None:
            d["card"] = {f.name: getattr(self.card, f.name) for f in fields(self.card)}
            d["card"]["params"] = deepcopy(self.card.params)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Inbound:
        d = dict(d)
        d["kind"] = InboundKind(d["kind"])
        if d.get("card"):
            d["card"] = CardClick(**d["card"])
        return cls(**d)


@dataclass(slots=True)
class SendResult:
    """What the platform answered to a successful send or update.

    `message_id` lets the message be recalled; `response_code` (WeCom) allows one later update of a sent card.
    """

    message_id: str | None = None
    response_code: str | None = None
    request_id: str | None = None
    latency_ms: float = 0.0
    invalid_recipients: list[str] = field(default_factory=list)


@runtime_checkable
class Adapter(Protocol):
    """The outbound half of a platform: every call goes to the app's `api_base`.

    Failures raise `bot.errors.PlatformError` subclasses: `TokenExpired` is handled inside (drop and retry
    once); `RateLimited` and `TransientError` are worth a later retry; `RecipientError` means try another
    channel; `CardExpired` means send a fresh card.
    """

    platform: ClassVar[Platform]

    async def send_text(self, to: str, text: str) -> SendResult: ...

    async def send_markdown(self, to: str, title: str, text: str) -> SendResult: ...

    async def send_card(self, to: str, card_id: str, card: dict[str, Any]) -> SendResult:
        """Send a rendered interactive card (`cards.<platform>.render` output) under our id `card_id`."""
        ...

    async def update_card(
        self, to: str, card_id: str, card: dict[str, Any], response_code: str | None = None
    ) -> SendResult:
        """Replace a sent card in place. WeCom needs an unused `response_code`; DingTalk updates by `card_id`."""
        ...

    async def download_media(self, media_ref: str, max_bytes: int) -> bytes: ...

    async def verify(self) -> dict[str, Any] | None:
        """Fetch an access token with the app's credentials (not from the cache) and finish any set-up the platform
        needs (DingTalk HTTP mode: register the card callback URL); raise if the platform refuses. May return
        details worth showing the admin (a warning, the URL registered)."""
        ...


@dataclass(frozen=True, slots=True)
class Check:
    """One finding of an app diagnosis (`bot.admin.app_verify`): `status` is ok, warn or fail; `zh`/`en` say what to do
    about it in the platform console (empty when nothing is to be done)."""

    name: str
    status: str
    detail: str
    zh: str = ""
    en: str = ""

    @property
    def failed(self) -> bool:
        return self.status == "fail"


@dataclass(frozen=True, slots=True)
class DirectoryPerson:
    """One person of a platform's directory, as directory sync maps them (`bot.admin.directory`)."""

    user_id: str
    name: str
    active: bool
    mobile: str | None = None
    email: str | None = None
    manager_user_id: str | None = None  # their department's leader (not themselves)
    departments: tuple[int, ...] = ()
