"""Exact term finding (leftmost-longest, no overlaps) and the tenant's jieba segmentation."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import jieba

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Span(Generic[T]):
    start: int
    end: int
    text: str
    payload: T


class TermFinder(Generic[T]):
    """Leftmost-longest literal matching over a few hundred terms.

    One regex alternation, longest terms first, so at each position the longest term wins and the scan runs in
    C: 4x faster than a Python loop over terms indexed by first character (bench: 0.12 vs 0.47 ms a summary
    for the ~1900 title spellings).
    """

    def __init__(self, terms: Iterable[tuple[str, T]]) -> None:
        self._payloads: dict[str, T] = {}
        for term, payload in terms:
            if term:
                self._payloads.setdefault(term, payload)
        alternatives = sorted(self._payloads, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def find(self, text: str) -> list[Span[T]]:
        if self._pattern is None:
            return []
        payloads = self._payloads
        return [Span(m.start(), m.end(), m[0], payloads[m[0]]) for m in self._pattern.finditer(text)]


_base_lock = threading.Lock()
_base: jieba.Tokenizer | None = None


def tenant_tokenizer(words: Iterable[str], *, freq: int = 200_000) -> jieba.Tokenizer:
    """A private jieba tokenizer: jieba's main dictionary plus the tenant's words, never the global `jieba.dt`.

    Loading the main dictionary takes ~1 s and ~50 MB, so it is loaded once per process into a base tokenizer
    that is never cut with; each tenant gets a shallow copy of its frequency table (the keys are shared) with
    its own words added at a frequency high enough to keep them whole ("华为" not "华"+"为").
    """
    base = _base_tokenizer()
    tokenizer = jieba.Tokenizer(base.dictionary)
    tokenizer.FREQ = dict(base.FREQ)
    tokenizer.total = base.total
    tokenizer.initialized = True
    for word in words:
        if word:
            tokenizer.add_word(word, freq=max(freq, tokenizer.FREQ.get(word, 0)))
    return tokenizer


def _base_tokenizer() -> jieba.Tokenizer:
    global _base
    with _base_lock:
        if _base is None:
            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            _base = tokenizer
        return _base


def token_bounds(tokenizer: jieba.Tokenizer, text: str) -> frozenset[int]:
    """Offsets where a token starts or ends: a match that cuts through a word (黄金跌 for 金跌) is not one."""
    bounds = {0, len(text)}
    pos = 0
    for token in tokenizer.cut(text, HMM=False):
        pos += len(token)
        bounds.add(pos)
    return frozenset(bounds)


def is_word(tokenizer: jieba.Tokenizer, text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is an ordinary dictionary word (化为, 又有, 总结, 运算)."""
    return tokenizer.FREQ.get(text[start:end], 0) > 0
