"""Packing a long voice note into as few 30 s decoder windows as its speech needs.

Whisper encodes fixed 30 s windows, so the number of windows sets most of the cost (one encoder pass is
0.65 s for the base model on 2 cores, a third of a 60 s note's budget). faster-whisper's batched pipeline packs
VAD speech, each stretch padded by 400 ms, greedily into windows; a 60 s note with few pauses then spills a
second or so into a third window. When that happens the padding is halved, which packs it into two. Short
notes are left to faster-whisper's own VAD: they fit one window whatever the padding, and 400 ms reads better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

SAMPLE_RATE = 16_000
WINDOW_S = 30.0
PADDINGS_MS = (400, 200)
_TRIM_PER_STRETCH_S = 0.2


@dataclass(frozen=True, slots=True)
class Packed:
    audio: np.ndarray  # the speech windows back to back
    clips: list[dict[str, float]]  # one {"start", "end"} (seconds in `audio`) per window


def pack_speech(samples: np.ndarray, vad: dict, *, window_s: float = WINDOW_S) -> Packed | None:
    """The windows to decode, or None when the note is short enough for faster-whisper's own VAD."""
    if samples.size <= window_s * SAMPLE_RATE:
        return None
    chunks: list[np.ndarray] = []
    for pad_ms in PADDINGS_MS:
        options = VadOptions(**{**vad, "speech_pad_ms": pad_ms, "max_speech_duration_s": window_s})
        speech = get_speech_timestamps(samples, options)
        if not speech:
            return Packed(np.zeros(0, dtype=np.float32), [])
        chunks, _ = collect_chunks(samples, speech, max_duration=window_s)
        # Another VAD pass (0.13 s) only when less padding can plausibly save a window: halving it trims at
        # least ~0.2 s per stretch of speech (less where two stretches shared a short pause).
        padded_s = sum(s["end"] - s["start"] for s in speech) / SAMPLE_RATE
        if math.ceil((padded_s - _TRIM_PER_STRETCH_S * len(speech)) / window_s) >= len(chunks):
            break
    clips, offset = [], 0
    for chunk in chunks:
        clips.append({"start": offset / SAMPLE_RATE, "end": (offset + chunk.size) / SAMPLE_RATE})
        offset += chunk.size
    return Packed(np.concatenate(chunks).astype(np.float32, copy=False), clips)
