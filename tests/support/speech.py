"""The speech model for tests that transcribe (a pytest plugin, see tests/conftest.py): the bundled model joined
once per session, so every directory's worker loads the same model once per process (`bot.voice.engine` keeps one
engine per model path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runtime.config import Settings


@pytest.fixture(scope="session")
def voice_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from speech.model import resolve_model

    return resolve_model(tmp_path_factory.mktemp("voice-model"), None)


def with_model(settings: Settings, model_dir: Path) -> Settings:
    return settings.model_copy(update={"whisper_model": str(model_dir)})
