"""Verified Feishu pushes (event subscription schema 2.0) -> `bot.platforms.base.Inbound`.

One vocabulary for both transports: an HTTP push (after `crypto.decrypt`) and a long-connection frame hand the same
JSON here. Each event type maps to a parser in `_EVENT_PARSERS`; message types of `im.message.receive_v1` map to
theirs in `_MESSAGE_PARSERS`. Everything is pure: dicts in, `Inbound` out, and any shape we cannot trust becomes
`MalformedPayload`, never a `KeyError`/`TypeError` out of a handler.

Identity: a person is addressed by the id type the app is configured for (`open_id`, per app, by default; or
`user_id`, per tenant); the sender of a message and the operator of a click are read with the same type, so a click
comes back under the id the card was sent to.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

from bot.platforms.base import CardClick, Inbound, InboundKind
from bot.platforms.feishu.config import NAME
from bot.platforms.feishu.errors import MalformedPayload, SignatureError
from bot.platforms.wire import json_object

__all__ = ["MAX_BODY_BYTES", "BUTTON_CARD", "BUTTON_KEY", "load_json", "check_token", "challenge_of", "parse"]

MAX_BODY_BYTES = 256 * 1024  # an event or a card action is a few KiB
PLATFORM = NAME
# Our keys inside a button's `value` object (cards/feishu.py writes them): the card id and the packed button key.
BUTTON_CARD = "lb_card"
BUTTON_KEY = "lb_key"
_UNKNOWN = 0.0


def load_json(raw: bytes | str, *, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """Parse a body into a JSON object, refusing oversize, non-UTF-8, non-JSON and non-object input."""
    return json_object(raw, max_bytes, MalformedPayload)


def _str(d: Mapping[str, Any], key: str) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    if not isinstance(v, str):
        raise MalformedPayload(f"{key} is not a string")
    # PostgreSQL's text cannot store U+0000, and nothing a person types needs it.
    return v.replace("\x00", "") if "\x00" in v else v


def _req(d: Mapping[str, Any], key: str) -> str:
    v = _str(d, key)
    if not v:
        raise MalformedPayload(f"{key} missing")
    return v


def _obj(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):  # message `content` is JSON inside a string
        return load_json(value) if value.strip() else {}
    if not isinstance(value, dict):
        raise MalformedPayload(f"{what} is not an object")
    return value


def _ms(d: Mapping[str, Any], key: str) -> float | None:
    """A millisecond epoch or duration (Feishu sends numbers or digit strings) as seconds."""
    v = d.get(key)
    if isinstance(v, str) and v.strip().isascii() and v.strip().isdigit():
        v = int(v.strip())
    if isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v < 1e16:
        return float(v) / 1000.0
    return None


def _person(ids: Any, id_type: str) -> str:
    ids = _obj(ids, "id object")
    return _str(ids, id_type) or ""


# -- the token and the URL challenge ---------------------------------------------------------------------------------


def check_token(payload: Mapping[str, Any], verification_token: str) -> None:
    """The Verification Token the push carries (schema 2.0: `header.token`; the URL challenge and schema 1.0:
    top-level `token`), compared in constant time."""
    header = payload.get("header")
    token = header.get("token") if isinstance(header, dict) else payload.get("token")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode("utf-8", "replace"),
                                                              verification_token.encode()):
        raise SignatureError("verification token does not match")


def challenge_of(payload: Mapping[str, Any]) -> str | None:
    """The `challenge` of a `url_verification` push (None for any other push)."""
    if payload.get("type") != "url_verification":
        return None
    return _req(payload, "challenge")


# -- messages --------------------------------------------------------------------------------------------------------


def _text(content: Mapping[str, Any]) -> dict[str, Any]:
    return {"kind": InboundKind.TEXT, "text": (_str(content, "text") or "").strip()}


def _audio(content: Mapping[str, Any]) -> dict[str, Any]:
    # Feishu voice messages are Opus in Ogg; `duration` in milliseconds.
    return {"kind": InboundKind.VOICE, "media_ref": _req(content, "file_key"), "media_format": "opus",
            "duration_s": _ms(content, "duration")}


def _image(content: Mapping[str, Any]) -> dict[str, Any]:
    return {"kind": InboundKind.IMAGE, "media_ref": _str(content, "image_key")}


_MESSAGE_PARSERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "text": _text,
    "audio": _audio,
    "image": _image,
}


def _message(header: Mapping[str, Any], event: Mapping[str, Any], id_type: str, received_at: float) -> Inbound:
    message = _obj(event.get("message"), "message")
    sender = _obj(event.get("sender"), "sender")
    message_id = _req(message, "message_id")
    message_type = _str(message, "message_type") or ""
    parser = _MESSAGE_PARSERS.get(message_type)
    fields = parser(_obj(message.get("content"), "content")) if parser else {"kind": InboundKind.OTHER}
    if fields.get("media_ref"):
        # A resource is fetched through its message: `media_ref` carries both, "message_id/file_key".
        fields["media_ref"] = f"{message_id}/{fields['media_ref']}"
    return Inbound(
        platform=PLATFORM,
        sender=_person(sender.get("sender_id"), id_type),
        created_at=_ms(message, "create_time") or _ms(header, "create_time") or received_at,
        dedup_key=_req(header, "event_id"),
        msg_id=message_id,
        conversation_id=_str(message, "chat_id"),
        **fields,
    )


# -- card actions ----------------------------------------------------------------------------------------------------


def _card_action(header: Mapping[str, Any], event: Mapping[str, Any], id_type: str, received_at: float) -> Inbound:
    action = _obj(event.get("action"), "action")
    value = _obj(action.get("value"), "action.value")
    context = _obj(event.get("context"), "context")
    card_id = _str(value, BUTTON_CARD)
    key = _str(value, BUTTON_KEY)
    if not card_id or not key:
        raise MalformedPayload("the button's value carries no card id / key of ours")
    params = {k: v for k, v in value.items() if k not in (BUTTON_CARD, BUTTON_KEY)}
    if (message_id := _str(context, "open_message_id")) is not None:
        params["message_id"] = message_id
    return Inbound(
        platform=PLATFORM,
        kind=InboundKind.CARD_CLICK,
        sender=_person(event.get("operator"), id_type),
        created_at=_ms(header, "create_time") or received_at,
        dedup_key=_req(header, "event_id"),
        # `token` (c-…) allows delayed updates of this card for 30 minutes, twice: a single-use update code in kind.
        card=CardClick(card_id=card_id, key=key, params=params, response_code=_str(event, "token"),
                       card_type=_str(event, "host")),
        conversation_id=_str(context, "open_chat_id"),
    )


_EVENT_PARSERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any], str, float], Inbound]] = {
    "im.message.receive_v1": _message,
    "card.action.trigger": _card_action,
}


def parse(payload: Mapping[str, Any], *, id_type: str = "open_id", received_at: float = _UNKNOWN) -> Inbound:
    """A schema 2.0 event. Types we do not act on become `EVENT` inbounds (de-duplicated, then ignored by the job)."""
    if payload.get("schema") != "2.0":
        raise MalformedPayload("not an event of schema 2.0")
    header = _obj(payload.get("header"), "header")
    event = _obj(payload.get("event"), "event")
    event_type = _req(header, "event_type")
    parser = _EVENT_PARSERS.get(event_type)
    if parser is not None:
        return parser(header, event, id_type, received_at)
    return Inbound(platform=PLATFORM, kind=InboundKind.EVENT, sender="", dedup_key=_req(header, "event_id"),
                   created_at=_ms(header, "create_time") or received_at, event=event_type)
