"""The alert channels' far ends for tests (a pytest plugin, see tests/conftest.py): a real SMTP server (aiosmtpd),
Aliyun and Tencent SMS simulators that check every request's signature, and the tenant settings that point at them.

The fixtures only start when a test asks for them. A directory whose service must send e-mail overrides `settings`
with `with_smtp(settings, smtp)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from bot.runtime.config import Settings
from tests.notify.smtp_server import Recorder, start_smtp
from tests.sim.aliyun_sms import AliyunSmsSim
from tests.sim.tencent_sms import TencentSmsSim

ALIYUN_KEY_ID, ALIYUN_SECRET = "LTAI5tEscalationKey", "aliyun-escalation-secret"
TENCENT_ID, TENCENT_KEY = "AKIDescalationSecretId", "tencent-escalation-secret-key"
SENDER = "leadbot@leadbot.test"
SMS_OK = {"aliyun": "OK", "tencent": "Ok"}


def sms_settings(provider: str, api_base: str) -> dict[str, Any]:
    """A tenant's `notify.sms` section for the simulator of `provider` at `api_base` (secret in the clear: the
    admin API, or `seal_notify`, seals it)."""
    if provider == "aliyun":
        return {"provider": "aliyun", "access_key_id": ALIYUN_KEY_ID, "access_key_secret": ALIYUN_SECRET,
                "sign_name": "领客", "template_code": "SMS_460010001", "api_base": api_base,
                "params": ["title", "lead"]}
    return {"provider": "tencent", "secret_id": TENCENT_ID, "secret_key": TENCENT_KEY, "sdk_app_id": "1400000001",
            "sign_name": "领客", "template_id": "100001", "api_base": api_base, "params": ["title", "lead"]}


def with_smtp(settings: Settings, smtp: Recorder) -> Settings:
    """`settings` with e-mail going to the test's SMTP server."""
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_tls": "none",
                                       "smtp_sender": SENDER, "smtp_timeout_s": 5.0})


@pytest.fixture
def smtp() -> Iterator[Recorder]:
    recorder = Recorder()
    controller = start_smtp(recorder)
    recorder.port = controller.port  # type: ignore[attr-defined]
    try:
        yield recorder
    finally:
        recorder.released = True
        controller.stop()


@pytest.fixture
async def aliyun(aiohttp_server, services) -> tuple[AliyunSmsSim, TestServer]:
    # The provider's clock is the world's: the channel signs with the service's injected clock.
    sim = AliyunSmsSim({ALIYUN_KEY_ID: ALIYUN_SECRET}, clock=services.clock.time)
    return sim, await aiohttp_server(sim.app())


@pytest.fixture
async def tencent(aiohttp_server, services) -> tuple[TencentSmsSim, TestServer]:
    sim = TencentSmsSim({TENCENT_ID: TENCENT_KEY}, clock=services.clock.time)
    return sim, await aiohttp_server(sim.app())
