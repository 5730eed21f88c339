"""Fixtures for the DingTalk tests: real Redis (database 12 only), the simulator, adapters pointed at it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.platforms.dingtalk.adapter import DingTalkAdapter
from bot.runtime.tokens import TokenBroker
from storage.secrets import SecretBox
from tests.platforms.dingtalk.support import APP_KEY, APP_SECRET, USERS, credentials
from tests.sim.dingtalk import DingTalkSimulator


@pytest.fixture
async def sim() -> AsyncIterator[DingTalkSimulator]:
    async with DingTalkSimulator() as s:
        s.add_app(APP_KEY, APP_SECRET, agent_id=4242, users=USERS)
        yield s


@pytest.fixture
def broker_factory(redis: Redis) -> Callable[[], TokenBroker]:
    """Each call is a broker as another process would have it: same Redis, its own memory."""
    box = SecretBox(os.urandom(32))
    return lambda: TokenBroker(redis, box)


@pytest.fixture
def make_adapter(sim: DingTalkSimulator, session: aiohttp.ClientSession, redis: Redis,
                 broker_factory: Callable[[], TokenBroker]) -> Callable[..., DingTalkAdapter]:
    def make(*, broker: TokenBroker | None = None, timeout_s: float = 5.0, **creds: Any) -> DingTalkAdapter:
        return DingTalkAdapter(1, credentials(**creds), session=session, tokens=broker or broker_factory(),
                               redis=redis, api_base=sim.base_url, timeout_s=timeout_s, retry_base_s=0.01)

    return make
