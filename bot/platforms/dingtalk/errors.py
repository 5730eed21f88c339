"""DingTalk's error answers mapped onto `bot.errors`, plus the errors of our own DingTalk checks.

Two API generations answer differently:
- v1.0 (api.dingtalk.com): a non-2xx HTTP status with `{"code": "InvalidAuthentication", "message", "requestid"}`.
- oapi (oapi.dingtalk.com, the custom group robot): HTTP 200 with `{"errcode": 40014, "errmsg"}`; 0 means success.

Callers act on the class (`TokenExpired`: drop the token and retry once; `RateLimited`/`TransientError`: later;
`RecipientError`: try another channel; `CardExpired`: send a fresh card), so the tables below are the only place
that knows a DingTalk code. Codes not listed stay a plain, non-retryable `PlatformError`.
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


class CryptoError(LeadbotError):
    """An encrypted event could not be opened: bad base64, padding, length or owner key."""


class MalformedPayload(LeadbotError):
    """A verified body that is not the JSON shape DingTalk sends (too large, not an object, missing ids...)."""


# v1.0 `code` values. Exact names first; then prefixes for the families DingTalk extends over time.
_V1_EXACT: dict[str, type[PlatformError]] = {
    "InvalidAuthentication": TokenExpired,
    "InvalidAccessToken": TokenExpired,
    "AccessTokenExpired": TokenExpired,
    "send.too.fast": RateLimited,
    "send.byToken.tooFast": RateLimited,
    "too.many.people": RateLimited,
    "too.many.group": RateLimited,
    "Throttling": RateLimited,
    "param.userIdNotExist": RecipientError,
    "staffId.notExisted": RecipientError,
    "invalid.staffId": RecipientError,
    "param.cardNotExist": CardExpired,
    "system.busy": TransientError,
    "ServiceUnavailable": TransientError,
    "InternalError": TransientError,
    "SYSTEM_ERROR": TransientError,
}
_V1_PREFIXES: tuple[tuple[str, type[PlatformError]], ...] = (
    ("Throttling.", RateLimited),
    ("Forbidden.AccessDenied", RecipientError),  # the app lacks a permission or IP allow-listing: not our retry
    ("Forbidden.", RecipientError),
)

# oapi `errcode` values.
_OAPI: dict[int, type[PlatformError]] = {
    40014: TokenExpired,  # 不合法的access_token
    42001: TokenExpired,  # access_token 已过期
    40001: TokenExpired,  # old API: invalid credential / token
    41001: TokenExpired,  # access_token missing
    130101: RateLimited,  # custom robot: send too fast, exceed 20 times per minute
    660026: RateLimited,  # the live endpoint's wording of the same limit
    90018: RateLimited,  # old API frequency limit
    -1: TransientError,  # 系统繁忙
    33012: RecipientError,  # 无效的 userid
    60121: RecipientError,  # user not found
    60020: RecipientError,  # calling IP not allow-listed
    310000: RecipientError,  # custom robot keyword / sign / IP check failed: this webhook will not take it
    300005: RecipientError,  # custom robot access_token unknown (robot removed)
    300001: RecipientError,  # custom robot token missing or invalid
}

# DingTalk blocks a custom robot for 10 minutes after it exceeded 20 messages in a minute.
WEBHOOK_BLOCK_S = 600.0


def v1_error_class(code: str | None, http_status: int | None) -> type[PlatformError]:
    if code:
        cls = _V1_EXACT.get(code)
        if cls is not None:
            return cls
        for prefix, cls in _V1_PREFIXES:
            if code.startswith(prefix):
                return cls
    if http_status is not None:
        if http_status == 429:
            return RateLimited
        if http_status >= 500:
            return TransientError
        if http_status == 401 and not code:
            return TokenExpired
    return PlatformError


def error_from_v1(http_status: int, body: Mapping[str, Any] | None, request_id: str | None = None) -> PlatformError:
    """The error a v1.0 answer with a non-2xx status stands for."""
    body = body or {}
    code = body.get("code")
    code = str(code) if code is not None else None
    message = str(body.get("message") or "")
    request_id = request_id or body.get("requestid") or body.get("requestId")
    cls = v1_error_class(code, http_status)
    error = cls(code or f"HTTP{http_status}", message, request_id=request_id, http_status=http_status)
    detail = body.get("accessdenieddetail")
    if isinstance(detail, Mapping) and isinstance(detail.get("requiredScopes"), list):
        error.required_scopes = tuple(str(s) for s in detail["requiredScopes"] if isinstance(s, str))[:20]
    return error


def oapi_error_class(errcode: int) -> type[PlatformError]:
    return _OAPI.get(errcode, PlatformError)


def error_from_oapi(body: Mapping[str, Any], http_status: int = 200) -> PlatformError | None:
    """None when `errcode` is 0 (or absent on a 2xx), else the error it stands for."""
    raw = body.get("errcode", 0)
    try:
        errcode = int(raw)
    except (TypeError, ValueError):
        return PlatformError(str(raw), str(body.get("errmsg") or ""), http_status=http_status)
    if errcode == 0:
        return None
    cls = oapi_error_class(errcode)
    request_id = body.get("request_id") or body.get("requestId")
    sub_code = body.get("sub_code")
    if cls is RateLimited and errcode in (130101, 660026):
        return RateLimited(errcode, str(body.get("errmsg") or ""), request_id=request_id, http_status=http_status,
                           retry_after_s=WEBHOOK_BLOCK_S)
    error = cls(errcode, str(body.get("errmsg") or ""), request_id=request_id, http_status=http_status)
    if isinstance(sub_code, str | int):
        error.sub_code = str(sub_code)[:32]
    return error


# Answers that mean the app cannot reach people from here (permission, IP allow-list, robot code): they flip the
# app to failing. Directory reads are diagnosis and sync's business, not the app's health.
_NOT_LIVE_V1_PREFIXES = ("Forbidden.AccessDenied", "invalidParameter.robotCode")
_NOT_LIVE_OAPI = {"60020", "60011"}
_PROBE_PATHS = frozenset({"/topapi/v2/department/listsub", "/topapi/v2/user/list"})


def not_live_reason(path: str, error: PlatformError) -> str | None:
    code = str(error.errcode)
    if path in _PROBE_PATHS or error.retryable:
        return None
    if not (code.startswith(_NOT_LIVE_V1_PREFIXES) or code in _NOT_LIVE_OAPI or error.sub_code in _NOT_LIVE_OAPI):
        return None
    scopes = f" (missing {', '.join(error.required_scopes)})" if error.required_scopes else ""
    return f"dingtalk {code} on {path}{scopes}"
