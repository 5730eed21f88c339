"""HMAC-SHA256 signatures DingTalk uses on robot callbacks and on custom group robot webhooks.

Both sign the same string, `f"{timestamp_ms}\\n{secret}"`, with the secret as the key:
- robot HTTP callbacks carry it in the `timestamp` and `sign` headers, keyed with the app's AppSecret;
- a custom group robot's webhook URL (安全设置 加签, secret `SEC…`) carries it as `&timestamp=…&sign=…`.

The signature covers only the timestamp, never the body: a captured request replays for the whole window, so
handlers must also de-duplicate on msgId.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

from bot.errors import SignatureError, StaleTimestamp

__all__ = ["WINDOW_MS", "SignatureError", "StaleTimestamp", "card_api_secret", "compute_sign", "verify_callback",
           "sign_webhook_url"]

WINDOW_MS = 60 * 60 * 1000  # DingTalk's own rule for both directions: within one hour of server time
_MAX_TIMESTAMP_DIGITS = 16


def compute_sign(timestamp_ms: int | str, secret: str) -> str:
    """base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), not URL-encoded."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _timestamp_text(timestamp: str | None) -> str:
    if timestamp is None:
        raise SignatureError("timestamp header missing")
    timestamp = timestamp.strip()
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > _MAX_TIMESTAMP_DIGITS:
        raise SignatureError("timestamp is not a millisecond epoch")
    return timestamp


def verify_callback(
    timestamp: str | None,
    sign: str | None,
    secret: str,
    *,
    now_ms: int,
    window_ms: int = WINDOW_MS,
) -> int:
    """Check a robot callback's `timestamp`/`sign` headers; return the timestamp (ms) when they hold.

    The signature is checked before the window so that `StaleTimestamp` only ever means "genuine but old"
    (a replay or a skewed clock) and a forgery always reads as `SignatureError`.
    """
    ts_text = _timestamp_text(timestamp)
    if not sign:
        raise SignatureError("sign header missing")
    expected = compute_sign(ts_text, secret)
    if not hmac.compare_digest(expected.encode(), sign.strip().encode("utf-8", "replace")):
        raise SignatureError("sign does not match")
    ts_ms = int(ts_text)
    if abs(now_ms - ts_ms) > window_ms:
        raise StaleTimestamp(f"timestamp is {abs(now_ms - ts_ms) // 1000} s away from now")
    return ts_ms


def sign_webhook_url(webhook_url: str, secret: str, *, now_ms: int) -> str:
    """The custom robot webhook URL with fresh `timestamp` and `sign` query parameters (replacing old ones), signed
    at `now_ms` (the caller's clock: DingTalk refuses a timestamp an hour away from its own)."""
    ts = str(now_ms)
    parts = urlsplit(webhook_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("timestamp", "sign")]
    query += [("timestamp", ts), ("sign", compute_sign(ts, secret))]
    # quote_plus: the base64 signature carries '+', '/' and '=', which must arrive intact.
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote_plus)))


def card_api_secret(app_secret: str, route_key: str) -> str:
    """The `apiSecret` we register with an app's card callback URL, and check card callbacks against.

    Derived, not stored: it changes with the AppSecret (re-verify the app after rotating it) and is never the
    AppSecret itself, so the card callback registration does not hand the app's master secret around.
    """
    digest = hmac.new(app_secret.encode(), f"leadbot card callback\n{route_key}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
