"""Sound-alike matching on toneless pinyin, for the words ASR gets wrong in a predictable way.

Whisper writes what it hears with the wrong characters: 一算/议算/因算 for 预算, 滑位 for 华为, 金跌 for 金蝶,
又有 for 用友, 总结 for 总监. Each character is reduced to one toneless syllable, then to a coarse key that
merges the confusions Mandarin ASR makes (zh/z, ch/c/t, sh/s, n/l, h/f, front/back nasals, ie/ian/in, ou/ong,
and the y- syllables yi/yu/ye/yin/yun). A hit is `exact` when the toneless syllables are equal and `near` when only the
coarse keys are; callers decide which needs context, so ordinary words (化为, 也有, 运算) do not fire alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, TypeVar

from pypinyin import Style, lazy_pinyin, pinyin

T = TypeVar("T")

_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z", "c",
             "s", "y", "w")
# 8 kHz AMR cuts the hiss that tells c/ch from t: 财务 comes back as 台务, 采购 as 台狗.
# h/f: 付款 heard as 护款, 服务 as 互务 (southern accents and a narrow band both blur them).
_INITIAL_MERGE = {"zh": "z", "ch": "t", "c": "t", "sh": "s", "n": "l", "f": "h"}
# -ian/-in: 信息 comes back as 现习, 金 as 间 (the vowel before a nasal is what a phone line loses).
_FINAL_MERGE = {"ang": "an", "eng": "en", "ing": "in", "iang": "in", "ian": "in", "ie": "in", "uang": "uan",
                "ou": "ong"}
# y- syllables: the vowel is what a noisy phone line blurs most (预算 heard as 一算, 页算, 因算, 运算).
_Y_FINAL_MERGE = {"u": "i", "e": "i", "in": "i", "un": "i", "ue": "i", "ing": "i", "i": "i",
                  "ou": "ong", "o": "ong", "ong": "ong", "uan": "an", "an": "an", "ang": "an"}


@lru_cache(maxsize=8192)
def char_syllable(ch: str) -> str:
    """The most common toneless reading of a Han character; anything else is itself, lower-cased."""
    if not ("\u4e00" <= ch <= "\u9fff"):
        return ch.lower()
    return pinyin(ch, style=Style.NORMAL, heteronym=False)[0][0]


def term_syllables(term: str) -> tuple[str, ...]:
    """Syllables of a lexicon term, read as a phrase so heteronyms come out right (银行 hang, 行长 zhang)."""
    return tuple(s.lower() for s in lazy_pinyin(term, style=Style.NORMAL))


def initial_of(syllable: str) -> str:
    return next((i for i in _INITIALS if syllable.startswith(i) and len(syllable) > len(i)), "")


@lru_cache(maxsize=4096)
def coarse(syllable: str) -> str:
    initial = initial_of(syllable)
    final = syllable[len(initial):]
    if initial == "y":
        return "y" + _Y_FINAL_MERGE.get(final, final)
    return _INITIAL_MERGE.get(initial, initial) + _FINAL_MERGE.get(final, final)


@dataclass(frozen=True, slots=True)
class Hit(Generic[T]):
    start: int
    end: int
    term: str
    payload: T
    exact: bool  # toneless syllables equal, not only the coarse keys


@dataclass(frozen=True, slots=True)
class _Entry(Generic[T]):
    term: str
    syllables: tuple[str, ...]
    payload: T


class SoundIndex(Generic[T]):
    """Finds lexicon terms by sound in a text whose syllables were computed once (`Syllables`).

    Terms are indexed by the coarse keys of their first two syllables, so a text costs one dict lookup per
    position whatever the number and lengths of the terms.
    """

    def __init__(self, terms: Iterable[tuple[str, T]], *, min_len: int = 2) -> None:
        by_key: dict[tuple[str, ...], list[_Entry[T]]] = {}
        for term, payload in terms:
            if len(term) < max(min_len, 2) or not all("\u4e00" <= ch <= "\u9fff" for ch in term):
                continue  # Latin names are matched as text; one Han character sounds like too many others
            syl = term_syllables(term)
            by_key.setdefault(tuple(coarse(s) for s in syl), []).append(_Entry(term, syl, payload))
        self._by_head: dict[tuple[str, str], list[tuple[tuple[str, ...], list[_Entry[T]]]]] = {}
        for key, entries in sorted(by_key.items(), key=lambda item: -len(item[0])):
            self._by_head.setdefault(key[:2], []).append((key, entries))

    def find(self, text: str, sounds: Syllables) -> Iterator[Hit[T]]:
        keys = sounds.coarse
        by_head = self._by_head
        for start in range(len(keys) - 1):
            candidates = by_head.get((keys[start], keys[start + 1]))
            if candidates is None:
                continue
            for key, entries in candidates:
                end = start + len(key)
                if keys[start:end] != key:
                    continue
                for entry in entries:
                    if text[start:end] == entry.term:
                        continue  # spelled right: the text matchers own it
                    exact = tuple(sounds.syllables[start:end]) == entry.syllables
                    yield Hit(start, end, entry.term, entry.payload, exact)


class Syllables:
    """Per-character toneless syllables and coarse keys of one text, computed once and shared by indexes."""

    __slots__ = ("coarse", "syllables")

    def __init__(self, text: str) -> None:
        self.syllables = [char_syllable(ch) for ch in text]
        self.coarse = tuple(coarse(s) if len(s) > 1 or s.isalpha() else s for s in self.syllables)


def respell(text: str, sounds: Syllables, index: SoundIndex[str], keep, guarded: frozenset[str] = frozenset()) -> str:
    """`text` with each term of `index` that ASR wrote with the wrong characters put back (same length, so
    offsets hold): only where the syllables are exactly the term's, `keep(start, end)` is false (the span is
    a word of its own, or cuts through one) and, for the `guarded` terms, the written characters do not already
    read as plain words (`reads_plainly`)."""
    chars = None
    for hit in index.find(text, sounds):
        if hit.exact and not keep(hit.start, hit.end) and not _before_count(text, hit) and not (
                hit.term in guarded and reads_plainly(text[hit.start:hit.end], hit.term)):
            chars = chars or list(text)
            chars[hit.start:hit.end] = hit.term
    return text if chars is None else "".join(chars)


_SPAN_OF_TIME = re.compile("[一二两三四五六七八九十半几]{1,3}个?(?:年|月|天|周|礼拜|星期|小时|钟头)")


def _before_count(text: str, hit: Hit) -> bool:
    """A cue whose last character is the one written differently, right before a span of time (运行满半年): the
    written character governs the span (满 half a year) and reads plainly; the cue (运行慢) would not take one.
    A level or a count of things after it (等宝三级) is no such evidence."""
    return text[hit.end - 1] != hit.term[-1] and _SPAN_OF_TIME.match(text, hit.end) is not None


# Characters that are words of their own in any sentence (是, 只, 就…): written where a cue has a sound-alike
# (试用, 市值), they are far likelier what was said than an ASR slip, so a span changing one is left alone.
_GRAMMATICAL = frozenset("是只就都也还在有的了着过不没要会能把被给让和跟对又再才")
# Degree words before one character (太满, 很忙): any adjective reads after them.
_DEGREE = frozenset("太很挺好真特最较更蛮")


def reads_plainly(written: str, term: str) -> bool:
    """Whether `written` (same syllables as the cue `term`, other characters) already reads as ordinary words,
    so respelling it would damage a right transcript: it starts with a degree word (挺急 -> 停机), a
    grammatical character would change (是用 -> 试用), or a two-character cue would change only the character
    beside a grammatical or degree word, one character of evidence for a swap any homophone makes
    (排期太满 -> 太慢, 的钱就没了 -> 迁就)."""
    changed = [i for i, (a, b) in enumerate(zip(written, term)) if a != b]
    if written[0] in _DEGREE or any(written[i] in _GRAMMATICAL for i in changed):
        return True  # 挺急 is "rather urgent" whatever cue it sounds like (停机)
    return len(term) == 2 and len(changed) == 1 and written[1 - changed[0]] in _GRAMMATICAL | _DEGREE
