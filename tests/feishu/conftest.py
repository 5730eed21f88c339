"""Fixtures for the Feishu tests: the simulator with one app and two people, adapters pointed at it (real Redis,
a token broker per simulated process)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.platforms.feishu.adapter import FeishuAdapter
from bot.platforms.feishu.config import FeishuCredentials
from bot.runtime.tokens import TokenBroker
from storage.secrets import SecretBox
from tests.sim.feishu import FeishuSimulator

APP_ID = "cli_a1b2c3d4e5f6"
APP_SECRET = "feishu-sim-secret-0123456789"
VERIFICATION_TOKEN = "vt-sim-2026"
ENCRYPT_KEY = "ek-sim-2026"


def credentials(**changes: Any) -> FeishuCredentials:
    return FeishuCredentials(**{"app_id": APP_ID, "app_secret": APP_SECRET, "verification_token": VERIFICATION_TOKEN,
                                "encrypt_key": ENCRYPT_KEY, **changes})


@pytest.fixture
async def sim() -> AsyncIterator[FeishuSimulator]:
    async with FeishuSimulator() as s:
        s.add_app(APP_ID, APP_SECRET)
        s.add_user("ou_rep1", user_id="rep1", name="张三")
        s.add_user("ou_mgr1", user_id="mgr1", name="王经理")
        yield s


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def broker_factory(redis: Redis) -> Callable[[], TokenBroker]:
    """Each call is a broker as another process would have it: same Redis, its own memory."""
    box = SecretBox(os.urandom(32))
    return lambda: TokenBroker(redis, box)


@pytest.fixture
def make_adapter(sim: FeishuSimulator, session: aiohttp.ClientSession, redis: Redis,
                 broker_factory: Callable[[], TokenBroker]) -> Callable[..., FeishuAdapter]:
    def make(*, broker: TokenBroker | None = None, api_base: str | None = "sim", **creds: Any) -> FeishuAdapter:
        return FeishuAdapter(1, credentials(**creds), session=session, tokens=broker or broker_factory(),
                             redis=redis, api_base=sim.base_url if api_base == "sim" else api_base,
                             retry_base_s=0.01)

    return make
