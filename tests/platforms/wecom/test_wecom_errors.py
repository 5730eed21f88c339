from __future__ import annotations

import pytest

from bot.errors import (
    CardExpired,
    MediaError,
    PlatformError,
    RateLimited,
    RecipientError,
    TokenExpired,
    TransientError,
)
from bot.platforms.wecom.errors import FrequencyLimited, error_for, request_id_of


@pytest.mark.parametrize(
    "errcode, api, expected",
    [
        (40014, "message/send", TokenExpired),
        (42001, "message/send", TokenExpired),
        (40001, "message/send", TokenExpired),
        (42001, "media/get", TokenExpired),
        (40001, "gettoken", PlatformError),  # wrong secret: refreshing cannot help
        (40013, "gettoken", PlatformError),
        (45009, "message/send", FrequencyLimited),
        (45033, "message/update_template_card", FrequencyLimited),
        (-1, "message/send", TransientError),
        (81013, "message/send", RecipientError),
        (60011, "message/send", RecipientError),
        (60020, "message/send", RecipientError),
        (48002, "message/send", RecipientError),
        (60021, "message/send", RecipientError),
        (40003, "message/send", RecipientError),
        (82001, "message/send", RecipientError),
        (42022, "message/update_template_card", CardExpired),
        (40058, "message/update_template_card", CardExpired),
        (42016, "message/update_template_card", CardExpired),
        (40058, "message/send", PlatformError),  # a bad card on send is our bug, not an expiry
        (40007, "media/get", MediaError),
        (99999, "media/get", MediaError),
        (99999, "message/send", PlatformError),
        (42014, "message/send", PlatformError),
    ],
)
def test_errcode_table(errcode: int, api: str, expected: type[PlatformError]) -> None:
    error = error_for(errcode, "some text", api=api)
    assert type(error) is expected
    assert error.errcode == errcode


def test_frequency_limit_is_a_rate_limit_with_a_wait() -> None:
    error = error_for(45009, "api freq out of limit", api="message/send")
    assert isinstance(error, RateLimited) and error.retryable
    assert error.retry_after_s == 60.0


def test_request_id_comes_from_the_hint() -> None:
    errmsg = "missing title, hint: [1695847276640293876906459], from ip: 1.2.3.4, more info at https://x"
    assert request_id_of(errmsg) == "1695847276640293876906459"
    assert error_for(41016, errmsg, api="message/send").request_id == "1695847276640293876906459"
    assert request_id_of("ok") is None
