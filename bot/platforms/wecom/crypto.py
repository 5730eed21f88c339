"""WeCom callback crypto (加解密方案): SHA1 signature over four sorted strings, AES-256-CBC with PKCS#7 to 32 bytes.

Plaintext frame: random(16) | len(msg) as 4 bytes big-endian | msg | receive id (the CorpID for a self-built app).

wechatpy does the AES (with whichever backend it found), but its `_decrypt` trusts the last byte as the pad length,
reads the length field unchecked and compares the signature with `!=`. A forged or garbled body there surfaces as
`ValueError`, `struct.error` or `UnicodeDecodeError`, or worse, as a message cut at a wrong length. So the
signature is checked here in constant time, and every field of the frame is checked before it is trusted; each
failure is one of the typed errors of `errors.py`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import time
from collections.abc import Callable
from typing import Any

from wechatpy.enterprise.crypto import PrpCrypto

from bot.errors import ConfigError
from bot.platforms.wecom.errors import DecryptError, ReceiveIdError, SignatureError, StaleTimestamp

_BLOCK = 32  # WeCom pads to 32 bytes although AES blocks are 16
_RANDOM = 16
_LEN = 4


def _wechatpy_cipher_cls() -> type:
    return type(PrpCrypto(b"\0" * 32).cipher)


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """msg_signature = sha1 of the four strings sorted and joined; lowercase hex."""
    # surrogatepass: query strings with invalid %-escapes decode to lone surrogates; they must fail the check, not crash
    joined = "".join(sorted((token, timestamp, nonce, encrypt)))
    return hashlib.sha1(joined.encode("utf-8", "surrogatepass")).hexdigest()


def pkcs7_pad(data: bytes) -> bytes:
    k = _BLOCK - len(data) % _BLOCK  # a full block of 32 x 0x20 when already aligned
    return data + bytes([k]) * k


class WeComCrypto:
    """Crypto for one WeCom app; build it once per app and keep it (the key is decoded here, once).

    `max_skew_s`, when set, refuses a timestamp further than that from `clock()` as a replay (`StaleTimestamp`,
    after the signature check); off by default because the official test vector carries an old timestamp. The
    callback route sets it (`handlers.wecom.TIMESTAMP_WINDOW_S`).
    """

    def __init__(
        self,
        token: str,
        encoding_aes_key: str,
        receive_id: str,
        *,
        cipher_cls: type | None = None,
        max_skew_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(encoding_aes_key) != 43 or len(key) != 32:
            raise ConfigError("EncodingAESKey must be 43 base64 characters decoding to 32 bytes")
        self._token = token
        self._key = key
        self._receive_id = receive_id.encode()
        self._cipher_cls = cipher_cls or _wechatpy_cipher_cls()
        # cryptography's Cipher makes a fresh context per call; a pycryptodome CBC object carries the chaining
        # state of the last call, so with that backend a cipher must never serve two messages.
        self._shared = self._cipher_cls(key) if self._cipher_cls.__module__.endswith(".cryptography") else None
        self._max_skew_s = max_skew_s
        self._clock = clock

    def __repr__(self) -> str:
        return f"WeComCrypto(receive_id={self._receive_id.decode()!r}, key=<hidden>)"

    def _cipher(self) -> Any:
        return self._shared or self._cipher_cls(self._key)

    def check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str, *,
                        fresh: bool = True) -> None:
        expected = signature(self._token, str(timestamp), str(nonce), encrypt)
        given = str(msg_signature).lower().encode("utf-8", "replace")
        if not hmac.compare_digest(expected.encode(), given):
            raise SignatureError("msg_signature does not match")
        if fresh and self._max_skew_s is not None:
            try:
                skew_s = abs(self._clock() - int(timestamp))
            except ValueError:
                raise SignatureError("timestamp is not an integer") from None
            if skew_s > self._max_skew_s:
                raise StaleTimestamp(f"timestamp {skew_s:.0f} s from now, outside the {self._max_skew_s:.0f} s window")

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """GET verification: the plaintext echo to answer, alone, as text/plain."""
        # echostr is base64 in a query string: a '+' sent unescaped reaches us as a space after form decoding.
        # Base64 has no spaces, so turning them back is safe and the signature still decides. No timestamp window
        # here: a replayed URL check changes nothing and only echoes what its sender encrypted.
        echostr = echostr.replace(" ", "+")
        self.check_signature(msg_signature, timestamp, nonce, echostr, fresh=False)
        plain = self.decrypt_unsigned(echostr)
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptError("echostr plaintext is not UTF-8", -40008) from None

    def decrypt(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> bytes:
        """Verify, then decrypt the `Encrypt` value of a callback; returns the inner XML bytes."""
        self.check_signature(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt_unsigned(encrypt)

    def decrypt_unsigned(self, encrypt: str) -> bytes:
        """Decrypt without a signature check: only for material whose signature was checked already."""
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptError("Encrypt is not base64", -40010) from None
        if not raw or len(raw) % _BLOCK:
            raise DecryptError(f"ciphertext length {len(raw)} is not a multiple of {_BLOCK}", -40008)
        try:
            plain = self._cipher().decrypt(raw)
        except ValueError:
            raise DecryptError("AES decryption failed", -40007) from None
        return self._unframe(plain)

    def _unframe(self, plain: bytes) -> bytes:
        k = plain[-1]
        if not 1 <= k <= _BLOCK or plain[-k:] != bytes([k]) * k:
            raise DecryptError("bad PKCS#7 padding (wrong EncodingAESKey?)", -40008)
        body = plain[_RANDOM:-k]
        if len(body) < _LEN:
            raise DecryptError("frame too short for its length field", -40008)
        n = int.from_bytes(body[:_LEN], "big")
        if n > len(body) - _LEN:
            raise DecryptError("length field points past the frame", -40008)
        if body[_LEN + n :] != self._receive_id:
            raise ReceiveIdError("receive id is not this app's CorpID")
        return body[_LEN : _LEN + n]

    def encrypt(self, xml: bytes, nonce: str, timestamp: str | int | None = None) -> dict[str, str]:
        """Encrypt and sign `xml`: the four fields of an encrypted passive reply (and of a simulated callback)."""
        ts = str(int(self._clock()) if timestamp is None else timestamp)
        frame = os.urandom(_RANDOM) + len(xml).to_bytes(_LEN, "big") + xml + self._receive_id
        enc = base64.b64encode(self._cipher().encrypt(pkcs7_pad(frame))).decode()
        return {"Encrypt": enc, "MsgSignature": signature(self._token, ts, nonce, enc), "TimeStamp": ts, "Nonce": nonce}


def reply_xml(fields: dict[str, str]) -> bytes:
    """The body of an encrypted passive reply, from `WeComCrypto.encrypt`'s fields (all base64/hex/digits)."""
    return (
        f"<xml><Encrypt><![CDATA[{fields['Encrypt']}]]></Encrypt>"
        f"<MsgSignature><![CDATA[{fields['MsgSignature']}]]></MsgSignature>"
        f"<TimeStamp>{fields['TimeStamp']}</TimeStamp>"
        f"<Nonce><![CDATA[{fields['Nonce']}]]></Nonce></xml>"
    ).encode()
