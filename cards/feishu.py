"""Cards as Feishu / Lark interactive cards (card JSON 2.0), sent as `msg_type: interactive`.

No template is stored on the platform: the whole card travels each time, built here. A callback button carries our
card id and packed button key in its `value` object (`behaviors: [{"type": "callback", "value": {...}}]`), which
Feishu hands back untouched in the `card.action.trigger` event; `bot.platforms.feishu.events` reads the same two
names. A link button opens its URL (`open_url`).

Limits: Feishu refuses a card whose JSON is over 30 KB (the content of one message); user text is cut to the same
per-part limits as the other platforms' cards (`cards.limits`) so all look alike, and a card still over the size
raises `CardLimitError`.
Every text of a lead goes into markdown inert (`inert_markdown`): only our own syntax is markdown.
"""

from __future__ import annotations

import json
from typing import Any

from cards.limits import CardLimitError, clean, inert_markdown, require, truncate
from cards.model import Button, ButtonStyle, Card, Tone

MAX_BUTTONS = 6
MAX_BUTTON_TEXT = 10
MAX_KEY_BYTES = 1024
MAX_FIELDS = 6
MAX_CARD_ID = 64
MAX_CARD_BYTES = 30 * 1024  # im/v1/messages: a card's content
LIMITS = {"title": 60, "subtitle": 100, "status": 20, "field_value": 60, "notice": 200, "missing": 200,
          "body": 1000}
# The names inside a button's `value`: bot.platforms.feishu.events reads them back (BUTTON_CARD, BUTTON_KEY).
VALUE_CARD = "lb_card"
VALUE_KEY = "lb_key"
_TEMPLATE = {Tone.INFO: "blue", Tone.SUCCESS: "green", Tone.WARNING: "orange", Tone.DANGER: "red"}
_BUTTON_TYPE = {ButtonStyle.PRIMARY: "primary", ButtonStyle.DEFAULT: "default", ButtonStyle.DANGER: "danger"}


def _plain(text: str) -> dict[str, str]:
    return {"tag": "plain_text", "content": text}


def _button(button: Button, card_id: str) -> dict[str, Any]:
    require("feishu.button.text", len(button.text), MAX_BUTTON_TEXT)
    if button.key is None:
        behavior: dict[str, Any] = {"type": "open_url", "default_url": button.url}
    else:
        key = button.key.pack()
        require("feishu.button.key.bytes", len(key.encode()), MAX_KEY_BYTES)
        behavior = {"type": "callback", "value": {VALUE_CARD: card_id, VALUE_KEY: key}}
    return {"tag": "button", "text": _plain(button.text), "type": _BUTTON_TYPE[button.style], "size": "medium",
            "behaviors": [behavior]}


def _buttons(card: Card, card_id: str) -> list[dict[str, Any]]:
    require("feishu.buttons", len(card.buttons), MAX_BUTTONS)
    if not card.buttons:
        return []
    # One flowing row: buttons wrap on a narrow phone screen instead of being squeezed.
    columns = [{"tag": "column", "width": "auto", "elements": [_button(b, card_id)]} for b in card.buttons]
    return [{"tag": "column_set", "flex_mode": "flow", "horizontal_spacing": "small", "columns": columns}]


def _markdown(text: str) -> dict[str, str]:
    return {"tag": "markdown", "content": text}


def _fields(card: Card) -> list[dict[str, str]]:
    require("feishu.fields", len(card.fields), MAX_FIELDS)
    if not card.fields:
        return []
    lines = [f"**{f.name}**：{inert_markdown(truncate(clean(f.value, one_line=True) or '-', LIMITS['field_value']))}"
             for f in card.fields]
    return [_markdown("\n".join(lines))]


def _details(card: Card) -> list[dict[str, str]]:
    out = []
    if card.notice:
        out.append(_markdown("**【提示】**" + inert_markdown(truncate(clean(card.notice), LIMITS["notice"]))))
    if card.missing:
        out.append(_markdown("**待补充**：" + inert_markdown(truncate("、".join(card.missing), LIMITS["missing"]))))
    if card.body:
        out.append(_markdown(inert_markdown(truncate(clean(card.body), LIMITS["body"]))))
    return out


def _header(card: Card) -> dict[str, Any]:
    header: dict[str, Any] = {
        "title": _plain(truncate(clean(card.title, one_line=True), LIMITS["title"]) or "-"),
        "template": _TEMPLATE[card.tone],
    }
    if subtitle := clean(card.subtitle, one_line=True):
        header["subtitle"] = _plain(truncate(subtitle, LIMITS["subtitle"]))
    if status := clean(card.status, one_line=True):
        header["text_tag_list"] = [{"tag": "text_tag", "text": _plain(truncate(status, LIMITS["status"])),
                                    "color": _TEMPLATE[card.tone]}]
    return header


def check_card_id(card_id: str) -> None:
    if not card_id or not card_id.isascii() or not all(c.isalnum() or c in "_-@" for c in card_id):
        raise CardLimitError("feishu.card_id.charset", card_id, "[0-9A-Za-z_-@]+")
    require("feishu.card_id.length", len(card_id), MAX_CARD_ID)


def render(card: Card, card_id: str) -> dict[str, Any]:
    """The card JSON 2.0 object (the caller serialises it into the message's `content`)."""
    check_card_id(card_id)
    out = {
        "schema": "2.0",
        # A card sent to one person and updated for them: shared updates so PATCH and delayed updates show.
        "config": {"update_multi": True, "summary": {"content": truncate(clean(card.title, one_line=True) or "-",
                                                                          LIMITS["title"])}},
        "header": _header(card),
        "body": {"elements": [*_fields(card), *_details(card), *_buttons(card, card_id)]},
    }
    size = len(json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode())
    require("feishu.card.bytes", size, MAX_CARD_BYTES)
    return out
