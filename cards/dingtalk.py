"""Cards as DingTalk interactive-card data for our card template, plus a markdown fallback.

DingTalk renders a card from a template built once in its card builder (see cards/DINGTALK_TEMPLATE.md); we only
send the template's variables, `{"cardData": {"cardParamMap": {name: string}}}`. Every value must be a string,
so lists (fields, buttons) travel as JSON strings. The same map serves create (`POST /v1.0/card/instances`) and
update (`PUT /v1.0/card/instances`, with `updateCardDataByKey`).

DingTalk documents no per-variable limits we could confirm; the limits here are the ones our template is built
for, chosen well inside what the builder handles, and `outTrackId` is kept to 64 characters of the same charset
as the other platforms' card ids so one card id works on every platform.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from cards.limits import CardLimitError, clean, inert_markdown, require, truncate
from cards.model import Card, detail_lines

MAX_BUTTONS = 6
MAX_BUTTON_TEXT = 10
MAX_KEY_BYTES = 1024
MAX_FIELDS = 6
MAX_FIELD_NAME = 5
MAX_OUT_TRACK_ID = 64
LIMITS = {
    "title": 60,
    "subtitle": 100,
    "status": 20,
    "field_value": 60,
    "notice": 200,
    "missing": 200,
    "body": 1000,
}
MAX_PARAM_BYTES = 16 * 1024  # the whole cardParamMap, UTF-8
MARKDOWN_TITLE = 30  # the notification preview line
MARKDOWN_BODY = 1500
_OUT_TRACK_ID = re.compile(r"[0-9A-Za-z_\-@]+")
TEMPLATE_VARIABLES = (
    "kind", "title", "subtitle", "status", "tone", "fields", "notice", "missing", "body", "details",
    "buttons", "has_buttons", "markdown",
)  # fmt: skip


def check_out_track_id(out_track_id: str) -> None:
    if not _OUT_TRACK_ID.fullmatch(out_track_id):
        raise CardLimitError("dingtalk.outTrackId.charset", out_track_id, "[0-9A-Za-z_-@]+")
    require("dingtalk.outTrackId.length", len(out_track_id), MAX_OUT_TRACK_ID)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _buttons(card: Card) -> list[dict[str, str]]:
    require("dingtalk.buttons", len(card.buttons), MAX_BUTTONS)
    out = []
    for b in card.buttons:
        require("dingtalk.button.text", len(b.text), MAX_BUTTON_TEXT)
        if b.key is None:  # the template opens `url` (跳转链接) for a button whose key is empty
            out.append({"text": b.text, "style": str(b.style), "key": "", "url": b.url})
            continue
        key = b.key.pack()
        require("dingtalk.button.key.bytes", len(key.encode()), MAX_KEY_BYTES)
        out.append({"text": b.text, "style": str(b.style), "key": key})
    return out


def _field_value(value: str) -> str:
    return truncate(clean(value, one_line=True) or "-", LIMITS["field_value"])


def _fields(card: Card) -> list[dict[str, str]]:
    require("dingtalk.fields", len(card.fields), MAX_FIELDS)
    out = []
    for f in card.fields:
        require("dingtalk.field.name", len(f.name), MAX_FIELD_NAME)
        out.append({"name": f.name, "value": _field_value(f.value)})
    return out


def render(card: Card, out_track_id: str | None = None) -> dict[str, Any]:
    """`{"cardData": {"cardParamMap": {...}}}` for our template; with `out_track_id`, also `outTrackId`."""
    one_line = {name: truncate(clean(getattr(card, name), one_line=True), LIMITS[name]) for name in
                ("title", "subtitle", "status")}  # fmt: skip
    params = {
        "kind": str(card.kind),
        **one_line,
        "tone": str(card.tone),
        "fields": _json(_fields(card)),
        "notice": truncate(card.notice, LIMITS["notice"]),
        "missing": truncate("、".join(card.missing), LIMITS["missing"]),
        "body": truncate(card.body, LIMITS["body"]),
        "details": truncate("\n".join(detail_lines(card)), LIMITS["body"]),
        "buttons": _json(_buttons(card)),
        "has_buttons": "true" if card.buttons else "false",
        "markdown": _markdown_text(card),
    }
    size = sum(len(k.encode()) + len(v.encode()) for k, v in params.items())
    require("dingtalk.cardParamMap.bytes", size, MAX_PARAM_BYTES)
    out: dict[str, Any] = {"cardData": {"cardParamMap": params}}
    if out_track_id is not None:
        check_out_track_id(out_track_id)
        out["outTrackId"] = out_track_id
    return out


def _send_link(text: str, key: str) -> str:
    # DingTalk's client opens this scheme by sending `content` into the chat as the user: the robot receives
    # the packed key as a text message and treats it as the click (the only callback markdown can give).
    return f"[{text}](dtmd://dingtalkclient/sendMessage?content={quote(key, safe='')})"


def _markdown_text(card: Card) -> str:
    # Every text of the card may hold a lead's words: each goes in inert, only our own syntax is markdown.
    lines = [f"#### {inert_markdown(truncate(clean(card.title, one_line=True), LIMITS['title']))}"]
    head = " · ".join(p for p in (clean(card.status, one_line=True), clean(card.subtitle, one_line=True)) if p)
    if head:
        lines.append(inert_markdown(truncate(head, LIMITS["subtitle"])))
    if card.fields:
        lines.append("\n".join(f"- {f.name}：{inert_markdown(_field_value(f.value))}" for f in card.fields))
    details = "\n\n".join(detail_lines(card))
    if details:
        lines.append(inert_markdown(truncate(details, MARKDOWN_BODY)))
    if card.buttons:
        lines.append(" | ".join(_send_link(b.text, b.key.pack()) if b.key is not None else f"[{b.text}]({b.url})"
                                for b in card.buttons))
    return "\n\n".join(lines)


def render_markdown(card: Card) -> dict[str, str]:
    """`{"title", "text"}` for a robot `sampleMarkdown` message or a sessionWebhook markdown reply, for apps
    without the card template."""
    _buttons(card)  # the same limits apply, so a card that renders as markdown also renders as a card
    return {"title": truncate(clean(card.title, one_line=True), MARKDOWN_TITLE), "text": _markdown_text(card)}
