from __future__ import annotations

import os
from collections.abc import Callable

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.platforms.wecom.adapter import WeComAdapter
from bot.platforms.wecom.config import WeComCredentials
from bot.runtime.tokens import TokenBroker
from storage.secrets import SecretBox
from tests.sim.wecom import WeComSimulator
from tests.support.wecom import WeComApp

AGENT_ID = 1000002
SECRET = "sim-secret-Aq9ZxC7pLm2Vb5Nk"
CALLBACK_TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
MEMBERS = {"alice", "bob", "carol"}
UNLICENSED = "dave"  # a member of the app without an interface licence
APP_ID = 7


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(os.urandom(32))


@pytest.fixture
def wecom_app() -> WeComApp:
    """The app `sim` serves and `sender` posts for (tests/support/wecom.py)."""
    return WeComApp(AGENT_ID, SECRET, CALLBACK_TOKEN, AES_KEY, frozenset(MEMBERS), unlicensed=frozenset({UNLICENSED}))


@pytest.fixture
def creds(sim: WeComSimulator) -> WeComCredentials:
    return WeComCredentials(
        corp_id=sim.corp_id, agent_id=AGENT_ID, secret=SECRET, token=CALLBACK_TOKEN, encoding_aes_key=AES_KEY
    )


@pytest.fixture
def make_adapter(
    sim: WeComSimulator, creds: WeComCredentials, session: aiohttp.ClientSession, redis: Redis, box: SecretBox
) -> Callable[..., WeComAdapter]:
    """An adapter on the simulator; pass `redis=`/`broker=` to build a second 'worker'."""

    def make(**overrides: object) -> WeComAdapter:
        r = overrides.pop("redis", redis)
        credentials = overrides.pop("credentials", creds)
        kwargs: dict[str, object] = {
            "session": session,
            "broker": overrides.pop("broker", None) or TokenBroker(r, box),  # type: ignore[arg-type]
            "redis": r,
            "api_base": sim.url,
            "timeout_s": 2.0,
            "backoff_s": 0.01,
            "clock": sim.clock,
        }
        kwargs.update(overrides)
        return WeComAdapter(APP_ID, credentials, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def adapter(make_adapter: Callable[..., WeComAdapter]) -> WeComAdapter:
    return make_adapter()

