"""Text normalisation shared by transcription and extraction: Simplified script, half-width forms."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib import resources

from opencc import OpenCC


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


@lru_cache(maxsize=1)
def _traditional() -> frozenset[str]:
    """Every character the t2s tables change, alone or inside a phrase: text without one converts to itself."""
    chars: set[str] = set()
    tables = resources.files("opencc").joinpath("dictionary")
    for name in ("TSCharacters.txt", "TSPhrases.txt"):
        for line in tables.joinpath(name).read_text("utf-8").splitlines():
            key, _, values = line.partition("\t")
            value = values.split(" ")[0]
            chars.update(k for i, k in enumerate(key) if i >= len(value) or value[i] != k or len(key) != len(value))
    return frozenset(chars)


def to_simplified(text: str) -> str:
    """Traditional to Simplified; Whisper base drifts into Traditional for Mandarin more often than not.

    The converter is pure Python (0.2 ms a summary), so text with no Traditional character skips it.
    """
    if not text or _traditional().isdisjoint(text):
        return text
    return _t2s().convert(text)


def normalize(text: str) -> str:
    """NFKC folds full-width digits, letters and punctuation ("５０万", "，") to the forms the rules expect.

    NFKC keeps the length of CJK text, so offsets found on the result are offsets in the sentence as spoken.
    """
    return unicodedata.normalize("NFKC", text)
