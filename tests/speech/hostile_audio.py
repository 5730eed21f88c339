"""Hostile audio files, made here, and a child process that decodes one and reports its peak memory.

Run as a script (`python -m tests.speech.hostile_audio NAME`) it decodes the named file with `speech.audio` in a
fresh process and prints `{"name", "error", "growth_mb"}`: the growth of the peak resident set (ru_maxrss) over
what the process held after a warm-up decode of an honest clip. A fresh process per file, because ru_maxrss only
ever rises. `bench/` has no place for this: it is a bound, not a speed.
"""

from __future__ import annotations

import io
import json
import resource
import struct
import sys

import av
import numpy as np


def _pcm(fmt: str, rate: int, n: int, codec: str = "pcm_s16le") -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, n), dtype=np.int16), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buf.getvalue()


def _wav(rate: int, channels: int, data: bytes, bits: int = 16) -> bytes:
    """A WAV file whose header says what we like (nothing checks it but the reader)."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)


def hostile() -> dict[str, bytes]:
    return {
        # The review's file: 4.6 KB of Matroska declaring 1 Hz PCM (2300 "seconds" in one frame).
        "mkv-1hz-pcm": _pcm("matroska", 1, 2300),
        "mkv-1hz-pcm-17k": _pcm("matroska", 1, 8000),
        "mkv-8khz-pcm": _pcm("matroska", 8000, 8000),  # plausible, but PCM is not a WebM codec
        "wav-1hz": _wav(1, 1, bytes(32_000)),
        "wav-3hz-long": _wav(3, 1, bytes(400_000)),
        "wav-1mhz": _wav(1_000_000, 1, bytes(64_000)),
        "wav-200-channels": _wav(8000, 200, bytes(400 * 200)),
        "wav-10-minutes": _wav(4000, 1, bytes(4000 * 2 * 600)),
    }


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(name: str, honest: str) -> None:
    from speech.audio import decode_audio

    decode_audio(honest)  # warm-up: libav's codecs and numpy's buffers as an ordinary note leaves them
    before = _peak_mb()
    error = None
    try:
        decode_audio(hostile()[name])
    except Exception as e:  # noqa: BLE001 - reported, not handled
        error = type(e).__name__
    print(json.dumps({"name": name, "error": error, "growth_mb": round(_peak_mb() - before, 1)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
