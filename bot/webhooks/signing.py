"""Signing webhook requests the way Stripe does, so receivers can reuse what they already know.

    Leadbot-Signature: t=1763884800,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd

`v1` is the hex HMAC-SHA256, keyed with the subscription's secret, of `t + "." + raw body`. Binding the timestamp
into the MAC lets a receiver refuse a replay of an old request (compare `t` with its clock); comparing the MAC in
constant time keeps it from leaking through timing. A header may carry several `v1` values (one per secret during a
rotation); a request is genuine when any of them matches.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets as _random

SIGNATURE_HEADER = "Leadbot-Signature"
EVENT_ID_HEADER = "Leadbot-Event-Id"
EVENT_TYPE_HEADER = "Leadbot-Event-Type"
ATTEMPT_HEADER = "Leadbot-Delivery-Attempt"
SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE_S = 300


class WebhookSignatureError(Exception):
    """The request is not signed by the secret, or its timestamp is outside the tolerance."""


def new_secret() -> str:
    return SECRET_PREFIX + _random.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def request_headers(secret: str, timestamp: int, body: bytes, *, event_id: str, event_type: str,
                    attempt: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "leadbot-webhooks/1",
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event_type,
        ATTEMPT_HEADER: str(attempt),
        SIGNATURE_HEADER: signature_header(secret, timestamp, body),
    }


def parse_header(header: str) -> tuple[int, list[str]]:
    """The timestamp and the `v1` signatures of a header; `WebhookSignatureError` when it is malformed."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        raise WebhookSignatureError("the signature header needs t=<unix time> and at least one v1=<hex>")
    return timestamp, signatures


def verify(secret: str, header: str, body: bytes, *, now: float, tolerance_s: float = DEFAULT_TOLERANCE_S) -> int:
    """Check a request as a receiver would; returns its timestamp or raises `WebhookSignatureError`."""
    timestamp, signatures = parse_header(header)
    if abs(now - timestamp) > tolerance_s:
        raise WebhookSignatureError(f"timestamp {timestamp} is more than {tolerance_s:.0f} s from now")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise WebhookSignatureError("no signature matches")
    return timestamp
