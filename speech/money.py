"""Money amounts in a sentence, as spoken: 八十万, 一百二到一百五十万, 五六十万, 一两百万, 三百来万, 十二万八.

Amounts are runs of numerals that carry a magnitude (万, 亿, 千) or a currency word (元, 块); a run followed by
a counter (人, 台, 年, 号…) or preceded by 百分之 is something else. Which amount is the budget is decided in
`speech.budget`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from speech.numerals import DIGITS, parse_number
from speech.phonetic import char_syllable

_RUN = "[0-9零〇一二两三四五六七八九十百千万亿点.个多]+"
AMOUNT_RE = re.compile(
    rf"(?P<a>{_RUN})(?:(?P<sep>到|至|~|～|-|—|－)(?P<b>{_RUN}))?(?P<cur>元|块钱|块|人民币|rmb)?", re.IGNORECASE
)
_MAGNITUDE = frozenset("万亿千")
# what follows a number that is not money: headcounts, dates, durations, ordinals, ratios
_NOT_MONEY_AFTER = tuple("人名家台套天年月号日期周个次位平米吨件倍%岁层楼条张辆所间栋户株头只部份箱单") + (
    "小时", "多人", "多家")
# 五六十万, 一两百万: two neighbouring digits are a range
_CONSECUTIVE = {a + b for a, b in zip("一二两三四五六七八", "二三三四五六七八九")} | {"一两"}
# 几十万, 上百万, 数千万: an order of magnitude, not a figure
_VAGUE_BEFORE = frozenset("几上数好大")
# 亿 and 万 misheard after a numeral (一个以 for 一个亿) — only ever applied right after a budget cue.
_UNIT_SOUNDS = {"yi": "亿", "wan": "万"}
_NOT_UNIT_AFTER = frozenset("上下内外前后为来")


@dataclass(frozen=True, slots=True)
class Amount:
    start: int
    end: int
    low: int
    high: int


# 三百来万, 十来万: "some" like 多; rewritten to 多 (same length, offsets kept) so one rule reads both
_LAI = re.compile(r"(?<=[十百千])来(?=[万亿千块元])")


def find_amounts(text: str) -> list[Amount]:
    text = _LAI.sub("多", text)
    amounts = []
    for match in AMOUNT_RE.finditer(text):
        amount = _amount(text, match)
        if amount is not None:
            amounts.append(amount)
    return amounts


def _amount(text: str, match: re.Match[str]) -> Amount | None:
    a, b, cur = match["a"].strip(".点个"), match["b"], match["cur"]
    if not a or text[max(0, match.start() - 3):match.start()] == "百分之":
        return None
    if a[0] in "百千万亿" or not (a[0] == "十" or any(ch in DIGITS for ch in a)):
        return None  # a unit first is no figure: 千万别, 万一
    if match.start() > 0 and text[match.start() - 1] in _VAGUE_BEFORE:
        return None
    if text.startswith(_NOT_MONEY_AFTER, match.end()):
        return None
    if b is not None and match["sep"] in "-—－~～" and not (a.isascii() and b[:1].isascii()):
        b = None  # a dash between Chinese numerals is more likely punctuation than a range
    has_magnitude = bool(_MAGNITUDE & set(a + (b or ""))) or cur is not None
    if not has_magnitude:
        return None
    low_high = _range(a, b)
    if low_high is None:
        return None
    end = match.end() if b is not None else match.start("a") + len(match["a"]) + (len(cur) if cur else 0)
    return Amount(match.start(), end, *low_high)


def _range(a: str, b: str | None) -> tuple[int, int] | None:
    a = a.replace("多", "")
    if b is None:
        if len(a) >= 3 and a[:2] in _CONSECUTIVE:  # 五六十万 = 50万 to 60万
            low, high = parse_number(a[0] + a[2:]), parse_number(a[1:])
        else:
            low = high = parse_number(a)
    else:
        b = b.replace("多", "")
        unit = _trailing_units(b)
        if unit and not _trailing_units(a):
            a += unit  # 八十到一百万: the first figure shares the second one's unit
        low, high = parse_number(a), parse_number(b)
    if low is None or high is None or low <= 0:
        return None
    return (round(low), round(high)) if low <= high else (round(high), round(low))


def _trailing_units(text: str) -> str:
    units = ""
    for ch in reversed(text):
        if ch not in _MAGNITUDE:
            break
        units = ch + units
    return units


def repair_units(text: str, start: int, end: int) -> str:
    """Within text[start:end] (right after a budget cue), put 亿/万 back where ASR wrote a sound-alike."""
    chars = list(text)
    for i in range(max(start, 1), min(end, len(text))):
        unit = _UNIT_SOUNDS.get(char_syllable(chars[i]))
        if unit is None or chars[i] in DIGITS or chars[i] == unit:
            continue
        prev = chars[i - 1]
        numeral_before = prev in DIGITS or prev in "十百千" or (prev == "个" and i >= 2 and chars[i - 2] in DIGITS)
        if numeral_before and (i + 1 >= len(chars) or chars[i + 1] not in _NOT_UNIT_AFTER):
            chars[i] = unit
    return "".join(chars)
