"""Button keys: pack/unpack round trips, garbage refused with a typed error, keys mapped to actions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.leads.actions import Advance, Claim, MarkLost, ReleaseToPool, Reopen
from bot.leads.types import LOST_REASONS, Status
from cards.keys import MAX_KEY_BYTES, BadButtonKey, ButtonKey, KeyAction


@pytest.mark.parametrize(
    "key,packed",
    [
        (ButtonKey(KeyAction.ADVANCE, 42, 7, "contacted"), "lb1:adv:42:7:contacted"),
        (ButtonKey(KeyAction.LOST, 42, 7), "lb1:lost:42:7:"),
        (ButtonKey(KeyAction.ADD_CONTACT, 9, 0, "技术总监"), "lb1:addc:9:0:%E6%8A%80%E6%9C%AF%E6%80%BB%E7%9B%91"),
        (ButtonKey(KeyAction.PICK, 9, 2, "42"), "lb1:pick:9:2:42"),
        (ButtonKey(KeyAction.ACK, 0), "lb1:ack:0:0:"),
        (ButtonKey(KeyAction.CLAIM, 2**62, 10**17), f"lb1:claim:{2**62}:{10**17}:"),
        (ButtonKey(KeyAction.CORRECT, 1, 0, "a:b/c %"), "lb1:fix:1:0:a%3Ab%2Fc%20%25"),
    ],
)
def test_pack_and_unpack(key, packed):
    assert key.pack() == packed
    assert ButtonKey.unpack(packed) == key


@given(
    st.sampled_from(list(KeyAction)),
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**63 - 1),
    st.text(max_size=60),
)
def test_any_key_round_trips(action, target, version, arg):
    key = ButtonKey(action, target, version, arg)
    packed = key.pack()
    assert packed.isascii() and len(packed) <= MAX_KEY_BYTES
    assert packed.count(":") == 4
    assert ButtonKey.unpack(packed) == key


GARBAGE = [
    "",
    None,
    123,
    b"lb1:adv:1:0:",
    "hello",
    "lb1",
    "lb1:adv:1:0",
    "lb1:adv:1:0::",
    "lb2:adv:1:0:",
    "LB1:adv:1:0:",
    "lb1:nope:1:0:",
    "lb1:ADV:1:0:",
    "lb1:adv:-1:0:",
    "lb1:adv:+1:0:",
    "lb1:adv:01:0:",
    "lb1:adv::0:",
    "lb1:adv:1.0:0:",
    "lb1:adv:1:x:",
    "lb1:adv:１:0:",  # a full-width digit
    "lb1:adv:9223372036854775808:0:",  # 2**63
    "lb1:adv:12345678901234567890:0:",
    "lb1:adv:1:0:%ZZ",
    "lb1:adv:1:0:%E4",  # a cut-off UTF-8 sequence
    "lb1:adv:1:0:%41",  # "A" spelled the long way
    "lb1:adv:1:0:中",
    "lb1:adv:1:0:has space",
    "lb1:adv:1:0:" + "a" * MAX_KEY_BYTES,
]


@pytest.mark.parametrize("value", GARBAGE, ids=repr)
def test_garbage_is_a_bad_key(value):
    with pytest.raises(BadButtonKey):
        ButtonKey.unpack(value)


@pytest.mark.parametrize("target,version", [(-1, 0), (0, -1), (True, 0), ("1", 0), (2**63, 0)])
def test_a_key_needs_non_negative_int_ids(target, version):
    with pytest.raises(ValueError):
        ButtonKey(KeyAction.ADVANCE, target, version)


def test_a_key_too_long_to_send_is_refused_at_pack_time():
    with pytest.raises(ValueError):
        ButtonKey(KeyAction.ADD_CONTACT, 1, 0, "总" * 200).pack()


@pytest.mark.parametrize(
    "key,action",
    [
        (ButtonKey(KeyAction.ADVANCE, 1, 0, "demo"), Advance(Status.DEMO)),
        (ButtonKey(KeyAction.LOST, 1, 0), MarkLost("")),
        (ButtonKey(KeyAction.LOST, 1, 0, "competitor"), MarkLost(LOST_REASONS["competitor"])),
        (ButtonKey(KeyAction.REOPEN, 1, 0), Reopen()),
        (ButtonKey(KeyAction.CLAIM, 1, 0), Claim()),
        (ButtonKey(KeyAction.RELEASE, 1, 0), ReleaseToPool()),
        (ButtonKey(KeyAction.REFRESH, 1, 0), None),
        (ButtonKey(KeyAction.CONFIRM, 1, 0), None),
        (ButtonKey(KeyAction.ACK, 1, 0), None),
    ],
)
def test_keys_name_workflow_actions(key, action):
    assert key.workflow_action() == action


@pytest.mark.parametrize(
    "key",
    [ButtonKey(KeyAction.ADVANCE, 1, 0, "done"), ButtonKey(KeyAction.LOST, 1, 0, "because")],
)
def test_impossible_arguments_are_bad_keys(key):
    with pytest.raises(BadButtonKey):
        key.workflow_action()


def test_picked_lead():
    assert ButtonKey(KeyAction.PICK, 9, 0, "42").picked_lead() == 42
    for key in (
        ButtonKey(KeyAction.PICK, 9, 0, "x"),
        ButtonKey(KeyAction.PICK, 9, 0, "٤٢"),
        ButtonKey(KeyAction.ACK, 9),
    ):
        with pytest.raises(BadButtonKey):
            key.picked_lead()
