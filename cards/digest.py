"""The managers' daily digest as a card: the team's figures with their colours, and the leads that most need them,
each with 查看 (a link to its page on the board) and 接手 (take it over: the same key as an alert's 我来处理).
Pure: the digest's data in (as frozen onto its alert), a `Card` out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cards.keys import ButtonKey, KeyAction
from cards.limits import clean
from cards.model import Button, ButtonStyle, Card, CardKind, Field, Tone

MARK = {"red": "🔴", "yellow": "🟡", "green": "🟢", "none": "⚪"}
MAX_LEADS = 3


def digest_card(data: Mapping[str, Any], board_url: str, lead_url: str) -> Card:
    """`board_url` opens the board; `lead_url` has a `{lead_id}` slot. Both already carry the sign-in token."""
    fields = tuple(Field(f["name"], f"{f['value']} {MARK.get(f['colour'], '')}".strip()) for f in data["fields"])
    leads: Sequence[Mapping[str, Any]] = data["leads"][:MAX_LEADS]
    lines = [f"{i}. {clean(lead['title'], one_line=True)}（{lead['rep'] or '-'}）{lead['reason']}"
             for i, lead in enumerate(leads, 1)]
    body = "\n".join(["需要您关注：", *lines] if lines else ["今天没有需要您处理的线索。"])
    if data.get("more"):
        body += f"\n{data['more']}"
    buttons: list[Button] = []
    for i, lead in enumerate(leads, 1):
        buttons.append(Button(f"查看{i}", None, url=lead_url.format(lead_id=lead["id"])))
        buttons.append(Button(f"接手{i}", ButtonKey(KeyAction.CLAIM, int(lead["id"]), int(lead["version"])),
                              ButtonStyle.PRIMARY))
    if len(buttons) < 6:
        buttons.insert(0, Button("打开看板", None, url=board_url))
    worst = {f["colour"] for f in data["fields"]}
    tone = Tone.DANGER if "red" in worst else Tone.WARNING if "yellow" in worst else Tone.SUCCESS
    return Card(kind=CardKind.DIGEST, title=f"线索日报：{data['team']}", subtitle=data["subtitle"],
                status=data["day"][5:], fields=fields, body=body, buttons=tuple(buttons), tone=tone)
