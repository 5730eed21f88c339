from __future__ import annotations

import json
from pathlib import Path

import pytest

VOICE = Path(__file__).resolve().parent.parent / "fixtures" / "voice"


def dev_rows() -> list[dict]:
    return [json.loads(line) for line in (VOICE / "dev_set.jsonl").read_text("utf-8").splitlines() if line]


@pytest.fixture(scope="session")
def voice_dir() -> Path:
    return VOICE


@pytest.fixture(scope="session")
def bundled_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real bundled model, joined once per test session into a fresh data dir."""
    from speech.model import resolve_model

    return resolve_model(tmp_path_factory.mktemp("data"), None)


@pytest.fixture(scope="session")
def transcriber(bundled_model_dir: Path):
    from speech.transcribe import Transcriber

    return Transcriber(bundled_model_dir, cpu_threads=2)
