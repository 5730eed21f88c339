from __future__ import annotations

import base64
import os

import pytest
import wechatpy.crypto.cryptography as wechatpy_cryptography
import wechatpy.crypto.pycrypto as wechatpy_pycryptodome
import xmltodict
from Crypto.Cipher import AES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.errors import ConfigError
from bot.platforms.wecom.crypto import WeComCrypto, reply_xml, signature
from bot.platforms.wecom.errors import CallbackRejected, DecryptError, ReceiveIdError, SignatureError, StaleTimestamp

# The platform's published GET verification example.
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
CORP_ID = "wx5823bf96d3bd56c7"
VECTOR = {
    "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    "timestamp": "1409659589",
    "nonce": "263014780",
    "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
}
KEY = base64.b64decode(AES_KEY + "=")

BACKENDS = pytest.mark.parametrize(
    "cipher_cls",
    [wechatpy_cryptography.WeChatCipher, wechatpy_pycryptodome.WeChatCipher],
    ids=["cryptography", "pycryptodome"],
)


def raw_encrypt(frame: bytes, key: bytes = KEY) -> str:
    """AES-CBC over an exact frame (no padding added): lets a test hand-craft every byte the receiver sees."""
    return base64.b64encode(AES.new(key, AES.MODE_CBC, iv=key[:16]).encrypt(frame)).decode()


def framed(msg: bytes, receive_id: bytes = CORP_ID.encode(), *, length: int | None = None) -> bytes:
    body = os.urandom(16) + (len(msg) if length is None else length).to_bytes(4, "big") + msg + receive_id
    k = 32 - len(body) % 32
    return body + bytes([k]) * k


def signed_decrypt(crypto: WeComCrypto, encrypt: str) -> bytes:
    return crypto.decrypt(signature(TOKEN, "1", "n", encrypt), "1", "n", encrypt)


@BACKENDS
def test_official_get_vector(cipher_cls: type) -> None:
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID, cipher_cls=cipher_cls)
    assert crypto.verify_url(**VECTOR) == "1616140317555161061"
    # the cipher of the previous call must not leak chaining state into the next one (pycryptodome's CBC does)
    assert crypto.verify_url(**VECTOR) == "1616140317555161061"


def test_an_unescaped_plus_decoded_as_a_space_still_verifies() -> None:
    # '...5X9xho/...' and '...+4RPcs8...': a proxy or client that leaves '+' raw in the query turns it into ' '.
    mangled = VECTOR["echostr"].replace("+", " ")
    assert WeComCrypto(TOKEN, AES_KEY, CORP_ID).verify_url(**{**VECTOR, "echostr": mangled}) == "1616140317555161061"


def test_default_backend_is_the_one_wechatpy_picked() -> None:
    assert WeComCrypto(TOKEN, AES_KEY, CORP_ID).verify_url(**VECTOR) == "1616140317555161061"


def test_official_vector_under_another_corp_is_a_receive_id_error() -> None:
    with pytest.raises(ReceiveIdError) as e:
        WeComCrypto(TOKEN, AES_KEY, "wwsomeoneelse").verify_url(**VECTOR)
    assert (e.value.code, e.value.http_status) == (-40005, 403)


@pytest.mark.parametrize(
    "field, value",
    [
        ("msg_signature", "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd4"),
        ("msg_signature", ""),
        ("msg_signature", "签名"),  # non-ASCII must not reach compare_digest as str (TypeError there)
        ("timestamp", "1409659590"),
        ("nonce", "263014781"),
        ("echostr", VECTOR["echostr"].replace("P9n", "P9m")),
    ],
)
def test_any_changed_field_breaks_the_signature(field: str, value: str) -> None:
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    with pytest.raises(SignatureError) as e:
        crypto.verify_url(**{**VECTOR, field: value})
    assert (e.value.code, e.value.http_status) == (-40001, 403)


def test_timestamp_window_when_enabled() -> None:
    """Messages outside the window are replays; the URL check (which changes nothing) is answered regardless."""
    now = 1409659589 + 100
    message = {"msg_signature": VECTOR["msg_signature"], "timestamp": VECTOR["timestamp"], "nonce": VECTOR["nonce"],
               "encrypt": VECTOR["echostr"]}
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID, max_skew_s=300, clock=lambda: now)
    assert crypto.decrypt(**message) == b"1616140317555161061"
    late = WeComCrypto(TOKEN, AES_KEY, CORP_ID, max_skew_s=60, clock=lambda: now)
    with pytest.raises(StaleTimestamp) as e:
        late.decrypt(**message)
    assert (e.value.code, e.value.http_status) == (-40001, 403)
    assert late.verify_url(**VECTOR) == "1616140317555161061"


@pytest.mark.parametrize("key", ["short", AES_KEY + "A", AES_KEY[:-1] + "!"])
def test_bad_aes_key_is_a_config_error(key: str) -> None:
    with pytest.raises(ConfigError):
        WeComCrypto(TOKEN, key, CORP_ID)


def test_repr_hides_the_key() -> None:
    assert AES_KEY not in repr(WeComCrypto(TOKEN, AES_KEY, CORP_ID))
    assert "hidden" in repr(WeComCrypto(TOKEN, AES_KEY, CORP_ID))


XML = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Content><![CDATA[你好 ]]></Content></xml>"


@BACKENDS
def test_wechatpy_encrypts_we_decrypt(cipher_cls: type) -> None:
    theirs = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    envelope = xmltodict.parse(theirs.encrypt_message(XML, "nonce42", "1700000000"))["xml"]
    ours = WeComCrypto(TOKEN, AES_KEY, CORP_ID, cipher_cls=cipher_cls)
    plain = ours.decrypt(envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"])
    assert plain.decode() == XML


@BACKENDS
def test_we_encrypt_wechatpy_decrypts(cipher_cls: type) -> None:
    ours = WeComCrypto(TOKEN, AES_KEY, CORP_ID, cipher_cls=cipher_cls)
    fields = ours.encrypt(XML.encode(), "nonce42", 1700000000)
    theirs = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    body = reply_xml(fields)  # the passive-reply form, which wechatpy parses itself
    assert theirs.decrypt_message(body, fields["MsgSignature"], "1700000000", "nonce42") == XML


@pytest.mark.parametrize("size", [0, 1, 11, 12, 31, 32, 33, 1000])
def test_round_trip_at_block_boundaries(size: int) -> None:
    # 16 random + 4 length + 18 corp id = 38 bytes of frame around the message: sizes hit every padding case.
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    msg = os.urandom(size)
    fields = crypto.encrypt(msg, "n")
    assert crypto.decrypt(fields["MsgSignature"], fields["TimeStamp"], "n", fields["Encrypt"]) == msg


def _frame_cases() -> list[tuple[str, str, type[CallbackRejected], int]]:
    good = framed(b"<xml/>")
    unpadded = good[: -good[-1]]
    return [
        ("not base64", "@@@not*base64@@@", DecryptError, -40010),
        ("non-ascii", "密文", DecryptError, -40010),
        ("empty", "", DecryptError, -40008),
        ("16-byte block", base64.b64encode(os.urandom(16)).decode(), DecryptError, -40008),
        ("48 bytes", base64.b64encode(os.urandom(48)).decode(), DecryptError, -40008),
        ("pad byte 0", raw_encrypt(unpadded + b"\0" * (32 - len(unpadded) % 32)), DecryptError, -40008),
        ("pad byte 33", raw_encrypt(unpadded + bytes([33]) * (32 - len(unpadded) % 32)), DecryptError, -40008),
        ("pad bytes differ", raw_encrypt(good[:-2] + bytes([1, good[-1]])), DecryptError, -40008),
        ("length past end", raw_encrypt(framed(b"<xml/>", length=10_000)), DecryptError, -40008),
        ("length field cut", raw_encrypt(os.urandom(16) + b"\x00\x00" + bytes([14]) * 14), DecryptError, -40008),
        ("other corp", raw_encrypt(framed(b"<xml/>", b"wwother")), ReceiveIdError, -40005),
        ("no corp id", raw_encrypt(framed(b"<xml/>", b"")), ReceiveIdError, -40005),
        ("short length", raw_encrypt(framed(b"<xml/>", length=2)), ReceiveIdError, -40005),
    ]


@pytest.mark.parametrize("name, encrypt, error, code", _frame_cases(), ids=[c[0] for c in _frame_cases()])
def test_bad_frames_are_typed_errors(name: str, encrypt: str, error: type[CallbackRejected], code: int) -> None:
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    with pytest.raises(error) as e:
        signed_decrypt(crypto, encrypt)
    assert e.value.code == code


def test_a_well_formed_hand_built_frame_decrypts() -> None:
    # the counterpart of the table above: the helpers build valid frames when nothing is tampered with
    assert signed_decrypt(WeComCrypto(TOKEN, AES_KEY, CORP_ID), raw_encrypt(framed(b"<xml/>"))) == b"<xml/>"


def _decrypt_or_typed_error(crypto: WeComCrypto, encrypt: str) -> None:
    try:
        signed_decrypt(crypto, encrypt)
    except CallbackRejected:
        pass


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(min_size=1, max_size=40).map(lambda b: b * (64 // len(b) + 1)), st.integers(1, 6))
def test_any_decrypted_bytes_give_a_typed_error_or_a_message(seed: bytes, blocks: int) -> None:
    # Arbitrary plaintext, as a wrong key or a forged body would decrypt to.
    frame = (seed * blocks)[: 32 * blocks]
    _decrypt_or_typed_error(WeComCrypto(TOKEN, AES_KEY, CORP_ID), raw_encrypt(frame))


@FUZZ
@given(st.text(max_size=200))
def test_any_encrypt_string_gives_a_typed_error(text: str) -> None:
    _decrypt_or_typed_error(WeComCrypto(TOKEN, AES_KEY, CORP_ID), text)


ANY_TEXT = st.text(alphabet=st.characters(codec=None, categories=["Cs", "L", "N", "P", "S", "Z", "Cc"]), max_size=60)


@FUZZ
@given(ANY_TEXT, ANY_TEXT, ANY_TEXT, ANY_TEXT)
def test_any_query_values_give_a_typed_error(sig: str, timestamp: str, nonce: str, echostr: str) -> None:
    # Lone surrogates included: that is what invalid %-escapes in a query string can decode to.
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID, max_skew_s=300)
    with pytest.raises(CallbackRejected):
        crypto.verify_url(sig, timestamp, nonce, echostr)


@FUZZ
@given(st.binary(max_size=300), st.data())
def test_truncated_and_extended_ciphertexts_give_typed_errors(msg: bytes, data: st.DataObject) -> None:
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    raw = base64.b64decode(crypto.encrypt(msg, "n")["Encrypt"])
    cut = data.draw(st.integers(0, len(raw) - 1))
    extra = data.draw(st.binary(min_size=1, max_size=64))
    for mutated in (raw[:cut], raw + extra, raw[:cut] + extra):
        _decrypt_or_typed_error(crypto, base64.b64encode(mutated).decode())


@FUZZ
@given(st.binary(min_size=32, max_size=32), st.binary(max_size=200))
def test_a_wrong_key_never_yields_a_message(key: bytes, msg: bytes) -> None:
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    with pytest.raises(CallbackRejected):
        signed_decrypt(crypto, raw_encrypt(framed(msg), key=key if key != KEY else bytes(32)))


@FUZZ
@given(st.text(min_size=1, max_size=40).filter(lambda s: s != CORP_ID), st.binary(max_size=100))
def test_a_wrong_receive_id_is_always_refused(receive_id: str, msg: bytes) -> None:
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    with pytest.raises(ReceiveIdError):
        signed_decrypt(crypto, raw_encrypt(framed(msg, receive_id.encode())))
