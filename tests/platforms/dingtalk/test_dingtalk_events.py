"""Every robot message, card callback and event shape parsed into Inbound; anything else a typed error."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.platforms.base import Inbound, InboundKind
from bot.platforms.dingtalk.card_actions import read_card_action
from bot.platforms.dingtalk.errors import MalformedPayload
from bot.platforms.dingtalk.events import load_json, parse_card_callback, parse_event, parse_robot_message
from tests.sim.dingtalk import card_click, robot_message

CREATED_MS = 1_700_000_000_000


def message(msgtype: str, **kwargs) -> dict:
    return robot_message("msgABC", "rep1", msgtype, create_at_ms=CREATED_MS, **kwargs)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (message("text", text="  华东电网 已联系 "), {"kind": InboundKind.TEXT, "text": "华东电网 已联系"}),
        (message("audio", content={"duration": 4000, "downloadCode": "dl-a", "recognition": " 预算八十万 "}),
         {"kind": InboundKind.VOICE, "media_ref": "dl-a", "duration_s": 4.0, "recognition": "预算八十万"}),
        (message("audio", content={"duration": "59000", "downloadCode": "dl-b"}),
         {"kind": InboundKind.VOICE, "media_ref": "dl-b", "duration_s": 59.0, "recognition": None}),
        ({**message("audio"), "content": None, "audio": {"downloadCode": "dl-c", "duration": 1200}},
         {"kind": InboundKind.VOICE, "media_ref": "dl-c", "duration_s": 1.2}),
        (message("picture", content={"downloadCode": "dl-p"}), {"kind": InboundKind.IMAGE, "media_ref": "dl-p"}),
        (message("picture", content={"pictureDownloadCode": "dl-q"}), {"kind": InboundKind.IMAGE, "media_ref": "dl-q"}),
        (message("richText", content={"richText": [{"text": "看下"}, {"downloadCode": "dl-r", "type": "picture"},
                                                   {"text": "这个"}]}),
         {"kind": InboundKind.TEXT, "text": "看下这个", "media_ref": "dl-r"}),
        (message("richText", content={"richText": [{"downloadCode": "dl-s", "type": "picture"}]}),
         {"kind": InboundKind.IMAGE, "text": "", "media_ref": "dl-s"}),
        (message("file", content={"downloadCode": "dl-f", "fileName": "报价单.PDF"}),
         {"kind": InboundKind.OTHER, "media_ref": "dl-f", "media_format": "pdf", "text": "报价单.PDF"}),
        (message("video", content={"downloadCode": "dl-v", "duration": 3000, "videoType": "mp4"}),
         {"kind": InboundKind.OTHER, "media_ref": "dl-v", "media_format": "mp4", "duration_s": 3.0}),
        (message("unknownType"), {"kind": InboundKind.OTHER}),
    ],
)
def test_robot_message_shapes(payload, expected):
    inbound = parse_robot_message(payload)
    assert (inbound.platform, inbound.sender, inbound.dedup_key, inbound.msg_id) == ("dingtalk", "rep1", "msgABC",
                                                                                      "msgABC")
    assert inbound.created_at == CREATED_MS / 1000
    assert inbound.conversation_id == "cid-single"
    assert inbound.reply_url.startswith("https://oapi.dingtalk.com/robot/sendBySession")
    assert inbound.reply_url_expires_at == CREATED_MS / 1000 + 90 * 60
    for name, value in expected.items():
        assert getattr(inbound, name) == value, name


def test_http_and_stream_bodies_give_the_same_inbound():
    body = message("text", text="hi")
    assert parse_robot_message(json.loads(json.dumps(body))) == parse_robot_message(body)


def test_the_nul_character_is_dropped_from_what_a_message_carries():
    """JSON lets a message carry U+0000, which PostgreSQL's text cannot store: the job storing it would fail on every
    try. It is dropped from every string read, here and in a Stream frame alike."""
    body = json.loads(json.dumps(message("text", text="预算\u0000八十万")).replace("rep1", "rep\\u00001"))
    inbound = parse_robot_message(body)
    assert inbound.text == "预算八十万" and "\x00" not in inbound.sender


def test_external_sender_falls_back_to_sender_id():
    payload = message("text", text="hi")
    del payload["senderStaffId"]
    assert parse_robot_message(payload).sender == "$:LWCP_v1:$rep1"


def test_inbound_survives_the_queue():
    inbound = parse_robot_message(message("audio", content={"downloadCode": "d", "duration": 1000}))
    assert Inbound.from_dict(json.loads(json.dumps(inbound.to_dict()))) == inbound


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.pop("msgId"),
        lambda p: p.update(msgId=""),
        lambda p: (p.pop("senderStaffId"), p.pop("senderId")),
        lambda p: p.update(text="not an object"),
        lambda p: p.update(text={"content": ["list"]}),
        lambda p: p.update(msgId={"nested": 1}),
        lambda p: p.update(msgtype="richText", content={"richText": "oops"}),
        lambda p: p.update(msgtype="audio", content=[1, 2]),
        lambda p: p.update(msgtype="audio", content="{not json"),
    ],
)
def test_malformed_messages(mutate):
    payload = message("text", text="hi")
    mutate(payload)
    with pytest.raises(MalformedPayload):
        parse_robot_message(payload)


PRIVATE = {"cardPrivateData": {"actionIds": ["btn_contacted"], "params": {"lead": "42", "stage": "contacted"}}}


@pytest.mark.parametrize(
    ("payload", "action_id", "params"),
    [
        # unified card instances, Stream and HTTP: content is a JSON string
        ({"content": json.dumps(PRIVATE)}, "btn_contacted", {"lead": "42", "stage": "contacted"}),
        # newer pushes carry content and value with equal text
        ({"content": json.dumps(PRIVATE), "value": json.dumps(PRIVATE)}, "btn_contacted",
         {"lead": "42", "stage": "contacted"}),
        # older docs: only value
        ({"value": json.dumps(PRIVATE)}, "btn_contacted", {"lead": "42", "stage": "contacted"}),
        # the card platform tutorial: params beside cardPrivateData
        ({"value": json.dumps({"cardPrivateData": {"actionIds": ["1"]}, "params": {"action": "agree"}})}, "1",
         {"action": "agree"}),
        # actionIds as a JSON-encoded string
        ({"content": json.dumps({"cardPrivateData": {"actionIds": '["save"]', "params": {"f": "v"}}})}, "save",
         {"f": "v"}),
        # a single actionId, params as a JSON string
        ({"content": json.dumps({"cardPrivateData": {"actionId": "go", "params": '{"x": 1}'}})}, "go", {"x": 1}),
        # a relay that already decoded content
        ({"content": PRIVATE}, "btn_contacted", {"lead": "42", "stage": "contacted"}),
        # cardPrivateData at the top of the callback
        (PRIVATE, "btn_contacted", {"lead": "42", "stage": "contacted"}),
        # flat document without cardPrivateData
        ({"content": json.dumps({"actionIds": ["flat"], "params": {"k": "v"}})}, "flat", {"k": "v"}),
        # empty content falls through to value
        ({"content": "", "value": json.dumps(PRIVATE)}, "btn_contacted", {"lead": "42", "stage": "contacted"}),
        # a form submit with no actionIds
        ({"content": json.dumps({"cardPrivateData": {"params": {"remark": "ok"}}})}, "", {"remark": "ok"}),
        # nothing at all
        ({}, "", {}),
    ],
)
def test_card_action_shapes(payload, action_id, params):
    action = read_card_action(payload)
    assert (action.action_id, action.params) == (action_id, params)


@pytest.mark.parametrize(
    "payload",
    [
        {"content": "{broken"},
        {"content": json.dumps([1, 2])},
        {"content": json.dumps({"cardPrivateData": "nope"})},
        {"content": json.dumps({"cardPrivateData": {"actionIds": [{"a": 1}]}})},
        {"content": json.dumps({"cardPrivateData": {"actionIds": ["a"], "params": [1]}})},
        {"content": 12},
    ],
)
def test_malformed_card_actions(payload):
    with pytest.raises(MalformedPayload):
        read_card_action(payload)


def test_card_click_becomes_inbound():
    inbound = parse_card_callback(card_click("lead-42-v3", "rep1", "btn_contacted", {"stage": "contacted"}),
                                  received_at=1_700_000_000.0)
    assert inbound.kind == InboundKind.CARD_CLICK and inbound.sender == "rep1"
    assert (inbound.card.card_id, inbound.card.key, inbound.card.params) == ("lead-42-v3", "btn_contacted",
                                                                             {"stage": "contacted"})
    assert inbound.card.card_type == "IM_ROBOT" and inbound.created_at == 1_700_000_000.0


def test_standard_card_callbacks_use_card_biz_id():
    assert parse_card_callback({"cardBizId": "biz-1", "userId": "u", "content": json.dumps(PRIVATE)}).card.card_id \
        == "biz-1"


def test_card_click_dedup_collapses_redeliveries_only():
    click = card_click("lead-1", "rep1", "contacted", {"stage": "a"})
    same = parse_card_callback(dict(click), received_at=1.0).dedup_key
    assert parse_card_callback(dict(click), received_at=99.0).dedup_key == same
    others = [card_click("lead-2", "rep1", "contacted", {"stage": "a"}),
              card_click("lead-1", "rep2", "contacted", {"stage": "a"}),
              card_click("lead-1", "rep1", "lost", {"stage": "a"}),
              card_click("lead-1", "rep1", "contacted", {"stage": "b"}),
              {**click, "timestamp": "1700000000123"}]
    assert len({same} | {parse_card_callback(o).dedup_key for o in others}) == 6


@pytest.mark.parametrize("payload", [{"content": json.dumps(PRIVATE)}, {"userId": "u", "content": json.dumps(PRIVATE)},
                                     {"outTrackId": "t", "content": json.dumps(PRIVATE)}])
def test_card_callback_needs_card_and_user(payload):
    with pytest.raises(MalformedPayload):
        parse_card_callback(payload)


def test_check_url_event():
    inbound = parse_event({"EventType": "check_url"}, received_at=5.0)
    assert (inbound.kind, inbound.event, inbound.sender) == (InboundKind.EVENT, "check_url", "")
    assert inbound.created_at == 5.0


def test_business_event_uses_its_own_time_and_user():
    inbound = parse_event({"EventType": "user_leave_org", "UserId": ["u9"], "TimeStamp": "1700000000000",
                           "CorpId": "dingcorp"})
    assert (inbound.event, inbound.sender, inbound.created_at) == ("user_leave_org", "u9", 1_700_000_000.0)


def test_event_dedup_prefers_the_event_id_then_the_content():
    assert parse_event({"x": 1}, event_type="chat_update", event_id="ev-1").dedup_key == "event:ev-1"
    a = parse_event({"EventType": "user_add_org", "UserId": ["u1"], "TimeStamp": "1"})
    b = parse_event({"TimeStamp": "1", "UserId": ["u1"], "EventType": "user_add_org"})
    c = parse_event({"EventType": "user_add_org", "UserId": ["u2"], "TimeStamp": "1"})
    assert a.dedup_key == b.dedup_key != c.dedup_key


def test_event_without_type_is_malformed():
    with pytest.raises(MalformedPayload):
        parse_event({"UserId": ["u1"]})


@pytest.mark.parametrize("raw", [b"", b"[]", b"null", b"\xff\xfe", b"{", b"[" * 100_000, "x" * 10, b"1e999"])
def test_load_json_refuses_non_objects(raw):
    with pytest.raises(MalformedPayload):
        load_json(raw)


def test_load_json_caps_size():
    body = json.dumps({"pad": "x" * 2000}).encode()
    assert load_json(body, max_bytes=len(body))["pad"]
    with pytest.raises(MalformedPayload):
        load_json(body, max_bytes=len(body) - 1)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.text(max_size=10), children, max_size=4), max_leaves=20)
keys = st.sampled_from(["msgId", "senderStaffId", "senderId", "msgtype", "text", "content", "createAt", "audio",
                        "sessionWebhook", "sessionWebhookExpiredTime", "outTrackId", "userId", "value", "cardBizId",
                        "cardPrivateData", "params", "actionIds", "EventType", "TimeStamp", "UserId", "richText"])
payloads = st.dictionaries(keys, json_values | st.sampled_from(["text", "audio", "richText", "file", "video",
                                                                  "picture", json.dumps(PRIVATE), "{"]), max_size=8)


@settings(max_examples=600, deadline=None)
@given(payloads)
def test_any_payload_parses_or_fails_typed(payload):
    for parse in (parse_robot_message, parse_card_callback, parse_event):
        try:
            parse(payload)
        except MalformedPayload:
            pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_any_body_loads_or_fails_typed(raw):
    try:
        load_json(raw)
    except MalformedPayload:
        pass
