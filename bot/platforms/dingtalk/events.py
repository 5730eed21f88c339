"""Verified DingTalk payloads -> `bot.platforms.base.Inbound`.

Three sources, one vocabulary: robot messages (HTTP callback body or Stream topic `/v1.0/im/bot/messages/get`),
card button callbacks (HTTP card route or Stream topic `/v1.0/card/instances/callback`) and subscribed events
(decrypted HTTP pushes or Stream EVENT frames). Everything here is pure: bytes or dicts in, `Inbound` out, and
any shape we cannot trust becomes `MalformedPayload`, never a `KeyError`/`TypeError` out of a handler.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from bot.platforms.base import CardClick, Inbound, InboundKind
from bot.platforms.dingtalk.card_actions import CardAction, read_card_action
from bot.platforms.dingtalk.config import NAME
from bot.platforms.dingtalk.errors import MalformedPayload
from bot.platforms.wire import json_object

__all__ = ["MAX_BODY_BYTES", "MalformedPayload", "load_json", "parse_robot_message", "parse_card_callback",
           "parse_event"]

MAX_BODY_BYTES = 256 * 1024  # a robot message or card click is a few KiB; anything this big is not DingTalk
_PLATFORM = NAME

# No time in the payload nor from the caller: 0 says so, and the job handling it uses its services' clock.
_UNKNOWN = 0.0


def load_json(raw: bytes | str, *, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """Parse a body into a JSON object, refusing oversize, non-UTF-8, non-JSON and non-object input."""
    return json_object(raw, max_bytes, MalformedPayload)


def _opt_str(d: Mapping[str, Any], key: str) -> str | None:
    v = d.get(key)
    if isinstance(v, str):
        # JSON may carry U+0000 (`\u0000`), which PostgreSQL's text cannot store: a job storing the text would fail
        # on every try. Nothing a person typed needs it.
        return v.replace("\x00", "") if "\x00" in v else v
    if v is None:
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    raise MalformedPayload(f"{key} is not a string")


def _req_str(d: Mapping[str, Any], key: str) -> str:
    v = _opt_str(d, key)
    if not v:
        raise MalformedPayload(f"{key} missing")
    return v


def _opt_ms(d: Mapping[str, Any], key: str) -> float | None:
    """A millisecond epoch or duration as seconds; DingTalk sends these as numbers or digit strings."""
    v = d.get(key)
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, str) and v.strip().isascii() and v.strip().isdigit():
        v = int(v.strip())
    if isinstance(v, int | float) and 0 <= v < 1e16:
        return float(v) / 1000.0
    return None


def _dict(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, str):  # some senders nest JSON as a string
        return load_json(value) if value.strip() else {}
    if not isinstance(value, dict):
        raise MalformedPayload(f"{what} is not an object")
    return value


def _content(payload: Mapping[str, Any], msgtype: str) -> dict[str, Any]:
    # The documented place is `content`; some relays put it under the msgtype's own name.
    if payload.get("content") is not None:
        return _dict(payload["content"], "content")
    return _dict(payload.get(msgtype), msgtype)


# Each parser returns the message-type specific fields of `Inbound`.
def _text(p: Mapping[str, Any]) -> dict[str, Any]:
    text = _opt_str(_dict(p.get("text"), "text"), "content") or ""
    return {"kind": InboundKind.TEXT, "text": text.strip()}


def _audio(p: Mapping[str, Any]) -> dict[str, Any]:
    c = _content(p, "audio")
    recognition = _opt_str(c, "recognition")
    return {"kind": InboundKind.VOICE, "media_ref": _opt_str(c, "downloadCode"),
            "duration_s": _opt_ms(c, "duration"), "recognition": recognition.strip() if recognition else None}


def _picture(p: Mapping[str, Any]) -> dict[str, Any]:
    c = _content(p, "picture")
    return {"kind": InboundKind.IMAGE, "media_ref": _opt_str(c, "downloadCode") or _opt_str(c, "pictureDownloadCode")}


def _rich_text(p: Mapping[str, Any]) -> dict[str, Any]:
    items = _content(p, "richText").get("richText") or []
    if not isinstance(items, list):
        raise MalformedPayload("richText is not a list")
    texts: list[str] = []
    codes: list[str] = []
    for item in items:
        item = _dict(item, "richText item")
        if (t := _opt_str(item, "text")) is not None:
            texts.append(t)
        if code := _opt_str(item, "downloadCode") or _opt_str(item, "pictureDownloadCode"):
            codes.append(code)
    text = "".join(texts).strip()
    kind = InboundKind.TEXT if text or not codes else InboundKind.IMAGE
    return {"kind": kind, "text": text, "media_ref": codes[0] if codes else None}


def _file(p: Mapping[str, Any]) -> dict[str, Any]:
    c = _content(p, "file")
    name = _opt_str(c, "fileName") or ""
    ext = name.rsplit(".", 1)[1].lower() if "." in name else None
    return {"kind": InboundKind.OTHER, "media_ref": _opt_str(c, "downloadCode"), "media_format": ext, "text": name}


def _video(p: Mapping[str, Any]) -> dict[str, Any]:
    c = _content(p, "video")
    return {"kind": InboundKind.OTHER, "media_ref": _opt_str(c, "downloadCode"),
            "media_format": _opt_str(c, "videoType"), "duration_s": _opt_ms(c, "duration")}


_MESSAGE_PARSERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "text": _text,
    "audio": _audio,
    "voice": _audio,
    "picture": _picture,
    "richText": _rich_text,
    "file": _file,
    "video": _video,
}


def parse_robot_message(payload: Mapping[str, Any]) -> Inbound:
    """A robot message (HTTP callback body or Stream `data`); dedup on msgId across DingTalk's redeliveries."""
    msg_id = _req_str(payload, "msgId")
    # senderStaffId is the corp userId we map to reps; external users only have the opaque senderId.
    sender = _opt_str(payload, "senderStaffId") or _req_str(payload, "senderId")
    msgtype = _opt_str(payload, "msgtype") or ""
    parser = _MESSAGE_PARSERS.get(msgtype)
    fields = parser(payload) if parser else {"kind": InboundKind.OTHER}
    return Inbound(
        platform=_PLATFORM,
        sender=sender,
        created_at=_opt_ms(payload, "createAt") or 0.0,
        dedup_key=msg_id,
        msg_id=msg_id,
        conversation_id=_opt_str(payload, "conversationId"),
        reply_url=_opt_str(payload, "sessionWebhook"),
        reply_url_expires_at=_opt_ms(payload, "sessionWebhookExpiredTime"),
        **fields,
    )


def _digest(parts: list[Any]) -> str:
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:40]


def _payload_time(payload: Mapping[str, Any]) -> float | None:
    for key in ("time", "timestamp", "createAt", "TimeStamp"):
        if (t := _opt_ms(payload, key)) is not None:
            return t
    return None


def _button_key(action: CardAction) -> str:
    """What identifies the pressed button to us. Our template (cards/DINGTALK_TEMPLATE.md) gives every button the
    same actionId, `click`, and carries the packed button key as its one parameter `key`; a card built any other
    way is identified by its actionId."""
    key = action.params.get("key")
    return key if isinstance(key, str) and key else action.action_id


def parse_card_callback(payload: Mapping[str, Any], *, received_at: float | None = None) -> Inbound:
    """A card button press. The dedup key covers who pressed what on which card with which params (and the
    payload's own time when it has one): the same press redelivered collapses, a different press does not."""
    card_id = _opt_str(payload, "outTrackId") or _req_str(payload, "cardBizId")
    user_id = _req_str(payload, "userId")
    action = read_card_action(payload)
    key = _button_key(action)
    sent_at = _payload_time(payload)
    dedup = "card:" + _digest([card_id, user_id, action.action_id, action.params, sent_at])
    return Inbound(
        platform=_PLATFORM,
        kind=InboundKind.CARD_CLICK,
        sender=user_id,
        created_at=sent_at if sent_at is not None else (received_at if received_at is not None else _UNKNOWN),
        dedup_key=dedup,
        card=CardClick(card_id=card_id, key=key, params=action.params,
                       card_type=_opt_str(payload, "spaceType")),
        conversation_id=_opt_str(payload, "spaceId") or _opt_str(payload, "openConversationId"),
    )


def _event_sender(payload: Mapping[str, Any]) -> str:
    for key in ("StaffId", "staffId", "UserId", "userId"):
        v = payload.get(key)
        if isinstance(v, list):
            v = v[0] if len(v) == 1 and isinstance(v[0], str) else None
        if isinstance(v, str) and v:
            return v
    return ""


def parse_event(
    payload: Mapping[str, Any],
    *,
    event_type: str | None = None,
    event_id: str | None = None,
    born_at: float | None = None,
    received_at: float | None = None,
) -> Inbound:
    """A subscribed event: a decrypted HTTP push (`EventType` inside) or a Stream EVENT frame (type and id in
    the frame headers, passed here). Without an event id the dedup key is a digest of the whole event, which
    is stable across DingTalk's re-pushes of the same event."""
    etype = event_type or _opt_str(payload, "EventType") or _opt_str(payload, "eventType")
    if not etype:
        raise MalformedPayload("EventType missing")
    eid = event_id or _opt_str(payload, "EventId") or _opt_str(payload, "eventId")
    dedup = f"event:{eid}" if eid else "event:" + _digest([etype, dict(payload)])
    created = born_at if born_at is not None else _payload_time(payload)
    if created is None:
        created = received_at if received_at is not None else _UNKNOWN
    return Inbound(platform=_PLATFORM, kind=InboundKind.EVENT, sender=_event_sender(payload), created_at=created,
                   dedup_key=dedup, event=etype)
