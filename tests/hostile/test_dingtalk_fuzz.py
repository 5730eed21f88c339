"""Property tests through the real DingTalk routes: random JSON to the robot and card callbacks (correctly signed,
so the parser is what decides), and mangled ciphertexts and random envelopes to the encrypted event route.

Each answer must be one of the README's DingTalk refusals (or 200 for a body DingTalk could have sent); a refusal
changes nothing; an accepted body is handled by the worker without a crashed job; the service keeps serving.
"""

from __future__ import annotations

import base64
import json
import os
import time

import pytest
from Crypto.Cipher import AES
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.platforms.dingtalk.crypto import sha1_signature
from bot.runtime.worker import drain
from tests.hostile.support import assert_serving, assert_unchanged, job_errors, state
from tests.sim.dingtalk import _dingtalk_sign, card_click, robot_message

ROUTE = settings(max_examples=40, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
EVENT_TOKEN = "hostileEvtToken1"
EVENT_AES_KEY = "h0stileAesKey0123456789abcdefghijklmnopqrst"
KEY = base64.b64decode(EVENT_AES_KEY + "=")

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=12)
ROBOT_KEYS = st.sampled_from(["msgId", "senderStaffId", "senderId", "msgtype", "text", "content", "createAt",
                              "robotCode", "conversationId", "conversationType", "sessionWebhook", "senderNick"])
CARD_KEYS = st.sampled_from(["outTrackId", "userId", "content", "value", "type", "corpId", "extension",
                             "spaceType"])
TYPED = st.sampled_from(["text", "audio", "picture", "richText", "rep1", "1", "actionCallback", "",
                         json.dumps({"cardPrivateData": {"actionIds": ["click"], "params": {"key": "x"}}}),
                         {"content": "hi"}, {"downloadCode": "dl", "duration": 1000}])


def mutated(base: st.SearchStrategy[dict], keys: st.SearchStrategy[str]) -> st.SearchStrategy[dict]:
    """A real body with a few fields replaced by random JSON and a few removed: most stay near what DingTalk
    sends, so the worker gets its share of odd but parseable input."""
    def apply(b: dict, changes: dict, drop: list[str]) -> dict:
        return {k: v for k, v in {**b, **changes}.items() if k not in drop}

    return st.builds(apply, base, st.dictionaries(keys, JSON_VALUES | TYPED, max_size=3),
                     st.lists(keys, max_size=2))


ROBOT = st.dictionaries(ROBOT_KEYS, JSON_VALUES | TYPED, max_size=10) | mutated(
    st.builds(lambda n, text: robot_message(f"fuzz-{n}", "rep1", text=text, robot_code="dingparityapp01"),
              st.integers(0, 10**9), st.text(max_size=30)), ROBOT_KEYS)
CARD = st.dictionaries(CARD_KEYS, JSON_VALUES | TYPED, max_size=8) | mutated(
    st.builds(lambda key: card_click("track-1", "rep1", "click", {"key": key}),
              st.sampled_from(["lead:1:advance", "x", "", "1|advance|1|contacted"]) | st.text(max_size=20)), CARD_KEYS)


def signed_headers(secret: str) -> dict[str, str]:
    ts = str(int(time.time() * 1000))
    return {"timestamp": ts, "sign": _dingtalk_sign(ts, secret), "Content-Type": "application/json"}


async def accepted_or_refused(client, services, r, before, errors: float) -> None:
    event(f"status {r.status}")
    if r.status == 200:
        await drain(services)
        assert job_errors() == errors
    else:
        assert (r.status, (await r.json())["error"]) == (400, "malformed")
        await assert_unchanged(services, before)
    await assert_serving(client)


@ROUTE
@given(payload=ROBOT)
async def test_random_robot_messages_are_accepted_or_refused_as_malformed(payload, dt, team, client,
                                                                          services) -> None:
    before, errors = await state(services), job_errors()
    r = await client.post(f"/dingtalk/{team.app_id}/callback", data=json.dumps(payload).encode(),
                          headers=signed_headers(dt.APP_SECRET))
    await accepted_or_refused(client, services, r, before, errors)


@ROUTE
@given(payload=CARD)
async def test_random_card_callbacks_are_accepted_or_refused_as_malformed(payload, dt, team, client,
                                                                          services) -> None:
    _, api_secret = dt.card_route()
    before, errors = await state(services), job_errors()
    r = await client.post(f"/dingtalk/{team.app_id}/card", data=json.dumps(payload).encode(),
                          headers=signed_headers(api_secret))
    await accepted_or_refused(client, services, r, before, errors)


@ROUTE
@given(body=st.binary(max_size=300) | st.text(max_size=200).map(str.encode))
async def test_random_bodies_are_malformed(body: bytes, dt, team, client, services) -> None:
    before = await state(services)
    r = await client.post(f"/dingtalk/{team.app_id}/callback", data=body, headers=signed_headers(dt.APP_SECRET))
    if r.status == 200:  # random text that happens to be a complete robot message cannot be drawn from these
        pytest.fail(f"accepted {body!r}")
    await accepted_or_refused(client, services, r, before, job_errors())


# -- the encrypted event route ----------------------------------------------------------------------------------


@pytest.fixture
async def events(dt, team, client, admin_headers) -> str:
    r = await client.patch(f"/admin/apps/{team.app_id}", headers=admin_headers,
                           json={"credentials": {"event_token": EVENT_TOKEN, "event_aes_key": EVENT_AES_KEY}})
    assert r.status == 200, await r.text()
    return f"/dingtalk/{team.app_id}/events"


def frame(msg: bytes, owner: bytes, *, length: int | None = None) -> bytes:
    raw = os.urandom(16) + (len(msg) if length is None else length).to_bytes(4, "big") + msg + owner
    pad = 32 - len(raw) % 32
    return raw + bytes([pad]) * pad


def seal(plain: bytes, key: bytes = KEY) -> bytes:
    return AES.new(key, AES.MODE_CBC, iv=key[:16]).encrypt(plain)


EVENT = json.dumps({"EventType": "user_add_org", "UserId": ["rep9"]}).encode()


@st.composite
def mangled(draw: st.DrawFn, owner: str) -> bytes:
    good = seal(frame(EVENT, owner.encode()))
    how = draw(st.sampled_from(["truncated", "padded", "wrong_length", "wrong_key", "other_owner"]))
    if how == "truncated":
        return good[:draw(st.integers(1, len(good) - 1))]
    if how == "padded":
        return good + draw(st.binary(min_size=1, max_size=96))
    if how == "wrong_length":
        n = draw(st.integers(0, 2**32 - 1).filter(lambda v: v != len(EVENT)))
        return seal(frame(EVENT, owner.encode(), length=n))
    if how == "wrong_key":
        return seal(frame(EVENT, owner.encode()), draw(st.binary(min_size=32, max_size=32).filter(lambda k: k != KEY)))
    other = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=20)
                 .filter(lambda o: o != owner))
    return seal(frame(EVENT, other.encode()))


async def push(client, path: str, encrypt: str):
    ts, nonce = str(int(time.time() * 1000)), "n0nce"
    query = {"signature": sha1_signature(EVENT_TOKEN, ts, nonce, encrypt), "timestamp": ts, "nonce": nonce}
    return await client.post(path, params=query, data=json.dumps({"encrypt": encrypt}).encode())


@ROUTE
@given(data=st.data())
async def test_mangled_event_ciphertexts_are_undecryptable(data, dt, team, events, client, services) -> None:
    raw = data.draw(mangled(dt.APP_KEY))
    before = await state(services)
    r = await push(client, events, base64.b64encode(raw).decode())
    # A shorter length field leaves the event's tail as the "owner": no owner matches, so it is undecryptable too.
    assert (r.status, (await r.json())["error"]) == (400, "undecryptable")
    await assert_unchanged(services, before)
    await assert_serving(client)


@ROUTE
@given(body=st.one_of(st.binary(max_size=200), JSON_VALUES.map(lambda v: json.dumps(v).encode()),
                      st.text(max_size=80).map(lambda t: json.dumps({"encrypt": t}).encode())))
async def test_random_event_envelopes_are_refused(body: bytes, dt, team, events, client, services) -> None:
    before = await state(services)
    r = await client.post(events, params={"signature": "0" * 40, "timestamp": "1", "nonce": "n"}, data=body)
    assert (r.status, (await r.json())["error"]) in {(400, "malformed"), (403, "bad_signature")}
    await assert_unchanged(services, before)
    await assert_serving(client)
