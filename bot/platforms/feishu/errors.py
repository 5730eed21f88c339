"""Feishu's answers mapped onto `bot.errors`, plus the errors of our own callback checks.

Every Open API answers `{"code": int, "msg": str, "data": {...}}`; `code` 0 is success, and a failure often comes
with HTTP 400 (or 429, 5xx) *and* a code in the body. The code decides; the HTTP status only speaks when the body
has none. The request id is the `X-Tt-Logid` header (also `error.log_id` in the body).

Callers act on the class: `TokenExpired` drop the token and retry once; `RateLimited`/`TransientError` later;
`RecipientError` try another channel; `CardExpired` send a fresh card. Codes not listed stay a plain, non-retryable
`PlatformError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.errors import (
    CardExpired,
    LeadbotError,
    PlatformError,
    RateLimited,
    RecipientError,
    TokenExpired,
    TransientError,
)

# -- inbound ---------------------------------------------------------------------------------------------------------


class SignatureError(LeadbotError):
    """The `X-Lark-Signature` or the verification token does not match: not from Feishu, or another app's keys."""


class StaleTimestamp(LeadbotError):
    """Correctly signed, but `X-Lark-Request-Timestamp` is outside the accepted window (a replay or a skewed clock)."""


class CryptoError(LeadbotError):
    """An `encrypt` value that does not open with the app's Encrypt Key: bad base64, length, padding or UTF-8."""


class MalformedPayload(LeadbotError):
    """A verified body that is not the JSON shape Feishu sends (not an object, no event id, wrong types...)."""


# -- outbound --------------------------------------------------------------------------------------------------------

_BY_CODE: dict[int, type[PlatformError]] = {
    99991663: TokenExpired,  # invalid / expired tenant_access_token
    99991661: TokenExpired,  # missing access token (we sent none or it was cut): refetch
    99991668: TokenExpired,  # invalid access token
    99991677: TokenExpired,  # token expired (user tokens; harmless to treat alike)
    99991400: RateLimited,  # request trigger frequency limit (per app, per API)
    230020: RateLimited,  # im: this operation triggers the frequency limit (per chat / user)
    1500: TransientError,  # internal error
    99991401: RecipientError,  # caller IP not in the app's IP allow-list: this channel is unusable from here
    230013: RecipientError,  # bot has no availability to this user (outside the app's visible range)
    230002: RecipientError,  # bot is not in the chat
    230101: RecipientError,  # sending messages to this user is temporarily unavailable
    99992361: RecipientError,  # open_id of another app (open_cross_app)
    99992364: RecipientError,  # user_id of another tenant (user id cross tenant)
    230011: CardExpired,  # the message was recalled: nothing to update
    230031: CardExpired,  # the message cannot be updated any more (too old, or not a shared card)
}

# On the token endpoint a refusal is about the credentials (wrong app_id / secret): there is no token to drop, and
# refetching would only hammer a frequency-limited endpoint.
_TOKEN_CODES = frozenset({10003, 10014, 10015})

# Why an app is not live, whatever call said it.
NOT_LIVE = {
    99991401: "caller IP not in the app's IP allow-list (安全设置 → IP 白名单)",
    230006: "the bot ability is not enabled (应用能力 → 机器人)",
    99991672: "a permission the call needs is not granted (权限管理)",
    10014: "app_secret refused",
    10003: "app_id refused",
}


def _int_code(body: Mapping[str, Any] | None) -> int | None:
    if body is None:
        return None
    code = body.get("code")
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().lstrip("-").isdigit():
        return int(code)
    return None


def log_id_of(body: Mapping[str, Any] | None, header: str | None) -> str | None:
    if header:
        return header
    error = body.get("error") if body else None
    log_id = error.get("log_id") if isinstance(error, dict) else None
    return log_id if isinstance(log_id, str) else None


def _retry_after(headers: Mapping[str, str] | None) -> float:
    """Feishu's gateway says how long in `x-ogw-ratelimit-reset` (seconds); else one second: its limits are per
    second or per minute, and the job's own backoff grows from there."""
    raw = (headers or {}).get("x-ogw-ratelimit-reset") or (headers or {}).get("Retry-After")
    try:
        return max(1.0, min(float(raw), 600.0)) if raw else 1.0
    except ValueError:
        return 1.0


def error_for(status: int, body: Mapping[str, Any] | None, *, log_id: str | None, token_call: bool = False,
              headers: Mapping[str, str] | None = None) -> PlatformError | None:
    """The error an answer carries, or None for success (HTTP 2xx and code 0)."""
    code = _int_code(body)
    msg = str(body.get("msg") or "") if body else ""
    kwargs: dict[str, Any] = {"request_id": log_id, "http_status": status}
    if code == 0 and 200 <= status < 300:
        return None
    if code is None:
        if status == 429:
            return RateLimited(f"HTTP{status}", "frequency limit", retry_after_s=_retry_after(headers), **kwargs)
        if status >= 500 or 200 <= status < 300:  # a 2xx without a code is a broken answer: try again later
            return TransientError(f"HTTP{status}", "answer without a code", **kwargs)
        return PlatformError(f"HTTP{status}", "unexpected answer", **kwargs)
    if token_call and code in _TOKEN_CODES:
        return PlatformError(code, msg, **kwargs)
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = RateLimited if status == 429 else TransientError if status >= 500 else PlatformError
    if issubclass(cls, RateLimited):
        return cls(code, msg, retry_after_s=_retry_after(headers), **kwargs)
    return cls(code, msg, **kwargs)


def not_live_reason(path: str, e: PlatformError) -> str | None:
    if not isinstance(e.errcode, int) or e.errcode not in NOT_LIVE:
        return None
    return f"feishu code {e.errcode} on {path}: {NOT_LIVE[e.errcode]}"
