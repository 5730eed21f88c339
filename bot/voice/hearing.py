"""From a voice message to text: download, decode, transcribe; the platform's own recognition as the fallback.

Every way this can end short of a transcript is a `Refused` carrying the reply the rep gets (nothing is stored),
except transient platform errors, which go back to the queue (`arq.Retry`) while tries are left.
A platform may send its recognition of the message with it: when the audio cannot be had (download failed) or not
be transcribed (undecodable, model broken), the note is made from that text instead of being lost.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
from dataclasses import dataclass

from arq import Retry

from bot.errors import LeadbotError, PlatformError, RateLimited, TransientError
from bot.platforms.base import Adapter, Inbound
from bot.runtime import metrics
from bot.runtime.config import Settings
from bot.voice.engine import SLOT_WAIT_S, Busy, engine_for
from speech.errors import NotAudio, SpeechError, TooLong
from speech.lexicon import Lexicon

log = logging.getLogger(__name__)

# A 60 s voice message is ~90 KB as AMR, ~2 MB as 16 kHz WAV: anything far beyond is not a voice message.
MAX_VOICE_BYTES = 4 * 1024 * 1024
PLATFORM_MODEL = "platform-recognition"
NO_SPEECH = "这条语音没有听到清楚的说话内容（可能是静音或噪音），没有保存。请在安静处靠近话筒重新录制。"
DOWNLOAD_FAILED = "没能取到这条语音（文件可能已过期），没有保存，请重新发送。"
BUSY_DEFER_S = 3.0


class Refused(LeadbotError):
    """The note cannot be made; `rep_message` tells the rep why, `outcome` labels the metric."""

    def __init__(self, outcome: str, rep_message: str) -> None:
        super().__init__(f"{outcome}: {rep_message}")
        self.outcome = outcome
        self.rep_message = rep_message


@dataclass(frozen=True, slots=True)
class Heard:
    key: str  # sha256 of the audio; of the message's identity when only the platform's text was had
    duration_s: float
    transcript: str
    platform_text: str | None
    model: str
    elapsed_s: float = 0.0
    rtf: float = 0.0


@dataclass(frozen=True, slots=True)
class Attempt:
    """Which try of the job this is: the last one may not go back to the queue."""

    number: int
    last: int

    @property
    def final(self) -> bool:
        return self.number >= self.last


def audio_key(audio: bytes) -> str:
    return hashlib.sha256(audio).hexdigest()


def message_key(app_id: int, message: Inbound) -> str:
    """A note made from the platform's text alone is keyed on the message, so a retry finds it again."""
    return hashlib.sha256(f"platform-text:{message.platform}:{app_id}:{message.dedup_key}".encode()).hexdigest()


def check_length(message: Inbound) -> None:
    """Refuse before downloading when the platform already says the clip is too long (when it sends one)."""
    from speech.audio import MAX_DURATION_S  # PyAV: imported where audio is handled, in workers

    if message.duration_s is not None and message.duration_s > MAX_DURATION_S + 1:
        raise Refused("too_long", TooLong(message.duration_s, MAX_DURATION_S).rep_message)


async def fetch_audio(adapter: Adapter, message: Inbound, attempt: Attempt) -> bytes | None:
    """The audio, or None when only the platform's recognition is left to make the note from."""
    fallback = bool(message.recognition)
    if not message.media_ref:
        if fallback:
            return None
        raise Refused("not_audio", NotAudio.rep_message)
    try:
        return await adapter.download_media(message.media_ref, MAX_VOICE_BYTES)
    except (TransientError, RateLimited) as e:
        if not attempt.final:
            raise Retry(defer=getattr(e, "retry_after_s", 0) or 5 * attempt.number) from e
        log.warning("voice download failed on the last try: %s", e)
    except PlatformError as e:  # expired media id or download code, an error body, over the size cap
        log.warning("voice download refused: %s", e)
    if fallback:
        return None
    raise Refused("download_failed", DOWNLOAD_FAILED)


def from_platform(key: str, message: Inbound) -> Heard:
    metrics.VOICE_PLATFORM_TEXT.inc()
    text = (message.recognition or "").strip()
    return Heard(key, message.duration_s or 0.0, text, text, PLATFORM_MODEL)


async def transcribe(settings: Settings, lexicon: Lexicon, key: str, audio: bytes, message: Inbound,
                     attempt: Attempt) -> Heard:
    engine = engine_for(settings)
    try:
        result = await engine.transcribe(settings, audio, lexicon.transcription_hotwords(),
                                         wait_s=None if attempt.final else SLOT_WAIT_S)
    except TooLong as e:
        raise Refused("too_long", e.rep_message) from e
    except Busy as e:
        raise Retry(defer=BUSY_DEFER_S) from e
    except SpeechError as e:  # not audio, or the model cannot be had
        return _fallback(key, message, "not_audio" if isinstance(e, NotAudio) else "failed", e)
    except Exception as e:  # a model failure on this clip: a retry would fail the same way
        log.exception("transcription failed")
        return _fallback(key, message, "failed", SpeechError(str(e)))
    if result.no_speech:
        raise Refused("no_speech", NO_SPEECH)
    metrics.SPEECH_RTF.observe(result.rtf)
    if message.recognition:
        agreement = difflib.SequenceMatcher(None, result.text, message.recognition).ratio()
        log.info("voice cross-check: transcript and platform text agree %.2f", agreement)
    return Heard(key, result.duration_s, result.text, message.recognition, result.model, result.elapsed_s,
                 result.rtf)


def _fallback(key: str, message: Inbound, outcome: str, error: SpeechError) -> Heard:
    if message.recognition:
        log.warning("voice not transcribed (%s); using the platform's recognition", error)
        return from_platform(key, message)
    raise Refused(outcome, error.rep_message)
