"""Issue 7 regression: a click on our card template must reach the click handler with the packed button key.

Our template (cards/DINGTALK_TEMPLATE.md) gives every button the actionId `click` and carries the key as the
parameter `key`; the parser used to hand on the actionId, so every DingTalk click was dropped as "not our key".
"""

from __future__ import annotations

import pytest

from bot.platforms.dingtalk.events import parse_card_callback
from cards.keys import ButtonKey, KeyAction
from tests.sim.dingtalk import card_click

PACKED = ButtonKey(KeyAction.ADVANCE, 42, 3, "qualified").pack()


@pytest.mark.parametrize(("action_id", "params", "key"), [
    ("click", {"key": PACKED}, PACKED),  # our template
    ("btn_contacted", {"stage": "contacted"}, "btn_contacted"),  # someone else's template: the actionId
    ("click", {"key": ""}, "click"),  # an empty key names nothing
    ("click", {"key": 7}, "click"),  # nor does a number
])
def test_the_button_key_comes_from_the_key_param_when_there_is_one(action_id, params, key) -> None:
    inbound = parse_card_callback(card_click("lble1-x", "rep1", action_id, params))
    assert inbound.card.key == key and inbound.card.params == params


def test_the_template_click_unpacks_to_the_button_pressed() -> None:
    # The shape a relay sends when it already decoded `content`: an object, not a JSON string.
    payload = {"outTrackId": "lble1-x", "userId": "rep1",
               "content": {"cardPrivateData": {"actionIds": ["click"], "params": {"key": PACKED}}}}
    assert ButtonKey.unpack(parse_card_callback(payload).card.key) == ButtonKey(KeyAction.ADVANCE, 42, 3, "qualified")
