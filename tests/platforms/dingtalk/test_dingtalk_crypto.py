"""Event subscription crypto: the official sample vector, wechatpy as an independent implementation, strictness."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from Crypto.Cipher import AES
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy.crypto import PrpCrypto, _get_signature

from bot.errors import SignatureError
from bot.platforms.dingtalk.crypto import DingTalkCrypto, read_query, sha1_signature
from bot.platforms.dingtalk.errors import CryptoError

# From open-dingtalk/DingTalk-Callback-Crypto, DingCallbackCrypto3.py (its own test at the bottom of the file).
TOKEN = "mryue"
AES_KEY = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7"
OWNER = "ding6ccabc44d2c8d38b"
VECTOR = {"signature": "03044561471240d4a14bb09372dfcfd4fd0e40cb", "timestamp": "1608001896814", "nonce": "WL4PK6yA"}
ENCRYPT = ("0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxxOK+HZeKju4yhEL"
           "OFchzNukR+t8SB/qk4ROMu3")
KEY = base64.b64decode(AES_KEY + "=")


@pytest.fixture
def crypto() -> DingTalkCrypto:
    return DingTalkCrypto(TOKEN, AES_KEY, [OWNER])


def test_official_vector_signature(crypto):
    assert crypto.signature(VECTOR["timestamp"], VECTOR["nonce"], ENCRYPT) == VECTOR["signature"]


def test_official_vector_decrypts(crypto):
    assert crypto.verify_and_decrypt(VECTOR, ENCRYPT) == '{"EventType":"check_url"}'


def test_alternative_query_names_are_accepted(crypto):
    query = {"msg_signature": VECTOR["signature"], "timeStamp": VECTOR["timestamp"], "nonce": VECTOR["nonce"]}
    assert json.loads(crypto.verify_and_decrypt(query, ENCRYPT)) == {"EventType": "check_url"}


@pytest.mark.parametrize("missing", ["signature", "timestamp", "nonce"])
def test_missing_query_parameters_are_signature_errors(missing):
    with pytest.raises(SignatureError):
        read_query({k: v for k, v in VECTOR.items() if k != missing})


def test_wechatpy_decrypts_what_we_encrypt(crypto):
    event = json.dumps({"EventType": "user_add_org", "UserId": ["u1"], "TimeStamp": "1700000000000"})
    assert PrpCrypto(KEY).decrypt(crypto.encrypt(event), OWNER) == event


def test_we_decrypt_what_wechatpy_encrypts(crypto):
    event = json.dumps({"EventType": "bpms_instance_change", "title": "报销"}, ensure_ascii=False)
    encrypt = PrpCrypto(KEY).encrypt(event, OWNER).decode()
    query = {"signature": _get_signature(TOKEN, "1700000000000", "nonce123", encrypt),
             "timestamp": "1700000000000", "nonce": "nonce123"}
    assert crypto.verify_and_decrypt(query, encrypt) == event


def test_success_reply_verifies_with_wechatpy(crypto):
    reply = crypto.encrypted_reply(timestamp="1700000000000")
    assert set(reply) == {"msg_signature", "timeStamp", "nonce", "encrypt"}
    assert _get_signature(TOKEN, reply["timeStamp"], reply["nonce"], reply["encrypt"]) == reply["msg_signature"]
    assert PrpCrypto(KEY).decrypt(reply["encrypt"], OWNER) == "success"


def test_corp_id_is_accepted_as_owner_when_configured():
    crypto = DingTalkCrypto(TOKEN, AES_KEY, ["dingappkey", OWNER])
    assert crypto.verify_and_decrypt(VECTOR, ENCRYPT) == '{"EventType":"check_url"}'


def test_other_owner_key_is_refused():
    with pytest.raises(CryptoError):
        DingTalkCrypto(TOKEN, AES_KEY, ["dingsomeoneelse"]).verify_and_decrypt(VECTOR, ENCRYPT)


def test_wrong_token_is_a_signature_error():
    with pytest.raises(SignatureError):
        DingTalkCrypto("other", AES_KEY, [OWNER]).verify_and_decrypt(VECTOR, ENCRYPT)


def test_wrong_aes_key_is_a_crypto_error():
    with pytest.raises(CryptoError):
        DingTalkCrypto(TOKEN, "A" * 43, [OWNER]).decrypt(ENCRYPT)


def _seal(plain: bytes) -> str:
    return base64.b64encode(AES.new(KEY, AES.MODE_CBC, iv=KEY[:16]).encrypt(plain)).decode()


def _frame(msg: bytes, owner: bytes = OWNER.encode(), declared: int | None = None) -> bytes:
    return b"R" * 16 + struct.pack(">I", len(msg) if declared is None else declared) + msg + owner


def _pad(data: bytes, k: int | None = None) -> bytes:
    k = k or 32 - len(data) % 32
    return data + bytes([k]) * k


@pytest.mark.parametrize(
    "encrypt",
    [
        "",
        "not base64 !!",
        base64.b64encode(b"x" * 31).decode(),  # not a whole block
        _seal(_frame(b"{}")[:32]),  # last byte 0x??: not a valid pad
        _seal(_pad(_frame(b"{}"))[:-1] + b"\x00"),  # pad byte 0
        _seal(_pad(_frame(b"{}"))[:-2] + b"\x02\x03"),  # inconsistent pad bytes
        _seal(_pad(b"R" * 16 + b"\x00\x00")),  # shorter than its header
        _seal(_pad(_frame(b"{}", declared=10_000))),  # length past the end
        _seal(_pad(_frame(b"\xff\xfe{}"))),  # not UTF-8
        "A" * (1 << 20 + 1),
    ],
)
def test_malformed_ciphertexts_are_crypto_errors(crypto, encrypt):
    with pytest.raises(CryptoError):
        crypto.decrypt(encrypt)


@pytest.mark.parametrize("size", [0, 1, 11, 12, 13, 31, 32, 33, 100])
def test_every_padding_length_round_trips(crypto, size):
    text = "事" * size
    assert crypto.decrypt(crypto.encrypt(text)) == (text, OWNER)


def test_whitespace_wrapped_base64_from_the_python_sample_decrypts(crypto):
    sealed = crypto.encrypt(json.dumps({"EventType": "x" * 200}))
    wrapped = "\n".join(sealed[i : i + 76] for i in range(0, len(sealed), 76)) + "\n"
    assert json.loads(crypto.decrypt(wrapped)[0]) == {"EventType": "x" * 200}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_text_round_trips(text):
    crypto = DingTalkCrypto(TOKEN, AES_KEY, [OWNER])
    assert crypto.decrypt(crypto.encrypt(text))[0] == text


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=256).map(lambda b: base64.b64encode(b).decode()) | st.text(max_size=100))
def test_garbage_fails_only_with_typed_errors(encrypt):
    crypto = DingTalkCrypto(TOKEN, AES_KEY, [OWNER])
    try:
        crypto.decrypt(encrypt)
    except CryptoError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=32, max_size=160).filter(lambda b: len(b) % 32 == 0))
def test_random_blocks_under_the_right_key_fail_only_with_typed_errors(block):
    crypto = DingTalkCrypto(TOKEN, AES_KEY, [OWNER])
    try:
        crypto.decrypt(_seal(block))
    except CryptoError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["signature", "msg_signature", "timestamp", "timeStamp", "nonce", "x"]),
                       st.text(max_size=20)), st.text(max_size=50))
def test_any_query_fails_only_with_typed_errors(query, encrypt):
    crypto = DingTalkCrypto(TOKEN, AES_KEY, [OWNER])
    try:
        crypto.verify_and_decrypt(query, encrypt)
    except (SignatureError, CryptoError):
        pass


def test_signature_is_order_independent_sha1_of_the_four_strings():
    assert sha1_signature("b", "a", "d", "c") == sha1_signature("a", "b", "c", "d")
