"""Transcription with the real bundled model (slow: loads it once per session, ~1 s of audio work per test)."""

from __future__ import annotations

import asyncio
import io
import threading
import wave
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from speech.chinese import to_simplified
from speech.errors import NotAudio, TooLong
from speech.extract import get_extractor
from speech.lexicon import Lexicon
from speech.transcribe import Transcriber
from tests.speech.conftest import dev_rows

pytestmark = pytest.mark.slow
ROWS = {row["id"]: row for row in dev_rows()}
HOTWORDS = Lexicon.default().transcription_hotwords()


def _wav(samples: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return buf.getvalue()


@pytest.mark.parametrize(
    ("clip", "fields"),
    [
        ("d01.amr", {"budget": {"min": 500_000, "max": 500_000}, "tender_date": "2026-12-15", "competitors": ["华为"]}),
        ("d04.amr", {"budget": {"min": 800_000, "max": 1_000_000}, "tender_date": "2026-11-25", "titles": ["技术总监"]}),
        ("d09.amr", {"tender_date": "2026-12-10", "competitors": ["华为", "浪潮"]}),
        ("degraded/d02.amr", {"budget": {"min": 1_200_000, "max": 1_200_000}, "titles": ["采购总监"]}),
    ],
)
def test_voice_note_to_simplified_text_and_fields(
    transcriber: Transcriber, voice_dir: Path, clip: str, fields: dict
) -> None:
    result = transcriber.transcribe_sync((voice_dir / clip).read_bytes(), hotwords=HOTWORDS)
    assert result.text and not result.no_speech
    assert to_simplified(result.text) == result.text
    assert result.language == "zh"
    assert result.model == "whisper-base"
    assert result.duration_s > 5 and result.elapsed_s > 0
    assert result.rtf == pytest.approx(result.elapsed_s / result.duration_s, rel=0.01)
    ref = datetime.fromisoformat(ROWS[Path(clip).stem]["ref"])
    got = get_extractor().extract(result.text, ref).to_json()
    assert {key: got[key] for key in fields} == fields


@pytest.mark.parametrize(
    "kind", ["silence", "white_noise", "loud_white_noise", "mains_hum", "rumble", "long_silence"],
)
def test_silence_and_noise_give_no_text(transcriber: Transcriber, kind: str) -> None:
    rng = np.random.default_rng(5)
    n = 16_000 * (45 if kind == "long_silence" else 8)
    t = np.arange(n) / 16_000
    samples = {
        "silence": np.zeros(n),
        "long_silence": np.zeros(n),  # over 30 s: goes through speech.windows
        "white_noise": rng.normal(0, 0.05, n),
        "loud_white_noise": rng.normal(0, 0.2, n),
        "mains_hum": 0.3 * np.sin(2 * np.pi * 50 * t),
        "rumble": np.convolve(rng.normal(0, 0.5, n), np.ones(64) / 64, "same"),
    }[kind]
    result = transcriber.transcribe_sync(_wav(samples), hotwords=HOTWORDS)
    assert (result.text, result.no_speech) == ("", True)


def test_a_full_minute_is_transcribed_whole(transcriber: Transcriber, voice_dir: Path) -> None:
    result = transcriber.transcribe_sync(voice_dir / "long.amr", hotwords=HOTWORDS)
    fields = get_extractor().extract(result.text, datetime.fromisoformat("2026-11-20T10:00:00+08:00"))
    # the first summary and the last one are both in the text: no window was dropped
    assert {"华为", "纷享销客"} <= set(fields.competitors) and "集团采购" in result.text
    assert len(result.text) > 200


def test_errors_come_before_any_model_work(transcriber: Transcriber, voice_dir: Path) -> None:
    with pytest.raises(NotAudio):
        transcriber.transcribe_sync(b'{"errcode":42001,"errmsg":"access_token expired"}')
    short = Transcriber(transcriber.model_dir, max_duration_s=5)
    with pytest.raises(TooLong):
        short.transcribe_sync(voice_dir / "d01.amr")


class _Recording(Transcriber):
    """A real transcriber that also records how many calls were inside the model at once."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.inside = 0
        self.peak = 0
        self._count_lock = threading.Lock()

    def transcribe_sync(self, audio, *, prompt=None, hotwords=None):
        with self._count_lock:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
        try:
            return super().transcribe_sync(audio, prompt=prompt, hotwords=hotwords)
        finally:
            with self._count_lock:
                self.inside -= 1


async def test_async_calls_run_in_threads_within_the_bound(transcriber: Transcriber, voice_dir: Path) -> None:
    bounded = _Recording(transcriber.model_dir, cpu_threads=2, max_concurrency=1)
    clip = (voice_dir / "d03.amr").read_bytes()
    results = await asyncio.gather(*(bounded.transcribe(clip, hotwords=HOTWORDS) for _ in range(3)))
    assert bounded.peak == 1
    assert len({r.text for r in results}) == 1 and results[0].text
    ref = datetime.fromisoformat(ROWS["d03"]["ref"])
    assert get_extractor().extract(results[0].text, ref).competitors == ("用友",)


def test_one_model_per_process(transcriber: Transcriber) -> None:
    other = Transcriber(transcriber.model_dir, cpu_threads=2)
    transcriber.load()
    other.load()
    assert other._batched().model is transcriber._batched().model
