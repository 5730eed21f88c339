"""Logs: phone numbers and e-mail addresses masked, registered secrets blanked, JSON lines for machines."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.logs import mask, register_secret, setup_logging


@pytest.mark.parametrize(("raw", "masked"), [
    ("call 13800138000 now", "call 138****8000 now"),
    ("call +8613800138000", "call +86138****8000"),
    ("mail zhang.san@example.com please", "mail z***@example.com please"),
    ("intl +14155550123", "intl +141****0123"),
    ("msgid 1234567890123456789 stays", "msgid 1234567890123456789 stays"),
    ("timestamp 1409659589 stays", "timestamp 1409659589 stays"),
])
def test_masking(raw: str, masked: str) -> None:
    assert mask(raw) == masked


def test_registered_secret_never_reaches_a_line() -> None:
    register_secret("sk-live-abcdef123456")
    stream = io.StringIO()
    setup_logging("info", "text", stream)
    logging.getLogger("t").info("token is %s", "sk-live-abcdef123456")
    assert "sk-live-abcdef123456" not in stream.getvalue()
    assert "***" in stream.getvalue()


def test_json_format_one_object_per_line() -> None:
    stream = io.StringIO()
    setup_logging("info", "json", stream)
    logging.getLogger("t").info("hello %s", "13800138000", extra={"app_id": 7})
    line = json.loads(stream.getvalue().strip())
    assert line["msg"] == "hello 138****8000"
    assert line["app_id"] == 7 and line["level"] == "info"
