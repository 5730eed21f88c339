"""Issue 18, bounded audio: a hostile file is refused with `NotAudio` or `TooLong`, and decoding it never takes a
worker more than 100 MB above what it held (peak RSS, measured in a fresh child process per file)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from speech.audio import decode_audio
from speech.errors import NotAudio, TooLong
from tests.speech.hostile_audio import hostile

ROOT = Path(__file__).resolve().parents[2]
BUDGET_MB = 100
FILES = hostile()


def _decoded_in_a_child(name: str, honest: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "tests.speech.hostile_audio", name, str(honest)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_hostile_file_is_refused_in_bounded_memory(name: str, voice_dir: Path) -> None:
    result = _decoded_in_a_child(name, voice_dir / "d01.amr")
    assert result["error"] in {"NotAudio", "TooLong"}, result
    assert result["growth_mb"] < BUDGET_MB, result


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_is_refused_with_a_reason(name: str) -> None:
    with pytest.raises((NotAudio, TooLong)) as refused:
        decode_audio(FILES[name])
    assert refused.value.rep_message  # what the rep is told in chat


def test_the_review_file_is_as_small_as_reported() -> None:
    assert len(FILES["mkv-1hz-pcm"]) < 6_000
