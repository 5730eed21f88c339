"""Secrets at rest: AES-256-GCM under the master key, with the purpose bound in as associated data.

A sealed value reads `v1:<base64(nonce | tag | ciphertext)>`. Binding the purpose (e.g. "app.credentials") means a
ciphertext copied into another column does not decrypt there. Plaintext secrets never leave this module's callers
except to the platform they belong to.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets as _random
from pathlib import Path

from Crypto.Cipher import AES

from storage.errors import ConfigError, LeadbotError
from storage.private import private_dir

_VERSION = "v1:"
_NONCE_BYTES = 12
_TAG_BYTES = 16
MASTER_KEY_FILE = "master.key"


class SecretError(LeadbotError):
    """A sealed value could not be opened: wrong master key, tampered row, or not a sealed value."""


def parse_master_key(value: str, source: str = "LEADBOT_MASTER_KEY") -> bytes:
    """Accept 32 bytes as base64 (44 chars, the generated form) or hex (64 chars)."""
    value = value.strip()
    try:
        key = bytes.fromhex(value) if len(value) == 64 else base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        raise ConfigError(f"{source}: not base64 or hex") from None
    if len(key) != 32:
        raise ConfigError(f"{source}: must decode to 32 bytes, got {len(key)}")
    return key


def load_or_create_master_key(data_dir: Path) -> bytes:
    """The key kept in the data dir, created with mode 0600 on first start."""
    path = data_dir / MASTER_KEY_FILE
    try:
        return parse_master_key(path.read_text(), str(path))
    except FileNotFoundError:
        pass
    private_dir(data_dir)
    key = _random.token_bytes(32)
    # O_EXCL: when two processes start together, one creates the file and the other reads it.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return parse_master_key(path.read_text(), str(path))
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(key).decode() + "\n")
    return key


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("master key must be 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "SecretBox(<hidden>)"

    def derive(self, purpose: str) -> bytes:
        """A key for one purpose (e.g. signing cookies), derived from the master key: HMAC-SHA256(key, purpose)."""
        return hmac.new(self._key, purpose.encode(), hashlib.sha256).digest()

    def seal(self, plaintext: str, purpose: str) -> str:
        nonce = _random.token_bytes(_NONCE_BYTES)
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce, mac_len=_TAG_BYTES)
        cipher.update(purpose.encode())
        ct, tag = cipher.encrypt_and_digest(plaintext.encode())
        return _VERSION + base64.b64encode(nonce + tag + ct).decode()

    def open(self, sealed: str, purpose: str) -> str:
        if not sealed.startswith(_VERSION):
            raise SecretError("not a sealed value")
        try:
            raw = base64.b64decode(sealed[len(_VERSION) :], validate=True)
        except (ValueError, binascii.Error):
            raise SecretError("sealed value is not base64") from None
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise SecretError("sealed value is truncated")
        nonce, tag = raw[:_NONCE_BYTES], raw[_NONCE_BYTES : _NONCE_BYTES + _TAG_BYTES]
        ct = raw[_NONCE_BYTES + _TAG_BYTES :]
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce, mac_len=_TAG_BYTES)
        cipher.update(purpose.encode())
        try:
            return cipher.decrypt_and_verify(ct, tag).decode()
        except ValueError:
            raise SecretError("sealed value failed authentication (wrong master key or tampered)") from None
