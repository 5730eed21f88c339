from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.config import Settings
from bot.services import Services
from tests.sim.wecom import CallbackSender, WeComSimulator
from tests.support.speech import with_model
from tests.voice.support import AES_KEY, AGENT_ID, CALLBACK_TOKEN, MEMBERS, SECRET, SENT_AT, WeComWorld, make_world

VOICE = Path(__file__).resolve().parent.parent / "fixtures" / "voice"


def dev_rows() -> dict[str, dict]:
    lines = (VOICE / "dev_set.jsonl").read_text("utf-8").splitlines()
    return {row["id"]: row for row in map(json.loads, filter(None, lines))}


@pytest.fixture
def settings(settings: Settings, voice_model_dir: Path) -> Settings:
    """The session's settings with the bundled model, joined once for the session (tests/support/speech.py)."""
    return with_model(settings, voice_model_dir)


@pytest.fixture
async def sim() -> AsyncIterator[WeComSimulator]:
    async with WeComSimulator() as simulator:
        simulator.clock.now = SENT_AT.timestamp()
        simulator.add_app(AGENT_ID, SECRET, MEMBERS)
        yield simulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def sender(sim: WeComSimulator, http: aiohttp.ClientSession) -> CallbackSender:
    return CallbackSender(http, token=CALLBACK_TOKEN, encoding_aes_key=AES_KEY, corp_id=sim.corp_id,
                          agent_id=AGENT_ID, simulator=sim)


@pytest.fixture
async def world(services: Services, sim: WeComSimulator, sender: CallbackSender) -> WeComWorld:
    return await make_world(services, sim, sender)
