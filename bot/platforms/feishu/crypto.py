"""Feishu's callback crypto: the Encrypt Key's AES-256-CBC envelope and the `X-Lark-Signature` header.

- Envelope: `{"encrypt": base64(iv(16) | AES-256-CBC(key=SHA-256(encrypt_key), iv, PKCS#7/16(json)))}`.
- Signature: `X-Lark-Signature = sha256_hex(timestamp + nonce + encrypt_key + raw body)` over the *raw* body bytes,
  with `X-Lark-Request-Timestamp` (epoch seconds) and `X-Lark-Request-Nonce`. Feishu signs only when the app has an
  Encrypt Key; without one the body's verification token is the only proof (`events.check_token`).

lark-oapi (`core/utils/decryptor.py`, `event/dispatcher_handler.py`) implements the same two; tests/feishu checks
ours against it. Ours differs where it must be stricter: constant-time compares, a timestamp window, bounded input,
and every failure as `CryptoError`/`SignatureError`, never a stray `ValueError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping

from Crypto.Cipher import AES

from bot.platforms.feishu.errors import CryptoError, SignatureError, StaleTimestamp

TIMESTAMP_HEADER = "X-Lark-Request-Timestamp"
NONCE_HEADER = "X-Lark-Request-Nonce"
SIGNATURE_HEADER = "X-Lark-Signature"
WINDOW_S = 3600.0  # as the other platforms' callbacks: within an hour of our clock
MAX_ENCRYPT_CHARS = 1 << 20  # an event is a few KiB; refuse to base64-decode megabytes
_BLOCK = AES.block_size
_MAX_TIMESTAMP_DIGITS = 12


def _key(encrypt_key: str) -> bytes:
    return hashlib.sha256(encrypt_key.encode()).digest()


def encrypt(encrypt_key: str, plaintext: str, *, iv: bytes | None = None) -> str:
    """What Feishu puts in `encrypt` (the simulator and tests seal with it)."""
    iv = secrets.token_bytes(_BLOCK) if iv is None else iv
    if len(iv) != _BLOCK:
        raise ValueError("iv must be 16 bytes")
    data = plaintext.encode()
    k = _BLOCK - len(data) % _BLOCK
    cipher = AES.new(_key(encrypt_key), AES.MODE_CBC, iv=iv)
    return base64.b64encode(iv + cipher.encrypt(data + bytes([k]) * k)).decode()


def decrypt(encrypt_key: str, value: str) -> str:
    """The JSON text inside an `encrypt` value; `CryptoError` on anything malformed (a wrong key shows as bad
    padding or non-UTF-8 nearly always, and as non-JSON after that, which the caller refuses)."""
    if len(value) > MAX_ENCRYPT_CHARS:
        raise CryptoError("encrypt too large")
    try:
        data = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("encrypt is not base64") from None
    if len(data) < 2 * _BLOCK or len(data) % _BLOCK:
        raise CryptoError(f"ciphertext of {len(data)} bytes is not an IV and whole blocks")
    plain = AES.new(_key(encrypt_key), AES.MODE_CBC, iv=data[:_BLOCK]).decrypt(data[_BLOCK:])
    k = plain[-1]
    if not 1 <= k <= _BLOCK or plain[-k:] != bytes([k]) * k:
        raise CryptoError("bad padding (wrong Encrypt Key?)")
    try:
        return plain[:-k].decode()
    except UnicodeDecodeError:
        raise CryptoError("plaintext is not UTF-8 (wrong Encrypt Key?)") from None


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def _timestamp(text: str | None) -> int:
    if text is None:
        raise SignatureError(f"{TIMESTAMP_HEADER} missing")
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_TIMESTAMP_DIGITS:
        raise SignatureError(f"{TIMESTAMP_HEADER} is not an epoch in seconds")
    return int(text)


def verify_signature(headers: Mapping[str, str], encrypt_key: str, body: bytes, *, now_s: float,
                     window_s: float = WINDOW_S) -> None:
    """Check a push's signature headers over `body`, then its timestamp: `StaleTimestamp` only ever means "genuine
    but old", a forgery always reads as `SignatureError`."""
    ts_text = headers.get(TIMESTAMP_HEADER)
    ts = _timestamp(ts_text)
    nonce = headers.get(NONCE_HEADER)
    given = headers.get(SIGNATURE_HEADER)
    if nonce is None or not given:
        raise SignatureError(f"{NONCE_HEADER} and {SIGNATURE_HEADER} are required")
    expected = signature(str(ts_text).strip(), nonce, encrypt_key, body)
    if not hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8", "replace")):
        raise SignatureError("signature does not match")
    if abs(now_s - ts) > window_s:
        raise StaleTimestamp(f"timestamp is {abs(now_s - ts):.0f} s away from now")


def signed_headers(encrypt_key: str, body: bytes, *, timestamp: int, nonce: str | None = None) -> dict[str, str]:
    """The headers Feishu sends with a push (the simulator signs with them)."""
    nonce = nonce or secrets.token_hex(8)
    ts = str(timestamp)
    return {TIMESTAMP_HEADER: ts, NONCE_HEADER: nonce, SIGNATURE_HEADER: signature(ts, nonce, encrypt_key, body)}
