"""Cards as WeCom `template_card` of type `button_interaction` (message/send and message/update_template_card).

Limits (developer.work.weixin.qq.com, send doc 90236 and update doc 94888/94945): at most 6 buttons, button
text suggested <= 10 characters, button key <= 1024 bytes and unique in the card, task_id <= 128 bytes of
[0-9A-Za-z_-@] and unique per app, at most 6 horizontal items with keyname suggested <= 5 characters and value
<= 30, main title <= 26 (copies of the doc say 26 or 36: we take the shorter), its desc <= 44, sub_title_text
<= 160, source desc <= 20. A button_interaction card must carry buttons, so every card model has at least one
(刷新 or 知道了 when nothing else applies).
"""

from __future__ import annotations

import re
from typing import Any

from cards.limits import CardLimitError, clean, require, truncate
from cards.model import Button, ButtonStyle, Card, Tone, detail_lines

MAX_BUTTONS = 6
MAX_BUTTON_TEXT = 10
MAX_KEY_BYTES = 1024
MAX_TASK_ID_BYTES = 128
MAX_HORIZONTAL = 6
MAX_KEYNAME = 5
MAX_VALUE = 30
MAX_TITLE = 26
MAX_TITLE_DESC = 44
MAX_SUB_TITLE = 160
MAX_SOURCE_DESC = 20
_TASK_ID = re.compile(r"[0-9A-Za-z_\-@]+")

# The doc says only "1~4, default 1"; 1 is the platform's emphasised default.
_STYLE = {ButtonStyle.PRIMARY: 1, ButtonStyle.DEFAULT: 2, ButtonStyle.DANGER: 3}
# source.desc_color: 0 grey, 1 black, 2 red, 3 green.
_COLOR = {Tone.INFO: 0, Tone.WARNING: 1, Tone.DANGER: 2, Tone.SUCCESS: 3}
SOURCE_NAME = "线索助手"


def check_task_id(task_id: str) -> None:
    if not _TASK_ID.fullmatch(task_id):
        raise CardLimitError("wecom.task_id.charset", task_id, "[0-9A-Za-z_-@]+")
    require("wecom.task_id.bytes", len(task_id.encode()), MAX_TASK_ID_BYTES)


def _buttons(buttons: tuple[Button, ...]) -> list[dict[str, Any]]:
    if not buttons:
        raise CardLimitError("wecom.button_list.min", 0, 1)
    require("wecom.button_list", len(buttons), MAX_BUTTONS)
    out = []
    seen: set[str] = set()
    for b in buttons:
        require("wecom.button.text", len(b.text), MAX_BUTTON_TEXT)
        if b.key is None:  # type 1: the client opens the URL, nothing comes back to us
            out.append({"text": b.text, "style": _STYLE[b.style], "type": 1, "url": b.url})
            continue
        key = b.key.pack()
        require("wecom.button.key.bytes", len(key.encode()), MAX_KEY_BYTES)
        if key in seen:
            raise CardLimitError("wecom.button.key.unique", key, "unique within the card")
        seen.add(key)
        out.append({"text": b.text, "style": _STYLE[b.style], "key": key})
    return out


def _horizontal(card: Card) -> list[dict[str, Any]]:
    require("wecom.horizontal_content_list", len(card.fields), MAX_HORIZONTAL)
    items = []
    for f in card.fields:
        require("wecom.horizontal_content.keyname", len(f.name), MAX_KEYNAME)
        items.append({"keyname": f.name, "value": truncate(clean(f.value, one_line=True) or "-", MAX_VALUE)})
    return items


def render(card: Card, task_id: str) -> dict[str, Any]:
    """The `template_card` object for message/send (the adapter adds touser, agentid, msgtype)."""
    check_task_id(task_id)
    main_title: dict[str, str] = {"title": truncate(clean(card.title, one_line=True), MAX_TITLE)}
    if card.subtitle:
        main_title["desc"] = truncate(clean(card.subtitle, one_line=True), MAX_TITLE_DESC)
    out: dict[str, Any] = {
        "card_type": "button_interaction",
        "source": {
            "desc": truncate(clean(card.status, one_line=True) or SOURCE_NAME, MAX_SOURCE_DESC),
            "desc_color": _COLOR[card.tone],
        },
        "main_title": main_title,
    }
    details = "\n".join(detail_lines(card))
    if details:
        out["sub_title_text"] = truncate(details, MAX_SUB_TITLE)
    if card.fields:
        out["horizontal_content_list"] = _horizontal(card)
    out["task_id"] = task_id
    out["button_list"] = _buttons(card.buttons)
    return out


def render_update(card: Card, task_id: str) -> dict[str, Any]:
    """The `template_card` object for message/update_template_card, replacing the card sent as `task_id`.

    It carries the task_id of the card it replaces (task ids are single-use per app, so the replacement is the
    same task, not a new one), and the update spends a single-use response_code (from the send answer or from a
    click; the adapter supplies it). Buttons in the replacement carry the new lead version, so a click on what
    was shown before is recognised as stale.
    """
    return render(card, task_id)
