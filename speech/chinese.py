"""Text normalisation shared by transcription and extraction: Simplified script, half-width forms."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from opencc import OpenCC


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional to Simplified; Whisper base drifts into Traditional for Mandarin more often than not."""
    return _t2s().convert(text) if text else text


def normalize(text: str) -> str:
    """NFKC folds full-width digits, letters and punctuation ("５０万", "，") to the forms the rules expect.

    NFKC keeps the length of CJK text, so offsets found on the result are offsets in the sentence as spoken.
    """
    return unicodedata.normalize("NFKC", text)
