"""The process's speech engine: one Whisper model per process, loaded once, with bounded concurrency.

Keyed by which model is configured (`LEADBOT_WHISPER_MODEL`, or the bundled one) and the concurrency, never by the
data dir: the bundled model is the same bytes wherever it was joined, so a process that opens several data dirs
(the tests do) still holds one model. The worker loads it at start (`preload`), so the first voice note does not
wait for it; a job that runs before that (a burst worker) loads it on first use.

Concurrency: at most `settings.speech_concurrency` transcriptions at once per process. A voice job waits a little
for a slot, then goes back to the queue (`Busy`) rather than holding one of the worker's job slots, which card
clicks need, for as long as a backlog of voice notes takes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from bot.errors import ConfigError, LeadbotError
from bot.runtime.config import Settings

if TYPE_CHECKING:  # faster-whisper, PyAV and numpy load with the model, not with the module (web processes)
    from speech.transcribe import Transcriber, Transcript

log = logging.getLogger(__name__)

# How long a voice job waits for a free transcription slot before it goes back to the queue.
SLOT_WAIT_S = 20.0


class Busy(LeadbotError):
    """Every transcription slot of this process stayed taken: try again a little later."""


class SpeechEngine:
    def __init__(self, settings: Settings) -> None:
        self.whisper_model = settings.whisper_model
        self.concurrency = settings.speech_concurrency
        # Per event loop: an asyncio.Semaphore belongs to the loop it first waited on.
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._transcriber: Transcriber | None = None
        self._lock = threading.Lock()

    def load(self, settings: Settings) -> Transcriber:
        """The transcriber with its model in memory (joins the bundled model into the data dir the first time)."""
        with self._lock:
            if self._transcriber is None:
                from speech.model import resolve_model
                from speech.transcribe import Transcriber

                model_dir = resolve_model(settings.data_dir, settings.whisper_model)
                threads = max(1, (os.cpu_count() or 2) // self.concurrency)
                transcriber = Transcriber(model_dir, cpu_threads=threads, max_concurrency=self.concurrency)
                transcriber.load()
                self._transcriber = transcriber
                log.info("speech model %s loaded (%d thread(s), %d at once)", transcriber.model_name, threads,
                         self.concurrency)
            return self._transcriber

    @asynccontextmanager
    async def slot(self, wait_s: float | None = SLOT_WAIT_S) -> AsyncIterator[None]:
        """Hold one transcription slot; `Busy` after `wait_s` (None: wait as long as it takes)."""
        loop = asyncio.get_running_loop()
        semaphore = self._slots.get(loop)
        if semaphore is None:
            semaphore = self._slots[loop] = asyncio.Semaphore(self.concurrency)
        try:
            await asyncio.wait_for(semaphore.acquire(), wait_s)
        except TimeoutError:
            raise Busy(f"all {self.concurrency} transcription slot(s) stayed busy for {wait_s} s") from None
        try:
            yield
        finally:
            semaphore.release()

    async def transcribe(self, settings: Settings, audio: bytes, hotwords: list[str], *,
                         wait_s: float | None = SLOT_WAIT_S) -> Transcript:
        """Decode and transcribe `audio` in a thread (raises `speech.errors` for audio that is not fit)."""
        async with self.slot(wait_s):
            transcriber = await asyncio.to_thread(self.load, settings)
            return await asyncio.to_thread(transcriber.transcribe_sync, audio, hotwords=hotwords)


_engines: dict[tuple[str | None, int], SpeechEngine] = {}
_engines_lock = threading.Lock()


def engine_for(settings: Settings) -> SpeechEngine:
    key = (settings.whisper_model, settings.speech_concurrency)
    with _engines_lock:
        if key not in _engines:
            _engines[key] = SpeechEngine(settings)
        return _engines[key]


async def preload(settings: Settings) -> None:
    """Load the model at worker start. A model that cannot be loaded does not stop the worker (cards and alerts
    still work; voice notes get the platform's text or an apology), except a wrong `LEADBOT_WHISPER_MODEL`,
    which is a configuration error like any other bad setting."""
    from speech.errors import ModelError, SpeechConfigError

    try:
        await asyncio.to_thread(engine_for(settings).load, settings)
    except SpeechConfigError as e:
        raise ConfigError(str(e)) from e
    except ModelError as e:
        log.error("speech model not loaded, voice notes cannot be transcribed: %s", e)
