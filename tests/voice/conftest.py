from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from bot.runtime.config import Settings
from bot.runtime.services import Services
from tests.sim.wecom import CallbackSender, WeComSimulator
from tests.support.speech import with_model
from tests.support.wecom import WeComApp
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
def wecom_app() -> WeComApp:
    """The app `sim` serves and `sender` posts for (tests/support/wecom.py), its clock at the voice notes' time."""
    return WeComApp(AGENT_ID, SECRET, CALLBACK_TOKEN, AES_KEY, frozenset(MEMBERS), clock_at=SENT_AT.timestamp())


@pytest.fixture
def http(session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    return session


@pytest.fixture
async def world(services: Services, sim: WeComSimulator, sender: CallbackSender) -> WeComWorld:
    return await make_world(services, sim, sender)
