"""Property tests through the real WeCom callback route: mangled ciphertexts, random envelopes, random messages.

tests/platforms/wecom fuzzes the crypto and the parser as functions; here the same kinds of input go through
`POST /wecom/{id}/callback` on a running app, and each answer must be the refusal the README's table gives for it,
with no effect and the service still serving. The signature is always right where the test is about what is inside
it, so the framing, not the signature check, is what refuses.
"""

from __future__ import annotations

import base64
import os
from xml.sax.saxutils import escape

from Crypto.Cipher import AES
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.runtime.worker import drain
from tests.e2e_wecom.support import AES_KEY, World
from tests.hostile.support import assert_serving, assert_unchanged, job_errors, state
from tests.sim.wecom import CallbackSender

ROUTE = settings(max_examples=40, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
KEY = base64.b64decode(AES_KEY + "=")
TEXT = (b"<xml><ToUserName>c</ToUserName><FromUserName>rep1</FromUserName><CreateTime>1700000000</CreateTime>"
        b"<MsgType>text</MsgType><Content>hello</Content><MsgId>42</MsgId><AgentID>1000002</AgentID></xml>")


def frame(msg: bytes, receive_id: bytes, *, length: int | None = None) -> bytes:
    """The plaintext frame WeCom encrypts, padded to 32 bytes; `length` overrides the length field."""
    n = len(msg) if length is None else length
    raw = os.urandom(16) + n.to_bytes(4, "big") + msg + receive_id
    pad = 32 - len(raw) % 32
    return raw + bytes([pad]) * pad


def seal(plain: bytes, key: bytes = KEY) -> bytes:
    return AES.new(key, AES.MODE_CBC, iv=key[:16]).encrypt(plain)


async def post_encrypt(client, sender: CallbackSender, world: World, encrypt: str):
    """A correctly signed envelope around `encrypt`, whatever it holds."""
    params, _ = sender.signed(b"<xml/>")
    params["msg_signature"] = sender.sign(params["timestamp"], params["nonce"], encrypt)
    body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
    return await client.post(f"/wecom/{world.app_id}/callback", params=params, data=body)


async def refused_without_effect(client, services, before, r, allowed: set[tuple[int, str]]) -> None:
    got = (r.status, (await r.json())["error"])
    assert got in allowed
    await assert_unchanged(services, before)
    await assert_serving(client)


@st.composite
def mangled(draw: st.DrawFn, corp_id: str) -> tuple[str, bytes, set[tuple[int, str]]]:
    """(how, ciphertext, the refusals it may get). Where garbage decrypts, a valid-looking padding byte is possible
    by chance, after which the receive id check refuses: both answers are documented, nothing else is."""
    good = seal(frame(TEXT, corp_id.encode()))
    undecryptable = {(400, "undecryptable")}
    either = undecryptable | {(403, "wrong_receiver")}
    how = draw(st.sampled_from(["truncated", "padded", "wrong_length", "wrong_key", "bit_flip"]))
    if how == "truncated":
        cut = draw(st.integers(0, len(good) - 1))
        if cut == 0:  # an empty <Encrypt> is no Encrypt at all
            return how, b"", {(400, "malformed")}
        return how, good[:cut], either if cut % 32 == 0 else undecryptable
    if how == "padded":
        extra = draw(st.binary(min_size=1, max_size=96))
        return how, good + extra, either if len(extra) % 32 == 0 else undecryptable
    if how == "wrong_length":
        true_n = len(TEXT)
        n = draw(st.integers(0, 2**32 - 1).filter(lambda v: v != true_n))
        # past the frame: refused as undecryptable; shorter: part of the message is read as the receive id
        fits = n <= len(TEXT) + len(corp_id)
        return how, seal(frame(TEXT, corp_id.encode(), length=n)), {(403, "wrong_receiver")} if fits else undecryptable
    if how == "wrong_key":
        key = draw(st.binary(min_size=32, max_size=32).filter(lambda k: k != KEY))
        return how, seal(frame(TEXT, corp_id.encode()), key), either
    at = draw(st.integers(0, len(good) - 1))
    flipped = bytearray(good)
    flipped[at] ^= 1 << draw(st.integers(0, 7))
    # CBC: a flip garbles its own block and flips one bit in the next; any frame field may be hit
    return how, bytes(flipped), either | {(400, "malformed"), (400, "hostile_xml"), (200, "")}


@ROUTE
@given(data=st.data())
async def test_mangled_ciphertexts_are_refused_without_effect(data, client, world: World, sender: CallbackSender,
                                                              services) -> None:
    how, raw, allowed = data.draw(mangled(sender.corp_id))
    before = await state(services)
    r = await post_encrypt(client, sender, world, base64.b64encode(raw).decode())
    if r.status == 200:  # a flipped bit in the message text itself: still a message, accepted once
        assert (200, "") in allowed, how
        await drain(services)
        return
    await refused_without_effect(client, services, before, r, allowed)


@ROUTE
@given(text=st.text(max_size=120))
async def test_any_encrypt_text_is_refused_without_effect(text: str, client, world: World, sender: CallbackSender,
                                                          services) -> None:
    before = await state(services)
    r = await post_encrypt(client, sender, world, text.replace("]]>", ""))
    # XML reading normalises some text (line ends, surrounding blanks): then it is not what was signed
    await refused_without_effect(client, services, before, r,
                                 {(400, "undecryptable"), (400, "malformed"), (403, "bad_signature")})


ENVELOPES = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=200).map(str.encode),
    st.builds(lambda tag, inner: f"<{tag}>{inner}</{tag}>".encode(),
              st.sampled_from(["xml", "Encrypt", "a"]), st.text(max_size=100).map(escape)),
    st.builds(lambda value: f"<xml><Encrypt>{escape(value)}</Encrypt></xml>".encode(), st.text(max_size=80)),
)


@ROUTE
@given(body=ENVELOPES)
async def test_random_envelopes_are_refused_without_effect(body: bytes, client, world: World,
                                                           sender: CallbackSender, services) -> None:
    params, _ = sender.signed(TEXT)  # signed for another Encrypt: whatever this body holds, it is not that
    before = await state(services)
    r = await client.post(f"/wecom/{world.app_id}/callback", params=params, data=body)
    await refused_without_effect(client, services, before, r,
                                 {(400, "malformed"), (400, "hostile_xml"), (403, "bad_signature")})


FIELDS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "MediaId", "Event", "EventKey",
          "TaskId", "ResponseCode", "CardType", "Format", "AgentID"]
VALUES = st.one_of(
    st.sampled_from(["text", "voice", "image", "event", "template_card_event", "enter_agent", "rep1", "1", "-1",
                     "", "lead:advance:1:1:contacted", "9" * 30]),
    st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=30),
)


BASE = [("ToUserName", "c"), ("FromUserName", "rep1"), ("CreateTime", "1700000000"), ("MsgType", "text"),
        ("Content", "hi"), ("MsgId", "1"), ("AgentID", "1000002")]
SOUPS = st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), max_size=12) | st.builds(
    # a real message with a few fields replaced or dropped: most of these parse, so the worker sees them
    lambda changes, drop: [(k, v) for k, v in {**dict(BASE), **dict(changes)}.items() if k not in drop],
    st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), max_size=3), st.lists(st.sampled_from(FIELDS), max_size=2))


@ROUTE
@given(fields=SOUPS)
async def test_random_messages_are_accepted_once_or_refused_and_never_crash_a_job(
    fields: list[tuple[str, str]], client, world: World, sender: CallbackSender, services,
) -> None:
    inner = ("<xml>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields) + "</xml>").encode()
    params, body = sender.signed(inner)
    before, errors = await state(services), job_errors()
    r = await client.post(f"/wecom/{world.app_id}/callback", params=params, data=body)
    event(f"status {r.status}")
    if r.status == 200:
        # Accepted: whatever the worker makes of it, it is handled (a reply, or nothing), never a crashed job.
        await drain(services)
        assert job_errors() == errors
        await assert_serving(client)
        return
    await refused_without_effect(client, services, before, r, {(400, "malformed"), (400, "hostile_xml")})
