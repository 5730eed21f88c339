"""Chinese and Arabic numerals as ASR writes them: "一百二十", "九万五", "三点五", "120", "3.5", "一个亿"."""

from __future__ import annotations

DIGITS = {
    "零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}
for _d in "0123456789":
    DIGITS[_d] = int(_d)
SMALL_UNITS = {"千": 1000, "百": 100, "十": 10}  # largest first: split 一百二十 at 百
BIG_UNITS = (("亿", 100_000_000), ("万", 10_000))
NUMERAL_CHARS = frozenset(DIGITS) | frozenset(SMALL_UNITS) | {"万", "亿", "点", ".", "个"}


def parse_number(text: str) -> float | None:
    """The value of a numeral string, or None when it is not one.

    A lone digit after a unit is the next unit down, the way people say prices: 九万五 = 95 000,
    一百五 = 150, 三千二 = 3 200. 个 is dropped (一个亿).
    """
    text = text.replace("个", "")
    if not text:
        return None
    try:
        return _parse(text)
    except (ValueError, KeyError):
        return None


def _parse(text: str) -> float:
    for unit, scale in BIG_UNITS:
        if unit in text:
            head, tail = text.split(unit, 1)
            value = (_parse(head) if head else 1) * scale
            return value + (_parse_tail(tail, scale) if tail else 0)
    for unit, scale in SMALL_UNITS.items():
        if unit in text and not _is_plain(text):
            head, tail = text.split(unit, 1)
            value = (_parse(head) if head else 1) * scale
            return value + (_parse_tail(tail, scale) if tail else 0)
    return _parse_plain(text)


def _parse_tail(tail: str, scale: int) -> float:
    if tail[0] in "零〇":
        return _parse(tail.lstrip("零〇"))
    if len(tail) == 1 and tail in DIGITS:
        return DIGITS[tail] * scale // 10
    return _parse(tail)


def _is_plain(text: str) -> bool:
    return all(ch in DIGITS or ch in ".点" for ch in text)


def _parse_plain(text: str) -> float:
    """Digits with an optional decimal point: "120", "3.5", "三点五", "二零二六"."""
    text = text.replace("点", ".")
    if text.count(".") > 1 or text in (".", ""):
        raise ValueError(text)
    whole, _, frac = text.partition(".")
    value = 0.0
    for ch in whole:
        value = value * 10 + DIGITS[ch]
    for i, ch in enumerate(frac, 1):
        value += DIGITS[ch] / 10**i
    return value
