"""Every card of the card tests rendered as Feishu card JSON 2.0: accepted by the simulator's checks, buttons that
carry our card id and a key that unpacks, user text inert and cut, and the 30 KB limit named when broken."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cards import feishu
from cards.keys import ButtonKey, KeyAction
from cards.limits import CardLimitError
from cards.model import Button, Card, CardKind, Field
from tests.sim.feishu import _card_problem

sys.path.insert(0, str(Path(__file__).parent.parent / "cards"))
from test_card_render import CARDS  # noqa: E402  (the card tests' own cards: one list for every platform)

CARD_ID = "lble42-18c0ffee-0123456789ab"


def _buttons(out: dict) -> list[dict]:
    found = []
    for element in out["body"]["elements"]:
        for column in element.get("columns", []):
            found += [e for e in column["elements"] if e["tag"] == "button"]
    return found


@pytest.mark.parametrize("name", sorted(CARDS))
def test_every_card_renders_within_feishus_checks(name: str) -> None:
    card = CARDS[name]
    out = feishu.render(card, CARD_ID)
    assert _card_problem(json.dumps(out, ensure_ascii=False)) is None
    buttons = _buttons(out)
    assert [b["text"]["content"] for b in buttons] == [b.text for b in card.buttons]
    for rendered, button in zip(buttons, card.buttons, strict=True):
        (behavior,) = rendered["behaviors"]
        if button.key is None:
            assert behavior == {"type": "open_url", "default_url": button.url}
        else:
            assert behavior["value"] == {"lb_card": CARD_ID, "lb_key": button.key.pack()}
            assert ButtonKey.unpack(behavior["value"]["lb_key"]) == button.key
    assert len(json.dumps(out, ensure_ascii=False).encode()) <= feishu.MAX_CARD_BYTES


def test_user_text_is_inert_in_markdown() -> None:
    card = Card(CardKind.NOTICE, "t", fields=(Field("公司", "[钓鱼](https://evil.example)"),),
                body="<a href='x'>点我</a>")
    text = json.dumps(feishu.render(card, CARD_ID), ensure_ascii=False)
    assert "](https://" not in text and "<a " not in text


def test_our_own_labels_must_fit() -> None:
    key = ButtonKey(KeyAction.ACK, 1)
    with pytest.raises(CardLimitError) as e:
        feishu.render(Card(CardKind.NOTICE, "t", buttons=(Button("一个过长的按钮文字超过十个字", key),)), CARD_ID)
    assert e.value.limit == "feishu.button.text"
    with pytest.raises(CardLimitError):
        feishu.render(Card(CardKind.NOTICE, "t", buttons=tuple(Button(f"b{i}", key) for i in range(7))), CARD_ID)
    with pytest.raises(CardLimitError) as e:
        feishu.render(Card(CardKind.NOTICE, "t"), "has space")
    assert e.value.limit == "feishu.card_id.charset"


def test_the_size_limit_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feishu, "MAX_CARD_BYTES", 500)
    with pytest.raises(CardLimitError) as e:
        feishu.render(CARDS["voice-summary-long"], CARD_ID)
    assert e.value.limit == "feishu.card.bytes"


def test_the_simulator_refuses_what_feishu_refuses() -> None:
    good = feishu.render(CARDS["lead-assigned-rep"], CARD_ID)
    assert _card_problem(json.dumps(good)) is None
    no_schema = {k: v for k, v in good.items() if k != "schema"}
    assert _card_problem(json.dumps(no_schema))[0] == 230099
    assert _card_problem(json.dumps(good | {"pad": "x" * 31_000}))[0] == 230025
    assert _card_problem(good)[0] == 99992402  # an object where Feishu wants a JSON string
