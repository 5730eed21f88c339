"""What the fallback chain relies on, checked the same way for every channel.

A send never raises for a refusal, an HTTP error, a dead server or a hang: it answers a `DeliveryResult` whose
outcome and code say what happened, and whose address is masked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from bot.alerting.notify.base import Alert, Channel, DeliveryOutcome, Recipient
from bot.alerting.notify.email import EmailChannel
from bot.alerting.notify.sms_aliyun import AliyunSms
from bot.alerting.notify.sms_tencent import TencentSms
from tests.notify.conftest import ALIYUN_KEY_ID, ALIYUN_SECRET, TENCENT_ID, TENCENT_KEY
from tests.notify.smtp_server import free_port

# A hung provider is given up after HANG_TIMEOUT_S (short: the test waits it out); every other send gets
# TIMEOUT_S, long enough that a busy CI machine (four test processes on two cores) never turns an answer into a timeout
# (0.5 s for every send once made a 1.4 s SMTP exchange fail as a timeout).
TIMEOUT_S = 10.0
HANG_TIMEOUT_S = 0.5


@dataclass
class Harness:
    make: Callable[..., Channel]  # (the server's base address: "" = the running simulator; timeout_s=TIMEOUT_S)
    delivered: Callable[[], int]
    refuse: Callable[[], str]  # arranges a provider refusal for the next send; returns the code expected
    break_server: Callable[[], str]  # arranges a server error; returns the code expected
    hang: Callable[[], None]
    dead_address: str  # where nothing listens
    ok_code: str


@pytest.fixture
async def aliyun_harness(aliyun_sim) -> Harness:
    sim, server = aliyun_sim
    base = str(server.make_url("/"))
    return Harness(
        make=lambda url, timeout_s=TIMEOUT_S: AliyunSms(
            access_key_id=ALIYUN_KEY_ID,
            access_key_secret=ALIYUN_SECRET,
            sign_name="领客",
            template_code="SMS_1",
            api_base=url or base,
            timeout_s=timeout_s,
            allow_private=True,
        ),
        delivered=lambda: len(sim.accepted),
        refuse=lambda: sim.fail_next("isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控") or "isv.BUSINESS_LIMIT_CONTROL",
        break_server=lambda: sim.http_error_next(500) or "HTTP 500",
        hang=sim.hang_next,
        dead_address=f"http://127.0.0.1:{free_port()}/",
        ok_code="OK",
    )


@pytest.fixture
async def tencent_harness(tencent_sim) -> Harness:
    sim, server = tencent_sim
    base = str(server.make_url("/"))
    return Harness(
        make=lambda url, timeout_s=TIMEOUT_S: TencentSms(
            secret_id=TENCENT_ID,
            secret_key=TENCENT_KEY,
            sdk_app_id="1400000001",
            sign_name="领客",
            template_id="100001",
            api_base=url or base,
            timeout_s=timeout_s,
            allow_private=True,
        ),
        delivered=lambda: len(sim.accepted),
        refuse=lambda: sim.fail_next("LimitExceeded.PhoneNumberDailyLimit") or "LimitExceeded.PhoneNumberDailyLimit",
        break_server=lambda: sim.http_error_next(502) or "HTTP 502",
        hang=sim.hang_next,
        dead_address=f"http://127.0.0.1:{free_port()}/",
        ok_code="Ok",
    )


@pytest.fixture
def smtp_harness(smtp) -> Harness:
    recorder, port = smtp

    def refuse() -> str:
        recorder.refuse["li.manager@example.com"] = "550 5.1.1 <li.manager@example.com>: User unknown"
        return "550"

    def break_server() -> str:
        recorder.data_reply = "451 4.3.0 Mail server temporarily rejected message"
        return "451"

    return Harness(
        make=lambda url, timeout_s=TIMEOUT_S: EmailChannel(
            host="127.0.0.1", port=int(url or port), sender="bot@leadbot.example.com", tls="none", timeout_s=timeout_s
        ),
        delivered=lambda: len(recorder.messages),
        refuse=refuse,
        break_server=break_server,
        hang=lambda: setattr(recorder, "hang", True),
        dead_address=str(free_port()),
        ok_code="250",
    )


@pytest.fixture(params=["aliyun", "tencent", "smtp"])
def harness(request: pytest.FixtureRequest) -> Harness:
    return request.getfixturevalue(f"{request.param}_harness")


async def _send(channel: Channel, alert: Alert, recipient: Recipient):
    try:
        return await channel.send(alert, recipient)
    finally:
        if hasattr(channel, "aclose"):
            await channel.aclose()


class TestChannelContract:
    async def test_accepted(self, harness: Harness, alert: Alert, recipient: Recipient) -> None:
        result = await _send(harness.make(""), alert, recipient)
        assert result.outcome is DeliveryOutcome.OK and result.ok
        assert result.code == harness.ok_code
        assert result.request_id
        assert result.latency_ms >= 0
        assert harness.delivered() == 1

    async def test_address_in_the_record_is_masked(self, harness: Harness, alert: Alert, recipient: Recipient) -> None:
        result = await _send(harness.make(""), alert, recipient)
        assert result.address in ("+86138****8000", "l***@example.com")
        assert "13800138000" not in str(result.to_dict()) and "li.manager" not in str(result.to_dict())

    async def test_provider_refusal_is_a_failed_result_with_its_code(
        self, harness: Harness, alert: Alert, recipient: Recipient
    ) -> None:
        expected = harness.refuse()
        result = await _send(harness.make(""), alert, recipient)
        assert result.outcome is DeliveryOutcome.FAILED
        assert result.code == expected
        assert harness.delivered() == 0

    async def test_server_error_is_a_failed_result(self, harness: Harness, alert: Alert, recipient: Recipient) -> None:
        expected = harness.break_server()
        result = await _send(harness.make(""), alert, recipient)
        assert result.outcome is DeliveryOutcome.FAILED
        assert result.code == expected
        assert harness.delivered() == 0

    async def test_hang_is_a_timeout(self, harness: Harness, alert: Alert, recipient: Recipient) -> None:
        harness.hang()
        result = await _send(harness.make("", HANG_TIMEOUT_S), alert, recipient)
        assert result.outcome is DeliveryOutcome.TIMEOUT
        assert result.code == "timeout"

    async def test_nothing_listening_is_a_failed_result(
        self, harness: Harness, alert: Alert, recipient: Recipient
    ) -> None:
        result = await _send(harness.make(harness.dead_address), alert, recipient)
        assert result.outcome is DeliveryOutcome.FAILED
        assert result.code

    async def test_recipient_without_an_address(self, harness: Harness, alert: Alert, recipient: Recipient) -> None:
        result = await _send(harness.make(""), alert, replace(recipient, phone=None, email=None))
        assert result.outcome is DeliveryOutcome.FAILED
        assert result.code == "no_address"
        assert harness.delivered() == 0
