"""Event subscription crypto (事件订阅 HTTP 推送, the scheme of DingTalk's DingCallbackCrypto).

The scheme this family of chat platforms shares: AESKey = b64decode(aes_key + "="), AES-256-CBC with
IV = AESKey[:16], PKCS#7 padding to a multiple of 32 bytes, plaintext = 16 random bytes | 4-byte big-endian
length | JSON | owner key.
Signature = sha1("".join(sorted([token, timestamp, nonce, encrypt]))) in lowercase hex.

The owner key is the AppKey for an enterprise app's event subscription; the legacy callback registration used the
CorpId, so both may be accepted. Every check here is strict (padding bytes, lengths, owner key): a wrong key or a
tampered body must fail as `CryptoError`, never as a stray `ValueError` or a garbled event.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from Crypto.Cipher import AES

from bot.errors import ConfigError, SignatureError
from bot.platforms.dingtalk.config import DingTalkCredentials
from bot.platforms.dingtalk.errors import CryptoError

_BLOCK = 32  # PKCS#7 block of this scheme: 32, not AES's 16
_RANDOM = 16
_LENGTH = 4
_NONCE_CHARS = string.ascii_letters + string.digits
MAX_ENCRYPT_CHARS = 1 << 20  # an event body is a few KiB; refuse to base64-decode megabytes


@dataclass(frozen=True, slots=True)
class CallbackQuery:
    """The signature parameters of an event push, whichever spelling DingTalk used."""

    signature: str
    timestamp: str
    nonce: str


def read_query(query: Mapping[str, str]) -> CallbackQuery:
    """Accept `signature` or `msg_signature`, `timestamp` or `timeStamp` (both appear in DingTalk's pushes)."""
    signature = query.get("signature") or query.get("msg_signature")
    timestamp = query.get("timestamp") or query.get("timeStamp")
    nonce = query.get("nonce")
    if not signature or not timestamp or nonce is None:
        raise SignatureError("signature, timestamp and nonce query parameters are required")
    return CallbackQuery(signature, timestamp, nonce)


def sha1_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode("utf-8", "replace")).hexdigest()


def _pad(data: bytes) -> bytes:
    k = _BLOCK - len(data) % _BLOCK
    return data + bytes([k]) * k


def _unpad(data: bytes) -> bytes:
    k = data[-1]
    if not 1 <= k <= _BLOCK or data[-k:] != bytes([k]) * k:
        raise CryptoError("bad padding (wrong aes_key?)")
    return data[:-k]


def _b64decode(encrypt: str) -> bytes:
    # DingTalk's own Python sample wraps its base64 at 76 columns: drop whitespace, then decode strictly.
    compact = "".join(encrypt.split())
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("encrypt is not base64") from None


class DingTalkCrypto:
    """Decrypt event pushes and build the encrypted `success` answer for one app."""

    def __init__(self, token: str, aes_key: str, owner_keys: Iterable[str]) -> None:
        if len(aes_key) != 43:
            raise ValueError("aes_key must be 43 characters")
        self._key = base64.b64decode(aes_key + "=")
        if len(self._key) != 32:
            raise ValueError("aes_key must decode to 32 bytes")
        self._token = token
        self._owners = tuple(k for k in owner_keys if k)
        if not self._owners:
            raise ValueError("at least one owner key (AppKey or CorpId) is required")

    def __repr__(self) -> str:
        return f"DingTalkCrypto(owners={self._owners!r})"

    @classmethod
    def from_credentials(cls, creds: DingTalkCredentials) -> DingTalkCrypto:
        """AppKey first (what new-style apps use and what replies are sealed with); CorpId accepted too."""
        if creds.event_token is None or creds.event_aes_key is None:
            raise ConfigError("this DingTalk app has no event subscription token / aes_key")
        return cls(creds.event_token, creds.event_aes_key, [creds.app_key, creds.corp_id or ""])

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        return sha1_signature(self._token, timestamp, nonce, encrypt)

    def encrypt(self, plaintext: str, *, random_prefix: bytes | None = None) -> str:
        body = plaintext.encode()
        prefix = secrets.token_bytes(_RANDOM) if random_prefix is None else random_prefix
        if len(prefix) != _RANDOM:
            raise ValueError("random_prefix must be 16 bytes")
        raw = prefix + struct.pack(">I", len(body)) + body + self._owners[0].encode()
        cipher = AES.new(self._key, AES.MODE_CBC, iv=self._key[:16])
        return base64.b64encode(cipher.encrypt(_pad(raw))).decode()

    def decrypt(self, encrypt: str) -> tuple[str, str]:
        """(plaintext, owner key) of an `encrypt` value; `CryptoError` on anything malformed."""
        if len(encrypt) > MAX_ENCRYPT_CHARS:
            raise CryptoError("encrypt too large")
        data = _b64decode(encrypt)
        if not data or len(data) % _BLOCK:
            raise CryptoError(f"ciphertext length {len(data)} is not a multiple of {_BLOCK}")
        plain = _unpad(AES.new(self._key, AES.MODE_CBC, iv=self._key[:16]).decrypt(data))
        if len(plain) < _RANDOM + _LENGTH:
            raise CryptoError("plaintext shorter than its header")
        (length,) = struct.unpack(">I", plain[_RANDOM : _RANDOM + _LENGTH])
        end = _RANDOM + _LENGTH + length
        if end > len(plain):
            raise CryptoError("declared length runs past the plaintext")
        try:
            msg = plain[_RANDOM + _LENGTH : end].decode()
            owner = plain[end:].decode()
        except UnicodeDecodeError:
            raise CryptoError("plaintext is not UTF-8") from None
        if owner not in self._owners:
            raise CryptoError("owner key mismatch (event meant for another app?)")
        return msg, owner

    def verify_and_decrypt(self, query: Mapping[str, str], encrypt: str) -> str:
        """Check the push's signature over `encrypt`, then decrypt it to the event JSON text."""
        q = read_query(query)
        expected = self.signature(q.timestamp, q.nonce, encrypt).encode()
        if not hmac.compare_digest(expected, q.signature.lower().encode("utf-8", "replace")):
            raise SignatureError("event signature does not match")
        return self.decrypt(encrypt)[0]

    def encrypted_reply(self, content: str = "success", *, timestamp: str, nonce: str | None = None) -> dict[str, str]:
        """The JSON DingTalk expects back within 1500 ms (the sample's getEncryptedMap("success")); `timestamp` in
        epoch milliseconds from the caller's clock."""
        ts = timestamp
        nonce = nonce or "".join(secrets.choice(_NONCE_CHARS) for _ in range(16))
        encrypt = self.encrypt(content)
        return {"msg_signature": self.signature(ts, nonce, encrypt), "timeStamp": ts, "nonce": nonce,
                "encrypt": encrypt}
