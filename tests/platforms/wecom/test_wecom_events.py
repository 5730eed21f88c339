from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.platforms.base import CardClick, Inbound, InboundKind
from bot.platforms.wecom.errors import CallbackRejected, HostileXml, MalformedPayload
from bot.platforms.wecom.events import envelope_encrypt, parse_envelope, parse_inbound

HEAD = "<ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1700000000</CreateTime>"
TAIL = "<AgentID>1000002</AgentID>"


def xml(body: str) -> bytes:
    return f"<xml>{HEAD}{body}{TAIL}</xml>".encode()


CARD_CLICK = (
    "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[template_card_event]]></Event>"
    "<EventKey><![CDATA[lead:42:contacted]]></EventKey><TaskId><![CDATA[lead-18c-ab12]]></TaskId>"
    "<CardType><![CDATA[button_interaction]]></CardType><ResponseCode><![CDATA[rc-1]]></ResponseCode>"
)
SELECTION = (
    "<SelectedItems><SelectedItem><QuestionKey><![CDATA[stage]]></QuestionKey>"
    "<OptionIds><OptionId><![CDATA[s2]]></OptionId><OptionId><![CDATA[s3]]></OptionId></OptionIds>"
    "</SelectedItem></SelectedItems>"
)

CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "text",
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[ 预算 80万 <b>]]></Content><MsgId>1234567890123456</MsgId>",
        {
            "kind": InboundKind.TEXT,
            "text": " 预算 80万 <b>",
            "msg_id": "1234567890123456",
            "dedup_key": "msg:1234567890123456",
        },
    ),
    (
        "voice",
        "<MsgType><![CDATA[voice]]></MsgType><MediaId><![CDATA[m-1]]></MediaId><Format><![CDATA[AMR]]></Format><MsgId>77</MsgId>",
        {"kind": InboundKind.VOICE, "media_ref": "m-1", "media_format": "amr", "recognition": None, "msg_id": "77"},
    ),
    (
        "voice without format",
        "<MsgType>voice</MsgType><MediaId>m-2</MediaId><MsgId>78</MsgId>",
        {"kind": InboundKind.VOICE, "media_ref": "m-2", "media_format": "amr"},
    ),
    (
        "image",
        "<MsgType><![CDATA[image]]></MsgType><PicUrl><![CDATA[https://p/x]]></PicUrl><MediaId><![CDATA[img-1]]></MediaId><MsgId>79</MsgId>",
        {"kind": InboundKind.IMAGE, "media_ref": "img-1", "msg_id": "79"},
    ),
    (
        "video is another message type",
        "<MsgType>video</MsgType><MediaId>v-1</MediaId><ThumbMediaId>t</ThumbMediaId><MsgId>80</MsgId>",
        {"kind": InboundKind.OTHER, "event": "video", "media_ref": "v-1", "msg_id": "80", "dedup_key": "msg:80"},
    ),
    (
        "location",
        "<MsgType>location</MsgType><Location_X>23.1</Location_X><Location_Y>113.3</Location_Y><MsgId>81</MsgId>",
        {"kind": InboundKind.OTHER, "event": "location", "media_ref": None},
    ),
    (
        "card click",
        CARD_CLICK,
        {
            "kind": InboundKind.CARD_CLICK,
            "event": "template_card_event",
            "msg_id": None,
            "card": CardClick("lead-18c-ab12", "lead:42:contacted", {}, "rc-1", "button_interaction"),
        },
    ),
    (
        "card click with a selection",
        CARD_CLICK + SELECTION,
        {
            "card": CardClick(
                "lead-18c-ab12",
                "lead:42:contacted",
                {"selected": {"stage": ["s2", "s3"]}},
                "rc-1",
                "button_interaction",
            )
        },
    ),
    (
        "card menu",
        CARD_CLICK.replace("template_card_event", "template_card_menu_event"),
        {"kind": InboundKind.CARD_CLICK, "event": "template_card_menu_event"},
    ),
    (
        "enter_agent",
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[enter_agent]]></Event><EventKey><![CDATA[]]></EventKey>",
        {"kind": InboundKind.EVENT, "event": "enter_agent", "card": None, "msg_id": None},
    ),
    (
        "menu click",
        "<MsgType>event</MsgType><Event>click</Event><EventKey>menu-1</EventKey>",
        {"kind": InboundKind.EVENT, "event": "click"},
    ),
]


@pytest.mark.parametrize("body, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_type_is_parsed(body: str, expected: dict[str, Any]) -> None:
    inbound = parse_inbound(xml(body))
    assert (inbound.platform, inbound.sender, inbound.created_at) == ("wecom", "zhangsan", 1700000000.0)
    assert {k: getattr(inbound, k) for k in expected} == expected


def test_a_card_click_survives_the_job_queue_round_trip() -> None:
    inbound = parse_inbound(xml(CARD_CLICK + SELECTION))
    assert Inbound.from_dict(inbound.to_dict()) == inbound


def _event(
    event_key: str = "k", create_time: int = 1700000000, response_code: str = "rc-1", sender: str = "zhangsan"
) -> bytes:
    return (
        f"<xml><ToUserName>ww1</ToUserName><FromUserName>{sender}</FromUserName><CreateTime>{create_time}</CreateTime>"
        f"<MsgType>event</MsgType><Event>template_card_event</Event><EventKey>{event_key}</EventKey>"
        f"<TaskId>t1</TaskId><ResponseCode>{response_code}</ResponseCode><AgentID>1</AgentID></xml>"
    ).encode()


def test_the_same_event_delivered_twice_has_one_dedup_key() -> None:
    assert parse_inbound(_event()).dedup_key == parse_inbound(_event()).dedup_key


@pytest.mark.parametrize(
    "other",
    [_event(event_key="k2"), _event(create_time=1700000001), _event(response_code="rc-2"), _event(sender="lisi")],
    ids=["another button", "another second", "another click", "another user"],
)
def test_distinct_events_in_the_same_second_are_not_merged(other: bytes) -> None:
    # WxJava #1745: FromUserName + CreateTime alone would drop the second of two clicks in one second.
    assert parse_inbound(_event()).dedup_key != parse_inbound(other).dedup_key


def test_message_without_msgid_still_dedups_on_content() -> None:
    body = xml("<MsgType>text</MsgType><Content>hi</Content>")
    assert parse_inbound(body).dedup_key == parse_inbound(body).dedup_key
    assert parse_inbound(body).dedup_key != parse_inbound(xml("<MsgType>text</MsgType><Content>ho</Content>")).dedup_key


ENVELOPE = b"<xml><ToUserName><![CDATA[ww1]]></ToUserName><AgentID><![CDATA[1000002]]></AgentID><Encrypt><![CDATA[abc+/=]]></Encrypt></xml>"


def test_envelope() -> None:
    assert envelope_encrypt(ENVELOPE) == "abc+/="
    env = parse_envelope(ENVELOPE)
    assert (env.to_user, env.agent_id) == ("ww1", "1000002")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<xml><Encrypt>&lol3;</Encrypt><FromUserName>&lol3;</FromUserName></xml>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Encrypt>&x;</Encrypt></xml>"""
PARAMETER = b"""<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x.dtd"> %p;]><xml><Encrypt>a</Encrypt></xml>"""
DTD_ONLY = b"""<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:1/x.dtd"><xml><Encrypt>a</Encrypt></xml>"""
UTF16 = (
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE xml [<!ENTITY x "y">]><xml><Encrypt>&x;</Encrypt></xml>'.encode(
        "utf-16"
    )
)


@pytest.mark.parametrize("parse", [envelope_encrypt, parse_inbound], ids=["envelope", "inner"])
@pytest.mark.parametrize(
    "body",
    [BILLION_LAUGHS, EXTERNAL, PARAMETER, DTD_ONLY, UTF16],
    ids=["laughs", "external", "parameter", "dtd", "utf16"],
)
def test_hostile_xml_is_refused(parse: Any, body: bytes) -> None:
    with pytest.raises(HostileXml) as e:
        parse(body)
    assert e.value.http_status == 400


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<xml><Encrypt>a</Encrypt>",
        b"<root><Encrypt>a</Encrypt></root>",
        b"<xml><Encrypt></Encrypt></xml>",
        b"<xml><ToUserName>ww</ToUserName></xml>",
        b"\xff\xfe\x00garbage",
    ],
)
def test_malformed_envelopes(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        envelope_encrypt(body)


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",  # no sender
        b"<xml><FromUserName>u</FromUserName><MsgType>text</MsgType></xml>",  # no time
        b"<xml><FromUserName>u</FromUserName><CreateTime>yesterday</CreateTime><MsgType>text</MsgType></xml>",
        b"<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime></xml>",  # no type
        b"<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType></xml>",  # no event
        b"<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>voice</MsgType></xml>",  # no media
        b"<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType>"
        b"<Event>template_card_event</Event><EventKey>k</EventKey></xml>",  # click without TaskId
    ],
)
def test_malformed_messages(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        parse_inbound(body)


FIELDS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "MediaId", "Event", "EventKey",
          "TaskId", "ResponseCode", "SelectedItems", "Format"]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(["text", "voice", "image", "event", "template_card_event", "enter_agent", "1", "-1", ""]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), max_size=10))
def test_random_field_soup_parses_or_is_refused(fields: list[tuple[str, str]]) -> None:
    from xml.sax.saxutils import escape

    body = "<xml>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields) + "</xml>"
    try:
        inbound = parse_inbound(body.encode())
    except CallbackRejected:
        return
    assert inbound.sender and inbound.dedup_key


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_escape_as_another_exception(body: bytes) -> None:
    for parse in (envelope_encrypt, parse_inbound):
        try:
            parse(body)
        except CallbackRejected:
            pass
