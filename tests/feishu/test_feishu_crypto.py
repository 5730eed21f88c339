"""Our Feishu callback crypto against the official SDK's (lark-oapi: `AESCipher`, the event dispatcher's signature
check) and against the simulator's sealing, plus what ours refuses that theirs lets through."""

from __future__ import annotations

import base64
import json

import pytest
from lark_oapi.core.model import RawRequest
from lark_oapi.core.utils.decryptor import AESCipher
from lark_oapi.event.dispatcher_handler import EventDispatcherHandler

from bot.platforms.feishu import crypto
from bot.platforms.feishu.errors import CryptoError, SignatureError, StaleTimestamp
from tests.sim.feishu import seal, sign

KEY = "test-encrypt-key-2026"
NOW = 1_767_225_600  # 2026-01-01 00:00:00 UTC
EVENT = json.dumps({"schema": "2.0", "header": {"event_id": "e1", "token": "tok"}, "event": {"text": "你好 👋"}},
                   ensure_ascii=False)


@pytest.mark.parametrize("plaintext", ["", "a", "x" * 15, "x" * 16, "x" * 17, EVENT, "报价" * 500])
def test_what_we_seal_the_sdk_opens_and_what_the_simulator_seals_we_open(plaintext: str) -> None:
    assert AESCipher(KEY).decrypt_str(crypto.encrypt(KEY, plaintext)) == plaintext
    assert crypto.decrypt(KEY, seal(KEY, plaintext)) == plaintext


def test_a_known_answer_vector() -> None:
    # A fixed IV makes the ciphertext a constant: the scheme (key = SHA-256 of the Encrypt Key, IV in front) cannot
    # drift without this failing; the SDK reads the same constant.
    sealed = crypto.encrypt("kudryavka", '{"challenge":"abc"}', iv=bytes(range(16)))
    assert sealed == crypto.encrypt("kudryavka", '{"challenge":"abc"}', iv=bytes(range(16)))
    assert base64.b64decode(sealed)[:16] == bytes(range(16))
    assert AESCipher("kudryavka").decrypt_str(sealed) == '{"challenge":"abc"}'


def _sdk_signature_ok(headers: dict[str, str], body: bytes, key: str) -> bool:
    request = RawRequest()
    request.headers = headers
    request.body = body
    try:
        EventDispatcherHandler._verify_sign(None, request, key)  # type: ignore[arg-type]
    except Exception:
        return False
    return True


def test_our_signature_is_the_sdks() -> None:
    body = json.dumps({"encrypt": crypto.encrypt(KEY, EVENT)}).encode()
    headers = crypto.signed_headers(KEY, body, timestamp=NOW, nonce="n0nce")
    assert _sdk_signature_ok(headers, body, KEY)
    assert headers["X-Lark-Signature"] == sign(str(NOW), "n0nce", KEY, body)
    crypto.verify_signature(headers, KEY, body, now_s=NOW)


@pytest.mark.parametrize(("change", "error"), [
    ({"X-Lark-Signature": "0" * 64}, SignatureError),
    ({"X-Lark-Request-Nonce": "other"}, SignatureError),
    ({"X-Lark-Request-Timestamp": str(NOW + 1)}, SignatureError),
    ({"X-Lark-Request-Timestamp": "not-a-number"}, SignatureError),
    ({"X-Lark-Signature": ""}, SignatureError),
])
def test_a_tampered_header_is_a_bad_signature(change: dict[str, str], error: type[Exception]) -> None:
    body = b'{"encrypt":"x"}'
    headers = crypto.signed_headers(KEY, body, timestamp=NOW, nonce="n0nce") | change
    with pytest.raises(error):
        crypto.verify_signature(headers, KEY, body, now_s=NOW)


def test_a_tampered_body_or_another_key_is_a_bad_signature() -> None:
    body = b'{"encrypt":"x"}'
    headers = crypto.signed_headers(KEY, body, timestamp=NOW)
    with pytest.raises(SignatureError):
        crypto.verify_signature(headers, KEY, body + b" ", now_s=NOW)
    with pytest.raises(SignatureError):
        crypto.verify_signature(headers, "another-key", body, now_s=NOW)


@pytest.mark.parametrize("skew_s", [-3601, 3601, 86400 * 30])
def test_a_genuine_signature_outside_the_window_is_stale(skew_s: int) -> None:
    body = b"{}"
    headers = crypto.signed_headers(KEY, body, timestamp=NOW + skew_s)
    # The SDK has no window: it would take a month-old push.
    assert _sdk_signature_ok(headers, body, KEY)
    with pytest.raises(StaleTimestamp):
        crypto.verify_signature(headers, KEY, body, now_s=NOW)
    crypto.verify_signature(headers, KEY, body, now_s=NOW + skew_s)


@pytest.mark.parametrize("value", [
    "not base64 !!",
    base64.b64encode(b"short").decode(),
    base64.b64encode(bytes(16)).decode(),  # an IV and no block
    base64.b64encode(bytes(40)).decode(),  # not whole blocks
    "A" * (crypto.MAX_ENCRYPT_CHARS + 4),
])
def test_malformed_ciphertext_is_a_crypto_error(value: str) -> None:
    with pytest.raises(CryptoError):
        crypto.decrypt(KEY, value)


def test_another_key_is_a_crypto_error_not_garbage() -> None:
    sealed = crypto.encrypt(KEY, EVENT)
    failures = 0
    for i in range(50):
        try:
            text = crypto.decrypt(f"wrong-{i}", sealed)
        except CryptoError:
            failures += 1
        else:  # padding may pass by chance (about 1 in 256): the text is then never the event
            assert text != EVENT
    assert failures >= 40
