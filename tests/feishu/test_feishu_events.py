"""Schema 2.0 pushes -> Inbound: messages (text, audio), card actions (our ids from the button's value), other
events, the token and the URL challenge; shapes we cannot trust are MalformedPayload."""

from __future__ import annotations

import pytest

from bot.platforms.base import InboundKind
from bot.platforms.feishu import events
from bot.platforms.feishu.errors import MalformedPayload, SignatureError
from cards import feishu as feishu_cards
from tests.sim.feishu import SimUser, card_action_event, event, message_event, url_verification

TOKEN = "vtoken"
APP = "cli_sim"
REP = SimUser("ou_rep1", "rep1", "on_rep1", "张三")


def test_a_text_message() -> None:
    payload = message_event(REP, "text", {"text": " 明天拜访客户 "}, token=TOKEN, app_id=APP, message_id="om_1",
                            event_id="ev-1")
    got = events.parse(payload)
    assert (got.kind, got.text, got.sender, got.msg_id, got.dedup_key) == (
        InboundKind.TEXT, "明天拜访客户", "ou_rep1", "om_1", "ev-1")
    assert got.platform == "feishu" and got.created_at > 0


def test_the_sender_is_read_with_the_apps_id_type() -> None:
    payload = message_event(REP, "text", {"text": "x"}, token=TOKEN, app_id=APP)
    assert events.parse(payload, id_type="user_id").sender == "rep1"


def test_a_voice_message_names_its_message_and_file() -> None:
    payload = message_event(REP, "audio", {"file_key": "file_v3_abc", "duration": 2500}, token=TOKEN, app_id=APP,
                            message_id="om_9")
    got = events.parse(payload)
    assert (got.kind, got.media_ref, got.media_format, got.duration_s) == (
        InboundKind.VOICE, "om_9/file_v3_abc", "opus", 2.5)


def test_a_card_action_carries_our_card_id_and_key() -> None:
    value = {feishu_cards.VALUE_CARD: "lble1-abc", feishu_cards.VALUE_KEY: "lb1:adv:7:3:contacted"}
    payload = card_action_event(REP, value, message_id="om_5", card_token="c-tok", token=TOKEN, app_id=APP,
                                event_id="ev-card")
    got = events.parse(payload)
    assert got.kind is InboundKind.CARD_CLICK and got.sender == "ou_rep1" and got.dedup_key == "ev-card"
    assert got.card is not None
    assert (got.card.card_id, got.card.key, got.card.response_code) == ("lble1-abc", "lb1:adv:7:3:contacted", "c-tok")
    assert got.card.params == {"message_id": "om_5"}


def test_the_renderer_and_the_parser_agree_on_the_value_names() -> None:
    assert (feishu_cards.VALUE_CARD, feishu_cards.VALUE_KEY) == (events.BUTTON_CARD, events.BUTTON_KEY)


def test_a_button_without_our_ids_is_malformed() -> None:
    payload = card_action_event(REP, {"other": "x"}, message_id="om_5", card_token="c", token=TOKEN, app_id=APP)
    with pytest.raises(MalformedPayload):
        events.parse(payload)


def test_other_events_are_events() -> None:
    got = events.parse(event("contact.user.updated_v3", {"object": {}}, token=TOKEN, app_id=APP, event_id="e7"))
    assert (got.kind, got.event, got.dedup_key) == (InboundKind.EVENT, "contact.user.updated_v3", "e7")


@pytest.mark.parametrize("payload", [
    {"schema": "1.0"},
    {"schema": "2.0", "header": {"event_type": "im.message.receive_v1"}, "event": {}},  # no event id
    {"schema": "2.0", "header": "x", "event": {}},
    message_event(REP, "text", {"text": ["x"]}, token=TOKEN, app_id=APP),  # text not a string
    event("im.message.receive_v1", {"message": {"message_id": "om_1", "message_type": "text", "content": "[1]"}},
          token=TOKEN, app_id=APP),  # content not an object
    message_event(REP, "audio", {"duration": 1}, token=TOKEN, app_id=APP),  # no file_key
])
def test_untrusted_shapes_are_malformed(payload: dict) -> None:
    with pytest.raises(MalformedPayload):
        events.parse(payload)


def test_nul_characters_are_dropped() -> None:
    payload = message_event(REP, "text", {"text": "a\x00b"}, token=TOKEN, app_id=APP)
    assert events.parse(payload).text == "ab"


def test_the_token_is_checked_where_each_schema_carries_it() -> None:
    events.check_token(event("x", {}, token=TOKEN, app_id=APP), TOKEN)
    events.check_token(url_verification(TOKEN), TOKEN)
    for payload in (event("x", {}, token="other", app_id=APP), url_verification("other"), {"schema": "2.0"}):
        with pytest.raises(SignatureError):
            events.check_token(payload, TOKEN)


def test_the_url_challenge() -> None:
    assert events.challenge_of(url_verification(TOKEN, "abc123")) == "abc123"
    assert events.challenge_of(event("x", {}, token=TOKEN, app_id=APP)) is None
    with pytest.raises(MalformedPayload):
        events.challenge_of({"type": "url_verification", "token": TOKEN})


def test_an_inbound_survives_the_queue() -> None:
    value = {feishu_cards.VALUE_CARD: "c1", feishu_cards.VALUE_KEY: "k"}
    got = events.parse(card_action_event(REP, value, message_id="om", card_token="c-1", token=TOKEN, app_id=APP))
    assert type(got).from_dict(got.to_dict()) == got
