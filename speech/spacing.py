"""Words ASR splits with a space or a comma (经 蝶, 采购 总监, 信息,中心主任), put back together.

Whisper ends a segment, or hesitates, inside a word; the rules see a space or a comma as a clause break and a
name cut in two as no name at all. A separator between two Han characters is dropped when the characters around
it then spell a known word that spans it (a vendor, a title, a cue word), or, for a space, sound like one (经 蝶).
Across a comma only a name counts, spelled right: 出省,这是底线 sounds like 省着 and 上下,下周三 holds 下下周.
A space inside a spoken amount or weekday (八十 万, 下周 四) goes too. Every other separator stays, so clauses keep
their breaks.
"""

from __future__ import annotations

from speech.numerals import NUMERAL_CHARS
from speech.phonetic import SoundIndex, Syllables
from speech.terms import TermFinder

_REACH = 5  # Han characters looked at on each side of a separator
_SOUNDED = " "  # the separator across which any word, spelled or sounded, is joined; the others take names


_NUMBER_ENDS = frozenset("号日月年岁块元到至")
_NOT_ALONE = frozenset("个点.")
_WEEK = frozenset("周拜期")  # 周 四, 礼拜 四, 星期 四
_WEEKDAYS = frozenset("一二三四五六日天")


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


class Rejoiner:
    def __init__(self, names: list[str], words: list[str]) -> None:
        """`names`: vendors and titles, joined across a comma too; `words`: everything joined across a space."""
        words = [w for w in dict.fromkeys(words) if len(w) >= 2]
        self._names = TermFinder((w, None) for w in names if len(w) >= 2)
        self._name_chars = frozenset(ch for w in names for ch in w)
        self._text = TermFinder((w, None) for w in words)
        self._sound = SoundIndex((w, None) for w in words)

    def __call__(self, text: str) -> str:
        cuts = [i for i in range(1, len(text) - 1) if text[i] in " ,、" and _is_han(text[i + 1])
                and (_is_han(text[i - 1]) or text[i - 1].isdigit())]
        if not cuts:
            return text
        chars = list(text)
        for i in reversed(cuts):
            if self._in_number(text, i) or self._joins(text, i):
                del chars[i]
        return "".join(chars)

    @staticmethod
    def _in_number(text: str, i: int) -> bool:
        """A space inside a spoken amount or date (八十 万, 一百一十万 到, 十二 号, 下周 四) is never a break."""
        before, after = text[i - 1], text[i + 1]
        if text[i] != " ":
            return False
        if before in _WEEK and after in _WEEKDAYS:
            return True
        return (before in NUMERAL_CHARS or before.isdigit()) and (after in NUMERAL_CHARS or after in _NUMBER_ENDS) \
            and not (before in _NOT_ALONE and after in _NOT_ALONE)

    def _joins(self, text: str, i: int) -> bool:
        left = i
        while left > max(0, i - _REACH) and _is_han(text[left - 1]):
            left -= 1
        right = i + 1
        while right < min(len(text), i + 1 + _REACH) and _is_han(text[right]):
            right += 1
        joined = text[left:i] + text[i + 1:right]
        seam = i - left
        if text[i] not in _SOUNDED:
            if text[i - 1] not in self._name_chars or text[i + 1] not in self._name_chars:
                return False
            return any(s.start < seam < s.end for s in self._names.find(joined))
        return any(s.start < seam < s.end for s in self._text.find(joined)) or any(
            h.start < seam < h.end for h in self._sound.find(joined, Syllables(joined)))
