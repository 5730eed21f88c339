"""Offline transcription with faster-whisper: one int8 model per process, bounded concurrency, Simplified out.

Speed settings (measured by bench/voice.py on 2 cores, base model, int8): the language is fixed to zh (saves a
language-detection encoder pass), greedy decoding (beam 1), and the batched pipeline, which cuts the clip at
VAD pauses and decodes the pieces together without timestamp tokens; notes over 30 s are packed into as few
30 s windows as their speech needs (`speech.windows`). The same VAD keeps silence away from the decoder, which
is where Whisper invents sentences; a no-speech gate drops what the decoder itself doubts.

`bench/decoding.py` compares the alternatives on the dev clips (issue #22): beam 3 lowered CER on the degraded clips
(0.108 -> 0.096) but cost ~14 % more time and no field F1; beam 2 and 5, no prompt, a longer domain prompt, no hot
words or cue words as hot words were worse on one count or more. Greedy decoding with the short prompt stays.
Measured again after round two's extraction changes: beam 3 takes degraded CER 0.106 -> 0.092 and leaves field F1
where it is (0.990 clean, 0.970 degraded), for 1.24x the time of greedy in the same run; the remaining degraded
misses are a wrong month (十月 for 十二月) and a title no sound rule can bring back (还购 for 采购), which beam 3 does
not fix either.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from speech.audio import MAX_DURATION_S, decode_audio
from speech.chinese import to_simplified
from speech.windows import pack_speech

# Short on purpose: every prompt token is decoded against each piece, and a 40-token prompt measured 40 %
# slower for no gain in accuracy; the tenant's hot words carry the vocabulary.
DEFAULT_PROMPT = "销售拜访小结，简体中文。"


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    duration_s: float
    elapsed_s: float
    rtf: float
    model: str
    no_speech: bool
    language: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DecodeSettings:
    """What is handed to faster-whisper; the defaults are the tuned ones (see bench/voice.py)."""

    beam_size: int = 1
    batch_size: int = 4
    # Whisper's own no-speech rule, applied per piece: the model thinks there is no speech AND is unsure of
    # the words it produced. Either alone drops real but quiet speech.
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    # Above this, the text is a repetition loop ("好的好的好的…"), the other shape of hallucination.
    compression_ratio_threshold: float = 2.4
    # faster-whisper's batched defaults; notes over 30 s are packed by `speech.windows` first
    vad_parameters: dict[str, Any] = field(default_factory=lambda: {"min_silence_duration_ms": 160})

    def whisper_kwargs(self) -> dict[str, Any]:
        return {
            "language": "zh",
            "beam_size": self.beam_size,
            "batch_size": self.batch_size,
            "vad_filter": True,
            "vad_parameters": dict(self.vad_parameters),
        }


_models: dict[tuple[str, int, int], Any] = {}
_models_lock = threading.Lock()


def shared_model(model_dir: Path, cpu_threads: int, num_workers: int = 1) -> Any:
    """The process's one WhisperModel for this directory, loaded on first use."""
    key = (str(model_dir), cpu_threads, num_workers)
    with _models_lock:
        if key not in _models:
            from faster_whisper import WhisperModel  # heavy import: only where a model is really needed

            _models[key] = WhisperModel(
                str(model_dir), device="cpu", compute_type="int8", cpu_threads=cpu_threads, num_workers=num_workers
            )
        return _models[key]


class Transcriber:
    """Transcribes voice notes; safe to share across tasks and threads of one process."""

    def __init__(
        self,
        model_dir: Path,
        *,
        cpu_threads: int = 2,
        max_concurrency: int = 1,
        settings: DecodeSettings | None = None,
        max_duration_s: float = MAX_DURATION_S,
        default_prompt: str | None = DEFAULT_PROMPT,
    ) -> None:
        self.model_dir = Path(model_dir)
        self.model_name = self.model_dir.name
        self.cpu_threads = cpu_threads
        self.max_concurrency = max_concurrency
        self.settings = settings or DecodeSettings()
        self.max_duration_s = max_duration_s
        self.default_prompt = default_prompt
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._pipeline: Any = None
        self._pipeline_lock = threading.Lock()

    def load(self) -> None:
        """Load the model now (a worker calls this at start so the first voice note does not wait for it)."""
        self._batched()

    async def transcribe(
        self, audio: bytes | Path, *, prompt: str | None = None, hotwords: list[str] | None = None
    ) -> Transcript:
        async with self._semaphore:
            return await asyncio.to_thread(self.transcribe_sync, audio, prompt=prompt, hotwords=hotwords)

    def transcribe_sync(
        self, audio: bytes | Path, *, prompt: str | None = None, hotwords: list[str] | None = None
    ) -> Transcript:
        started = time.perf_counter()
        decoded = decode_audio(audio, max_duration_s=self.max_duration_s)
        kwargs = self.settings.whisper_kwargs()
        samples = decoded.samples
        packed = pack_speech(samples, kwargs["vad_parameters"])
        if packed is not None:
            samples = packed.audio
            kwargs.update(vad_filter=False, clip_timestamps=packed.clips)
        pieces: list[str] = []
        if packed is None or packed.clips:
            segments, _ = self._batched().transcribe(
                samples,
                initial_prompt=prompt if prompt is not None else self.default_prompt,
                hotwords=format_hotwords(hotwords),
                **kwargs,
            )
            pieces = [seg.text for seg in segments if self._is_speech(seg)]
        text = to_simplified("".join(pieces).strip())
        elapsed_s = time.perf_counter() - started
        return Transcript(
            text=text,
            duration_s=round(decoded.duration_s, 3),
            elapsed_s=round(elapsed_s, 3),
            rtf=round(elapsed_s / decoded.duration_s, 4) if decoded.duration_s else 0.0,
            model=self.model_name,
            no_speech=not text,
            language=kwargs["language"],
        )

    def _is_speech(self, segment: Any) -> bool:
        s = self.settings
        if segment.no_speech_prob > s.no_speech_threshold and segment.avg_logprob < s.log_prob_threshold:
            return False
        return segment.compression_ratio <= s.compression_ratio_threshold

    def _batched(self) -> Any:
        with self._pipeline_lock:
            if self._pipeline is None:
                from faster_whisper import BatchedInferencePipeline

                model = shared_model(self.model_dir, self.cpu_threads, self.max_concurrency)
                self._pipeline = BatchedInferencePipeline(model)
            return self._pipeline


def format_hotwords(words: list[str] | None, *, max_chars: int = 60) -> str | None:
    """Hot words as one space-separated string, de-duplicated, capped so the prompt stays short.

    faster-whisper puts them before the previous-text prompt; past ~220 tokens it truncates silently and every
    token costs decoding time, so the caller's order (most important first) decides what is kept.
    """
    if not words:
        return None
    seen: list[str] = []
    length = 0
    for word in words:
        word = word.strip()
        if not word or word in seen:
            continue
        if length + len(word) + 1 > max_chars:
            break
        seen.append(word)
        length += len(word) + 1
    return " ".join(seen) or None
