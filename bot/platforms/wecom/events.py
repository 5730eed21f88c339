"""WeCom callback XML: the outer envelope of a POST and the decrypted message or event inside it.

Both are parsed with DTDs forbidden: WeCom never sends one, so any DTD (and with it every entity declaration and
external reference, which can only live in a DTD) is an attack (`HostileXml`). The check is defusedxml's
`forbid_dtd`, done in the C parser: a tree builder whose `doctype` hook refuses, which expat calls at the start of
the declaration, before any of its internal subset is read. defusedxml's pure-Python parser cost 20 us more per
parse, twice per callback, on the hot path of every callback. Anything else that is not the expected shape is
`MalformedPayload`; no other exception leaves this module for any input.

wechatpy's `parse_message` returns `UnknownMessage` for `template_card_event`, so everything is read here, each
MsgType and Event by its own parser found in a dict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder, XMLParser

from bot.platforms.base import CardClick, Inbound, InboundKind
from bot.platforms.wecom.config import NAME
from bot.platforms.wecom.errors import HostileXml, MalformedPayload

Fields = dict[str, Element]


class _NoDtd(TreeBuilder):
    """A C tree builder that refuses any document type declaration (expat calls `doctype` as one starts)."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise HostileXml("XML with a DTD")


def _parse(data: bytes | str) -> Fields:
    parser = XMLParser(target=_NoDtd())
    try:
        parser.feed(data)
        root = parser.close()
    except (ParseError, ValueError, TypeError) as e:  # ValueError: e.g. str with an encoding declaration
        raise MalformedPayload(f"not well-formed XML: {e}") from None
    if root.tag != "xml":
        raise MalformedPayload(f"root element is <{root.tag}>, not <xml>")
    return {child.tag: child for child in root}


def _text(fields: Fields, name: str) -> str:
    el = fields.get(name)
    return "" if el is None or el.text is None else el.text


def _required(fields: Fields, name: str) -> str:
    value = _text(fields, name).strip()
    if not value:
        raise MalformedPayload(f"missing <{name}>")
    return value


def _int(fields: Fields, name: str) -> int:
    value = _required(fields, name)
    try:
        return int(value)
    except ValueError:
        raise MalformedPayload(f"<{name}> is not an integer") from None


def _optional(fields: Fields, name: str) -> str | None:
    return _text(fields, name).strip() or None


# -- envelope ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Envelope:
    to_user: str | None  # the CorpID
    agent_id: str | None
    encrypt: str


def parse_envelope(body: bytes) -> Envelope:
    """The outer POST body: `<xml><ToUserName/><AgentID/><Encrypt/></xml>`."""
    fields = _parse(body)
    return Envelope(_optional(fields, "ToUserName"), _optional(fields, "AgentID"), _required(fields, "Encrypt"))


def envelope_encrypt(body: bytes) -> str:
    """Just the `Encrypt` value of a POST body, which the signature covers."""
    return parse_envelope(body).encrypt


# -- messages ----------------------------------------------------------------------------------------------------

Parsed = dict[str, Any]


def _text_message(f: Fields) -> Parsed:
    return {"kind": InboundKind.TEXT, "text": _text(f, "Content")}


def _voice_message(f: Fields) -> Parsed:
    # Recognition is an Official-Account feature; WeCom apps are not documented to send it, but keep it if present.
    return {
        "kind": InboundKind.VOICE,
        "media_ref": _required(f, "MediaId"),
        "media_format": (_optional(f, "Format") or "amr").lower(),
        "recognition": _optional(f, "Recognition"),
    }


def _image_message(f: Fields) -> Parsed:
    return {"kind": InboundKind.IMAGE, "media_ref": _required(f, "MediaId")}


def _selected_items(f: Fields) -> dict[str, list[str]]:
    items = f.get("SelectedItems")
    if items is None:
        return {}
    selected: dict[str, list[str]] = {}
    for item in items.iter("SelectedItem"):
        key = (item.findtext("QuestionKey") or "").strip()
        selected[key] = [(o.text or "").strip() for o in item.iter("OptionId")]
    return selected


def _card_event(f: Fields) -> Parsed:
    selected = _selected_items(f)
    card = CardClick(
        card_id=_required(f, "TaskId"),
        key=_text(f, "EventKey").strip(),
        params={"selected": selected} if selected else {},
        response_code=_optional(f, "ResponseCode"),
        card_type=_optional(f, "CardType"),
    )
    return {"kind": InboundKind.CARD_CLICK, "card": card}


_MESSAGES: dict[str, Callable[[Fields], Parsed]] = {
    "text": _text_message,
    "voice": _voice_message,
    "image": _image_message,
}
_EVENTS: dict[str, Callable[[Fields], Parsed]] = {
    "template_card_event": _card_event,
    "template_card_menu_event": _card_event,
}


def _other_message(f: Fields) -> Parsed:
    return {"kind": InboundKind.OTHER, "media_ref": _optional(f, "MediaId")}


def _other_event(f: Fields) -> Parsed:
    return {"kind": InboundKind.EVENT}


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def _event_dedup_key(f: Fields, sender: str, created: str, event: str) -> str:
    # FromUserName + CreateTime alone collides for two clicks in one second (WxJava #1745): add what tells
    # two card events apart. Hashed so a 1 KB EventKey does not make a 1 KB Redis key.
    return "event:" + _digest(
        sender, created, event, _text(f, "TaskId"), _text(f, "EventKey"), _text(f, "ResponseCode")
    )


def parse_inbound(xml: bytes | str) -> Inbound:
    """The decrypted message or event XML as an `Inbound`; `MalformedPayload`/`HostileXml` on anything else.

    Kinds: TEXT, VOICE, IMAGE, CARD_CLICK (template_card_event and template_card_menu_event), EVENT (any other
    event, its name in `event`) and OTHER (any other message type, its MsgType in `event`, MediaId if any).
    """
    f = _parse(xml)
    sender = _required(f, "FromUserName")
    created = _int(f, "CreateTime")
    msg_type = _required(f, "MsgType")
    if msg_type == "event":
        event = _required(f, "Event")
        parsed = _EVENTS.get(event, _other_event)(f)
        return Inbound(
            platform=NAME,
            sender=sender,
            created_at=float(created),
            dedup_key=_event_dedup_key(f, sender, str(created), event),
            event=event,
            **parsed,
        )
    msg_id = _optional(f, "MsgId")
    raw = xml.encode() if isinstance(xml, str) else xml
    parsed = _MESSAGES.get(msg_type, _other_message)(f)
    return Inbound(
        platform=NAME,
        sender=sender,
        created_at=float(created),
        # Every message has a MsgId; if one ever lacks it, its retries still carry the same plaintext.
        dedup_key=f"msg:{msg_id}" if msg_id else "xml:" + hashlib.blake2b(raw, digest_size=16).hexdigest(),
        msg_id=msg_id,
        event=None if msg_type in _MESSAGES else msg_type,
        **parsed,
    )
