"""Secrets at rest: AES-GCM, purpose-bound, tamper-evident; the master key file is private."""

from __future__ import annotations

import os
import stat

import pytest

from storage.secrets import SecretBox, SecretError, load_or_create_master_key


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(os.urandom(32))


def test_round_trip_and_fresh_nonce(box: SecretBox) -> None:
    a = box.seal("秘密 secret", "app.secrets")
    b = box.seal("秘密 secret", "app.secrets")
    assert a != b  # a new nonce every time
    assert "secret" not in a
    assert box.open(a, "app.secrets") == "秘密 secret"


@pytest.mark.parametrize("mutate", [
    lambda s: s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1],  # flip ciphertext
    lambda s: s[:10],  # truncated
    lambda s: "v1:" + "!!!",  # not base64
    lambda s: "plain text",  # not sealed at all
])
def test_tampered_values_do_not_open(box: SecretBox, mutate) -> None:
    sealed = box.seal("value", "p")
    with pytest.raises(SecretError):
        box.open(mutate(sealed), "p")


def test_wrong_purpose_or_key_does_not_open(box: SecretBox) -> None:
    sealed = box.seal("value", "app.secrets")
    with pytest.raises(SecretError):
        box.open(sealed, "access-token")
    with pytest.raises(SecretError):
        SecretBox(os.urandom(32)).open(sealed, "app.secrets")


def test_master_key_created_once_with_mode_0600(tmp_path) -> None:
    key = load_or_create_master_key(tmp_path)
    assert len(key) == 32
    mode = stat.S_IMODE((tmp_path / "master.key").stat().st_mode)
    assert mode == 0o600
    assert load_or_create_master_key(tmp_path) == key
