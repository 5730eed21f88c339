"""DingTalk error answers -> the bot.errors class a caller acts on."""

from __future__ import annotations

import pytest

from bot.errors import CardExpired, PlatformError, RateLimited, RecipientError, TokenExpired, TransientError
from bot.platforms.dingtalk.errors import error_from_oapi, error_from_v1


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, "InvalidAuthentication", TokenExpired),
        (400, "InvalidAuthentication", TokenExpired),
        (401, None, TokenExpired),
        (400, "send.too.fast", RateLimited),
        (403, "send.byToken.tooFast", RateLimited),
        (403, "too.many.people", RateLimited),
        (429, None, RateLimited),
        (400, "Throttling", RateLimited),
        (400, "Throttling.Api", RateLimited),
        (400, "param.userIdNotExist", RecipientError),
        (403, "Forbidden.AccessDenied.IpNotInWhiteList", RecipientError),
        (400, "param.cardNotExist", CardExpired),
        (500, "system.busy", TransientError),
        (502, None, TransientError),
        (503, "anything", TransientError),
        (400, "invalidClientIdOrSecret", PlatformError),
        (400, "AuthenticationFailed.MissingParameter", PlatformError),
        (400, "param.contentUnsafe", PlatformError),
    ],
)
def test_v1_errors(status, code, expected):
    body = {"code": code, "message": "msg", "requestid": "req-1"} if code else None
    err = error_from_v1(status, body, "hdr-req" if not code else None)
    assert type(err) is expected
    assert err.http_status == status
    assert err.errcode == (code or f"HTTP{status}")
    assert err.request_id == ("req-1" if code else "hdr-req")


@pytest.mark.parametrize(
    ("errcode", "expected"),
    [
        (40014, TokenExpired),
        (42001, TokenExpired),
        (40001, TokenExpired),
        (130101, RateLimited),
        (660026, RateLimited),
        (-1, TransientError),
        (33012, RecipientError),
        (310000, RecipientError),
        (300005, RecipientError),
        (40035, PlatformError),
    ],
)
def test_oapi_errors(errcode, expected):
    err = error_from_oapi({"errcode": errcode, "errmsg": "m", "request_id": "r"})
    assert type(err) is expected and err.errcode == errcode and err.request_id == "r"


@pytest.mark.parametrize("body", [{"errcode": 0, "errmsg": "ok"}, {"accessToken": "x"}, {"errcode": "0"}])
def test_oapi_success(body):
    assert error_from_oapi(body) is None


def test_robot_throttle_waits_the_ten_minute_block():
    err = error_from_oapi({"errcode": 130101, "errmsg": "send too fast"})
    assert isinstance(err, RateLimited) and err.retry_after_s == 600


def test_non_numeric_errcode_is_a_plain_platform_error():
    assert type(error_from_oapi({"errcode": "weird"})) is PlatformError
