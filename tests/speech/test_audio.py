from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import pytest

from speech.audio import SAMPLE_RATE, decode_audio
from speech.errors import NotAudio, SpeechError, TooLong

AMR_MAGIC = b"#!AMR\n"


def _encode(samples: np.ndarray, fmt: str, codec: str, rate: int = SAMPLE_RATE) -> bytes:
    """Encode float32 mono samples with libav, to feed the decoder formats the fixtures do not cover."""
    buf = io.BytesIO()
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    with av.open(buf, mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        frame_size = stream.codec_context.frame_size or 1024
        pcm = np.pad(pcm, (0, -len(pcm) % frame_size))  # fixed-frame codecs (Opus, AAC) want whole frames
        for offset in range(0, len(pcm), frame_size):
            frame = av.AudioFrame.from_ndarray(pcm[offset:offset + frame_size].reshape(1, -1), format="s16",
                                               layout="mono")
            frame.sample_rate = rate
            out.mux(stream.encode(frame))  # PyAV converts s16 to the codec's own sample format
        out.mux(stream.encode(None))
    return buf.getvalue()


def test_amr_from_bytes_and_from_path_agree(voice_dir: Path) -> None:
    path = voice_dir / "d01.amr"
    from_path = decode_audio(path)
    from_bytes = decode_audio(path.read_bytes())
    assert from_path.samples.dtype == np.float32
    assert from_path.samples.ndim == 1
    assert from_path.duration_s == pytest.approx(11.2, abs=0.2)
    assert np.array_equal(from_path.samples, from_bytes.samples)


def test_amr_and_wav_of_the_same_speech_have_the_same_length(voice_dir: Path) -> None:
    amr = decode_audio(voice_dir / "d01.amr")
    wav = decode_audio(voice_dir / "d01.wav")
    assert wav.duration_s == pytest.approx(amr.duration_s, abs=0.1)
    assert 0.01 < float(np.abs(wav.samples).mean()) < 1


@pytest.mark.parametrize(("fmt", "codec"), [("ogg", "libopus"), ("mp3", "libmp3lame"), ("mp4", "aac"), ("wav", "pcm_s16le")])
def test_common_formats_decode_to_16k_mono(voice_dir: Path, fmt: str, codec: str) -> None:
    reference = decode_audio(voice_dir / "d01.wav")
    rate = 48_000 if codec == "libopus" else SAMPLE_RATE
    encoded = _encode(np.interp(np.arange(0, len(reference.samples), SAMPLE_RATE / rate),
                                np.arange(len(reference.samples)), reference.samples), fmt, codec, rate)
    decoded = decode_audio(encoded)
    assert decoded.duration_s == pytest.approx(reference.duration_s, abs=0.15)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b'{"errcode":40007,"errmsg":"invalid media_id hint: [abc]"}',
        b"<html><body>404 Not Found</body></html>",
        bytes(range(256)) * 8,
        AMR_MAGIC,  # a header with no frames
    ],
    ids=["empty", "json-error-body", "html", "garbage", "amr-header-only"],
)
def test_what_is_not_audio_is_refused(payload: bytes) -> None:
    with pytest.raises(NotAudio):
        decode_audio(payload)


def test_missing_file_is_not_audio(tmp_path: Path) -> None:
    with pytest.raises(NotAudio):
        decode_audio(tmp_path / "nothing.amr")


def test_a_90_second_voice_message_is_refused(voice_dir: Path) -> None:
    # AMR files concatenate by dropping the later headers: long.amr (60 s) + three clips is about 90 s.
    parts = [voice_dir / name for name in ("long.amr", "d01.amr", "d02.amr", "d04.amr")]
    joined = AMR_MAGIC + b"".join(p.read_bytes()[len(AMR_MAGIC):] for p in parts)
    assert decode_audio(joined, max_duration_s=None).duration_s > 89
    with pytest.raises(TooLong) as refused:
        decode_audio(joined)
    assert refused.value.limit_s == 60
    assert "60 秒" in refused.value.rep_message
    assert isinstance(refused.value, SpeechError)


def test_the_60_second_clip_is_accepted_and_the_limit_is_a_parameter(voice_dir: Path) -> None:
    assert decode_audio(voice_dir / "long.amr").duration_s == pytest.approx(60.1, abs=0.1)
    with pytest.raises(TooLong):
        decode_audio(voice_dir / "d01.amr", max_duration_s=5)
