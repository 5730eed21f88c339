"""The WeCom simulator and a callback sender for it, shared by the suites that talk to WeCom (a pytest plugin, see
tests/conftest.py), plus the aiohttp client session they send with.

A suite says which app it plays with one fixture, `wecom_app` (its agent id, secret, callback token and AES key,
the users of the app); `sim` is then a simulator serving that app and `sender` posts encrypted callbacks for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from tests.sim.wecom import CallbackSender, WeComSimulator


@dataclass(frozen=True)
class WeComApp:
    agent_id: int
    secret: str
    token: str
    aes_key: str
    members: frozenset[str]
    unlicensed: frozenset[str] = frozenset()
    corp_id: str | None = None  # the simulator's default corp id when None
    clock_at: float | None = None  # the simulator's clock starts here (epoch seconds) when given
    sender_options: dict[str, Any] = field(default_factory=dict)  # CallbackSender's timeout_s, attempts


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def sim(wecom_app: WeComApp) -> AsyncIterator[WeComSimulator]:
    async with WeComSimulator(*([wecom_app.corp_id] if wecom_app.corp_id else [])) as simulator:
        if wecom_app.clock_at is not None:
            simulator.clock.now = wecom_app.clock_at
        simulator.add_app(wecom_app.agent_id, wecom_app.secret, set(wecom_app.members),
                          unlicensed=set(wecom_app.unlicensed) or None)
        yield simulator


@pytest.fixture
def sender(sim: WeComSimulator, session: aiohttp.ClientSession, wecom_app: WeComApp) -> CallbackSender:
    return CallbackSender(session, token=wecom_app.token, encoding_aes_key=wecom_app.aes_key, corp_id=sim.corp_id,
                          agent_id=wecom_app.agent_id, simulator=sim, **wecom_app.sender_options)
