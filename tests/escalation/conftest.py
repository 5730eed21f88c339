from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from bot.runtime.clock import ManualClock
from bot.runtime.config import Settings
from bot.runtime.services import Services
from tests.escalation.support import AGENT_ID, SECRET, World, make_world
from tests.notify.smtp_server import Recorder
from tests.sim.aliyun_sms import AliyunSmsSim
from tests.sim.wecom import WeComSimulator
from tests.support.alerting import with_smtp
from tests.support.clock import on_clock


@pytest.fixture
def settings(settings: Settings, smtp: Recorder) -> Settings:
    """The session's settings with e-mail going to this test's SMTP server."""
    return with_smtp(settings, smtp)


@pytest.fixture
async def wecom() -> AsyncIterator[WeComSimulator]:
    async with WeComSimulator("wwescalation0001") as sim:
        sim.add_app(AGENT_ID, SECRET, {"wang", "zhang", "li"})
        yield sim


@pytest.fixture
async def world(services, wecom, aliyun: tuple[AliyunSmsSim, TestServer]) -> World:
    """One tenant (Shanghai time): 王经理 manages 张三 and 李四, all on one WeCom app; SMS by Aliyun."""
    return await make_world(services, wecom, str(aliyun[1].make_url("/")))


@pytest.fixture
def services(services: Services, clock: ManualClock) -> Services:
    """Every escalation test runs on the test's clock (a plain Tuesday morning unless the test moves it)."""
    return on_clock(services, clock)
