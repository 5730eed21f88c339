"""Leadbot-Signature: what a receiver checks, including what it must refuse."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bot.webhooks.signing import (
    SECRET_PREFIX,
    WebhookSignatureError,
    new_secret,
    parse_header,
    request_headers,
    signature_header,
    verify,
)

SECRET = "whsec_test-secret"
BODY = '{"id":"evt_1","type":"lead.created","data":{"lead":{"company":"华东机械"}}}'.encode()
T = 1_763_884_800


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # computed independently of the module: what the README tells receivers to compute
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature_header(SECRET, T, BODY) == f"t={T},v1={expected}"
    assert verify(SECRET, f"t={T},v1={expected}", BODY, now=T + 5) == T


@pytest.mark.parametrize("header, body, secret, now, reason", [
    (signature_header(SECRET, T, BODY), BODY + b" ", SECRET, T, "no signature matches"),
    (signature_header(SECRET, T, BODY), BODY, "whsec_other", T, "no signature matches"),
    (signature_header(SECRET, T, BODY).replace(f"t={T}", f"t={T + 1}"), BODY, SECRET, T, "no signature matches"),
    (signature_header(SECRET, T, BODY), BODY, SECRET, T + 301, "more than 300 s"),
    (signature_header(SECRET, T, BODY), BODY, SECRET, T - 301, "more than 300 s"),
    (f"t={T}", BODY, SECRET, T, "needs t="),
    ("v1=abc", BODY, SECRET, T, "needs t="),
    ("", BODY, SECRET, T, "needs t="),
])
def test_forged_stale_or_malformed_requests_are_refused(header, body, secret, now, reason) -> None:
    with pytest.raises(WebhookSignatureError, match=reason):
        verify(secret, header, body, now=now)


def test_any_of_several_signatures_may_match_during_a_secret_rotation() -> None:
    old = signature_header("whsec_old", T, BODY).split(",")[1]
    new = signature_header(SECRET, T, BODY).split(",")[1]
    assert verify(SECRET, f"t={T},{old},{new}", BODY, now=T) == T
    assert parse_header(f" t={T} , {old}")[0] == T


def test_headers_carry_the_event_and_the_signature() -> None:
    headers = request_headers(SECRET, T, BODY, event_id="evt_1", event_type="lead.created", attempt=3)
    assert headers["Leadbot-Event-Id"] == "evt_1"
    assert headers["Leadbot-Event-Type"] == "lead.created"
    assert headers["Leadbot-Delivery-Attempt"] == "3"
    assert verify(SECRET, headers["Leadbot-Signature"], BODY, now=T) == T


def test_secrets_are_fresh_and_long() -> None:
    a, b = new_secret(), new_secret()
    assert a != b and a.startswith(SECRET_PREFIX) and len(a) >= len(SECRET_PREFIX) + 40


def test_the_readme_snippet_verifies_what_the_service_signs() -> None:
    import re
    import time
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Webhooks"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the documented receiver code, as a CRM developer would paste it
    readme_verify = namespace["verify"]
    now = int(time.time())
    header = signature_header(SECRET, now, BODY)
    assert readme_verify(SECRET, header, BODY)
    assert not readme_verify("whsec_other", header, BODY)
    assert not readme_verify(SECRET, header, BODY + b" ")
    assert not readme_verify(SECRET, signature_header(SECRET, now - 3600, BODY), BODY)
    assert not readme_verify(SECRET, "v1=00", BODY)
