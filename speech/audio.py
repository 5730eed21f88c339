"""Decode any common audio format to 16 kHz mono float32 with PyAV (libav), refusing clips over the limit.

WeCom delivers voice as 8 kHz AMR-NB, DingTalk as AMR or OGG/Opus, a file upload may be anything: libav's
demuxer probes the container, so one code path serves them all. Downloads arrive in memory, hence bytes in.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from speech.errors import NotAudio, TooLong

SAMPLE_RATE = 16_000
MAX_DURATION_S = 60.0
# A voice message's own length metadata is rounded and AMR frames are 20 ms: allow a little slack so a clip
# the client reports as "60 s" is not refused for 60.02 s of samples.
_SLACK_S = 0.5


@dataclass(frozen=True, slots=True)
class Audio:
    samples: np.ndarray  # float32, mono, SAMPLE_RATE
    duration_s: float


def decode_audio(source: bytes | Path | str, *, max_duration_s: float | None = MAX_DURATION_S) -> Audio:
    """Decode `source` (the file's bytes, or a path) to 16 kHz mono float32.

    Raises `NotAudio` for anything libav cannot decode as audio and `TooLong` past `max_duration_s`
    (decoding stops as soon as the limit is passed, so a huge upload costs little).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise NotAudio("empty audio: zero bytes")
        opened: io.BytesIO | str = io.BytesIO(bytes(source))
    else:
        path = Path(source)
        if not path.is_file() or path.stat().st_size == 0:
            raise NotAudio(f"no audio at {path.name}: missing or empty file")
        opened = str(path)
    try:
        with av.open(opened, mode="r", metadata_errors="ignore") as container:
            return _decode_container(container, math.inf if max_duration_s is None else max_duration_s)
    except (av.FFmpegError, UnicodeDecodeError, IndexError, ValueError) as exc:
        raise NotAudio(f"not decodable audio: {type(exc).__name__}") from exc


def _decode_container(container: av.container.InputContainer, max_duration_s: float) -> Audio:
    limit_s = max_duration_s + _SLACK_S
    if not container.streams.audio:
        raise NotAudio("no audio stream in the file")
    stream = container.streams.audio[0]
    # The container's declared duration is not trusted: for AMR libav estimates it from the bitrate (long.amr
    # "lasts" 62.0 s by that guess, 60.1 s in samples). Counting decoded samples stops early enough.
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    n_samples = 0
    for frame in container.decode(stream):
        for out in resampler.resample(frame):
            chunk = out.to_ndarray().reshape(-1)
            chunks.append(chunk)
            n_samples += chunk.size
        if n_samples / SAMPLE_RATE > limit_s:
            raise TooLong(n_samples / SAMPLE_RATE, max_duration_s)
    for out in resampler.resample(None):
        chunk = out.to_ndarray().reshape(-1)
        chunks.append(chunk)
        n_samples += chunk.size
    if n_samples == 0:
        raise NotAudio("the audio stream holds no samples")
    samples = np.concatenate(chunks).astype(np.float32, copy=False)
    duration_s = samples.size / SAMPLE_RATE
    if duration_s > limit_s:
        raise TooLong(duration_s, max_duration_s)
    return Audio(samples=samples, duration_s=duration_s)

