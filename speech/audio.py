"""Decode the audio formats voice notes come in to 16 kHz mono float32 with PyAV (libav), in bounded memory.

Chat platforms deliver voice as 8 kHz AMR-NB, AMR-WB or OGG/Opus, a file upload may be MP3, AAC/M4A, WAV, FLAC or
WebM: libav's demuxer probes the container, so one code path serves them all. Downloads arrive in memory, hence
bytes in.

Whatever arrives was chosen by someone else, so the work is bounded before it is done (a 4.6 KB Matroska file
declaring 1 Hz PCM once made the resampler allocate gigabytes): only the containers and codecs above are opened
(`ALLOWED`), a stream or frame with an absurd sample rate or channel count is refused before anything is
resampled, each frame's duration is counted *before* it is resampled (so one giant frame is refused, not
expanded), and the decoded bytes have a budget proportional to the duration limit.
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
# What a voice note can sensibly be: telephone-band AMR at 8 kHz up to studio 192 kHz, mono to 7.1.
MIN_RATE, MAX_RATE = 4_000, 192_000
MAX_CHANNELS = 8
# Decoded input a second of voice may cost: 48 kHz stereo float32. A 60 s limit allows ~23 MB through the decoder.
DECODED_BYTES_PER_S = 48_000 * 2 * 4
_PCM = frozenset({"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_u8", "pcm_mulaw", "pcm_alaw"})
# libav's demuxer name -> the decoders accepted inside it (Matroska and WebM share one demuxer: Opus/Vorbis only).
ALLOWED: dict[str, frozenset[str]] = {
    "amr": frozenset({"amrnb", "amrwb"}),
    "mp3": frozenset({"mp3", "mp3float"}),
    "aac": frozenset({"aac"}),
    "mov,mp4,m4a,3gp,3g2,mj2": frozenset({"aac", "amrnb", "amrwb"}),
    "ogg": frozenset({"opus", "libopus", "vorbis", "libvorbis", "flac"}),
    "matroska,webm": frozenset({"opus", "libopus", "vorbis", "libvorbis"}),
    "wav": _PCM,
    "flac": frozenset({"flac"}),
}


@dataclass(frozen=True, slots=True)
class Audio:
    samples: np.ndarray  # float32, mono, SAMPLE_RATE
    duration_s: float


def decode_audio(source: bytes | Path | str, *, max_duration_s: float | None = MAX_DURATION_S) -> Audio:
    """Decode `source` (the file's bytes, or a path) to 16 kHz mono float32.

    Raises `NotAudio` for anything that is not one of the accepted formats or that libav cannot decode, and
    `TooLong` past `max_duration_s` (decoding stops as soon as the limit is passed, so a huge upload costs little).
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
            stream = _allowed_stream(container)
            return _decode_stream(container, stream, math.inf if max_duration_s is None else max_duration_s)
    except (av.FFmpegError, UnicodeDecodeError, IndexError, ValueError, MemoryError) as exc:
        raise NotAudio(f"not decodable audio: {type(exc).__name__}") from exc


def _allowed_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    codecs = ALLOWED.get(container.format.name)
    if codecs is None:
        raise NotAudio(f"not an accepted audio format: {container.format.name}")
    if not container.streams.audio:
        raise NotAudio("no audio stream in the file")
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    if ctx.name not in codecs:
        raise NotAudio(f"{ctx.name} audio is not accepted in {container.format.name}")
    _check_shape(ctx.sample_rate, ctx.layout.nb_channels)
    return stream


def _check_shape(rate: int, channels: int) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise NotAudio(f"sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise NotAudio(f"{channels} channels is outside 1-{MAX_CHANNELS}")


def _decode_stream(container: av.container.InputContainer, stream: av.audio.stream.AudioStream,
                   max_duration_s: float) -> Audio:
    limit_s = max_duration_s + _SLACK_S
    budget = limit_s * DECODED_BYTES_PER_S
    # The container's declared duration is not trusted: for AMR libav estimates it from the bitrate (long.amr
    # "lasts" 62.0 s by that guess, 60.1 s in samples). Counting decoded samples stops early enough.
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    n_samples = 0
    decoded_s = 0.0
    decoded_bytes = 0
    for frame in container.decode(stream):
        # Checked on the frame as decoded, before the resampler sees it: the stream header may have lied.
        _check_shape(frame.sample_rate, frame.layout.nb_channels)
        decoded_s += frame.samples / frame.sample_rate
        decoded_bytes += sum(plane.buffer_size for plane in frame.planes)
        if decoded_s > limit_s:
            raise TooLong(decoded_s, max_duration_s)
        if decoded_bytes > budget:
            raise NotAudio(f"over {budget / 1e6:.0f} MB of decoded audio for {max_duration_s:g} s")
        for out in resampler.resample(frame):
            chunk = out.to_ndarray().reshape(-1)
            chunks.append(chunk)
            n_samples += chunk.size
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
