from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

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


REF = "2026-11-20T10:00:00+08:00"  # a Friday


def budget(low: int, high: int | None = None) -> dict[str, Any]:
    return {"budget": {"min": low, "max": low if high is None else high}}


def check_fields(text: str, expect: dict[str, Any], ref: str = REF, *, ordered: bool = False) -> None:
    """The default extractor's fields named in `expect` (lists compared as sets unless `ordered`)."""
    from speech.extract import get_extractor

    got = get_extractor().extract(text, datetime.fromisoformat(ref)).to_json()
    for key, value in expect.items():
        if isinstance(value, list) and not ordered:
            assert sorted(got[key]) == sorted(value), (key, got[key])
        else:
            assert got[key] == value, (key, got[key])
