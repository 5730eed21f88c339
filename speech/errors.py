"""Errors the speech pipeline raises on purpose; each maps to a clear reply to the rep.

speech/ imports nothing of the service, so these have their own base; the service maps them where it calls
the pipeline (a `SpeechConfigError` at worker start becomes its `ConfigError`).
"""

from __future__ import annotations


class SpeechError(Exception):
    """Base of the speech pipeline's errors; `rep_message` is the reply the rep sees in chat."""

    rep_message = "语音处理失败，请稍后重试，或直接发送文字小结。"


class NotAudio(SpeechError):
    """The bytes are not decodable audio: garbage, an HTML/JSON error body, zero length, or no audio stream."""

    rep_message = "没能识别这条语音（文件不是可播放的音频），请重新录制发送。"


class TooLong(SpeechError):
    """The clip is longer than the limit; nothing was transcribed."""

    def __init__(self, duration_s: float, limit_s: float) -> None:
        self.duration_s = duration_s
        self.limit_s = limit_s
        self.rep_message = f"语音超过 {limit_s:.0f} 秒，没有保存。请分成几段较短的语音发送。"
        super().__init__(f"audio is {duration_s:.1f} s long, the limit is {limit_s:.0f} s")


class ModelError(SpeechError):
    """The Whisper model cannot be prepared or loaded."""


class SpeechConfigError(SpeechError):
    """A setting the speech pipeline reads is wrong; the message names the variable."""


class ModelDirInvalid(ModelError, SpeechConfigError):
    """`LEADBOT_WHISPER_MODEL` names a directory that is not a CTranslate2 Whisper model."""
