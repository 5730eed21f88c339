"""Errors the speech pipeline raises on purpose; each maps to a clear reply to the rep."""

from __future__ import annotations

from bot.errors import ConfigError, LeadbotError


class SpeechError(LeadbotError):
    """Base of the speech pipeline's errors."""


class NotAudio(SpeechError):
    """The bytes are not decodable audio: garbage, an HTML/JSON error body, zero length, or no audio stream."""


class TooLong(SpeechError):
    """The clip is longer than the limit; nothing was transcribed."""

    def __init__(self, duration_s: float, limit_s: float) -> None:
        self.duration_s = duration_s
        self.limit_s = limit_s
        super().__init__(f"audio is {duration_s:.1f} s long, the limit is {limit_s:.0f} s")


class ModelError(SpeechError):
    """The Whisper model cannot be prepared or loaded."""


class ModelDirInvalid(ModelError, ConfigError):
    """`LEADBOT_WHISPER_MODEL` names a directory that is not a CTranslate2 Whisper model."""
