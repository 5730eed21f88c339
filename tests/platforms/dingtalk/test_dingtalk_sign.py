"""Robot callback header checks and custom-robot webhook URL signing."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from bot.platforms.dingtalk.sign import (
    WINDOW_MS,
    SignatureError,
    StaleTimestamp,
    compute_sign,
    sign_webhook_url,
    verify_callback,
)

SECRET = "this is secret"
TS = 1577262236757


@pytest.mark.parametrize(
    ("timestamp", "secret", "expected"),
    [
        # The example pair of DingTalk's custom robot signing docs; also computed with `openssl dgst -hmac`.
        (1577262236757, "this is secret", "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="),
        ("1700000000000", "SECd2b1c0ffee", "ZPGXB+gk/a1RjhukCVe2ybUyxkWlorP5wOX9N2SwqIw="),
    ],
)
def test_known_answers(timestamp, secret, expected):
    assert compute_sign(timestamp, secret) == expected


def test_genuine_callback_passes_and_returns_its_time():
    assert verify_callback(str(TS), compute_sign(TS, SECRET), SECRET, now_ms=TS + 1000) == TS


@pytest.mark.parametrize(
    ("timestamp", "sign"),
    [
        (None, "x"),
        (str(TS), None),
        (str(TS), ""),
        ("not-a-number", "x"),
        ("-1577262236757", "x"),
        ("1" * 40, "x"),
        ("１５７７", "x"),  # full-width digits are digits to str.isdigit, not to us
        (str(TS), compute_sign(TS, "another secret")),
        (str(TS + 1), compute_sign(TS, SECRET)),
        (str(TS), compute_sign(TS, SECRET)[:-2]),
        (str(TS), "签名"),
    ],
)
def test_bad_headers_are_signature_errors(timestamp, sign):
    with pytest.raises(SignatureError):
        verify_callback(timestamp, sign, SECRET, now_ms=TS)


@pytest.mark.parametrize("offset_ms", [WINDOW_MS + 1, -WINDOW_MS - 1, 10 * WINDOW_MS])
def test_outside_the_hour_is_stale(offset_ms):
    with pytest.raises(StaleTimestamp):
        verify_callback(str(TS), compute_sign(TS, SECRET), SECRET, now_ms=TS + offset_ms)


@pytest.mark.parametrize("offset_ms", [0, WINDOW_MS, -WINDOW_MS, 59 * 60 * 1000])
def test_inside_the_hour_passes(offset_ms):
    assert verify_callback(str(TS), compute_sign(TS, SECRET), SECRET, now_ms=TS + offset_ms) == TS


def test_a_forgery_is_never_reported_as_merely_stale():
    with pytest.raises(SignatureError):
        verify_callback(str(TS), compute_sign(TS, "guess"), SECRET, now_ms=TS + 10 * WINDOW_MS)


def test_webhook_url_carries_timestamp_and_encoded_sign():
    url = sign_webhook_url("https://oapi.dingtalk.com/robot/send?access_token=abc", SECRET, now_ms=TS)
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("oapi.dingtalk.com", "/robot/send")
    assert "sign=hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D" in parts.query
    assert parse_qs(parts.query) == {"access_token": ["abc"], "timestamp": [str(TS)],
                                     "sign": ["hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="]}


def test_resigning_replaces_the_old_signature():
    once = sign_webhook_url("https://oapi.dingtalk.com/robot/send?access_token=abc", SECRET, now_ms=TS)
    twice = sign_webhook_url(once, SECRET, now_ms=TS + 5)
    assert parse_qs(urlsplit(twice).query)["timestamp"] == [str(TS + 5)]
    assert len(parse_qs(urlsplit(twice).query)["sign"]) == 1
