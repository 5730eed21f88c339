"""The digest card renders within both platforms' limits: link buttons for 查看, callback keys for 接手."""

from __future__ import annotations

import json

import pytest

from cards import dingtalk, wecom
from cards.digest import digest_card
from cards.keys import ButtonKey, KeyAction
from cards.model import Button, Tone

FIELDS = [{"name": n, "value": "1", "colour": c} for n, c in
          (("24h未联", "red"), ("首联中位", "yellow"), ("超时", "green"), ("无证据率", "green"), ("演示转化", "none"),
           ("人均语音", "green"))]


def data(leads: int) -> dict:
    return {"day": "2026-06-03", "team": "王经理团队", "subtitle": "近 7 天", "fields": FIELDS, "more": "",
            "leads": [{"id": 10 + i, "version": 3, "title": f"客户{i}" * 20, "rep": "张三", "reason": "已分配 30 小时未联系"}
                      for i in range(leads)]}


def test_three_leads_fill_the_six_buttons() -> None:
    card = digest_card(data(3), "https://x/board/login?t=T&next=%2Fboard", "https://x/l?next=%2Fboard%2Fleads%2F{lead_id}")
    assert card.tone is Tone.DANGER
    out = wecom.render(card, "lbal1-abc")
    kinds = [(b["text"], b.get("type", 0)) for b in out["button_list"]]
    assert kinds == [("查看1", 1), ("接手1", 0), ("查看2", 1), ("接手2", 0), ("查看3", 1), ("接手3", 0)]
    assert out["button_list"][0]["url"].endswith("%2Fboard%2Fleads%2F10")
    assert ButtonKey.unpack(out["button_list"][1]["key"]) == ButtonKey(KeyAction.CLAIM, 10, 3)
    assert out["horizontal_content_list"][0] == {"keyname": "24h未联", "value": "1 🔴"}
    params = dingtalk.render(card, "lbal1-abc")["cardData"]["cardParamMap"]
    buttons = json.loads(params["buttons"])
    assert buttons[0] == {"text": "查看1", "style": "default", "key": "", "url": card.buttons[0].url}
    md = dingtalk.render_markdown(card)["text"]
    assert f"[查看1]({card.buttons[0].url})" in md and "dtmd://" in md


def test_a_quiet_morning_still_has_a_button() -> None:
    card = digest_card(data(0), "https://x/board", "https://x/{lead_id}")
    assert [b.text for b in card.buttons] == ["打开看板"] and "没有需要您处理的线索" in card.body
    assert wecom.render(card, "lbal2-abc")["button_list"] == [{"text": "打开看板", "style": 2, "type": 1,
                                                               "url": "https://x/board"}]


def test_a_button_has_a_key_or_a_url() -> None:
    with pytest.raises(ValueError):
        Button("x", None)
    with pytest.raises(ValueError):
        Button("x", ButtonKey(KeyAction.ACK, 1), url="https://x")
