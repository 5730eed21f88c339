from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestServer

from bot.alerting.notify.base import Alert, Recipient
from tests.notify.smtp_server import Recorder, start_smtp
from tests.sim.aliyun_sms import AliyunSmsSim
from tests.sim.tencent_sms import TencentSmsSim

ALIYUN_KEY_ID, ALIYUN_SECRET = "LTAI5tTestKeyId", "aliyun-test-secret"
TENCENT_ID, TENCENT_KEY = "AKIDtestSecretId", "tencent-test-secret-key"


@pytest.fixture
def alert() -> Alert:
    return Alert(
        id="alert-42",
        kind="response_lock_breached",
        subject="线索超时未联系：华东电力 数据中心项目",
        text="销售 张三 在 30 分钟内未联系线索「华东电力 数据中心项目」。\n请尽快处理。",
        link="https://leadbot.example.com/leads/42",
        ack_link="https://leadbot.example.com/ack/alert-42?t=abc",
        sms_params={"lead": "华东电力 数据中心项目", "rep": "张三", "minutes": "30"},
    )


@pytest.fixture
def recipient() -> Recipient:
    return Recipient(name="李经理", phone="+8613800138000", email="li.manager@example.com")


@pytest.fixture
async def aliyun_sim(aiohttp_server) -> tuple[AliyunSmsSim, TestServer]:
    sim = AliyunSmsSim({ALIYUN_KEY_ID: ALIYUN_SECRET})
    return sim, await aiohttp_server(sim.app())


@pytest.fixture
async def tencent_sim(aiohttp_server) -> tuple[TencentSmsSim, TestServer]:
    sim = TencentSmsSim({TENCENT_ID: TENCENT_KEY})
    return sim, await aiohttp_server(sim.app())


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    controller = start_smtp(recorder)
    try:
        yield recorder, controller.port
    finally:
        recorder.released = True
        controller.stop()
