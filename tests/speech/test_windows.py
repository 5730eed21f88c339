from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from speech.audio import SAMPLE_RATE, decode_audio
from speech.windows import WINDOW_S, pack_speech

VAD = {"min_silence_duration_ms": 160}


def test_short_notes_are_left_to_faster_whisper(voice_dir: Path) -> None:
    assert pack_speech(decode_audio(voice_dir / "d01.amr").samples, VAD) is None


def test_a_full_minute_packs_into_two_windows(voice_dir: Path) -> None:
    samples = decode_audio(voice_dir / "long.amr").samples
    packed = pack_speech(samples, VAD)
    assert packed is not None
    assert len(packed.clips) == math.ceil(samples.size / SAMPLE_RATE / WINDOW_S) - 1 == 2
    assert all(0 < clip["end"] - clip["start"] <= WINDOW_S for clip in packed.clips)
    assert packed.clips[-1]["end"] * SAMPLE_RATE == packed.audio.size
    assert packed.audio.dtype == np.float32


def test_a_long_silence_has_no_window() -> None:
    packed = pack_speech(np.zeros(SAMPLE_RATE * 45, dtype=np.float32), VAD)
    assert packed is not None and packed.clips == [] and packed.audio.size == 0


def test_speech_after_a_long_pause_is_kept(voice_dir: Path) -> None:
    speech = decode_audio(voice_dir / "d03.amr").samples
    samples = np.concatenate([np.zeros(SAMPLE_RATE * 40, dtype=np.float32), speech])
    packed = pack_speech(samples, VAD)
    assert packed is not None and len(packed.clips) == 1
    assert abs(packed.audio.size - speech.size) < SAMPLE_RATE * 2
