"""Calendar dates said the way reps say them, resolved against the moment the message was sent.

"十二月三号", "12月3日", "明年一月八号", "下个月十五号", "二十五号", "下周三", "周五", "月底", "九月底", "明天",
"三天后".
A bare day ("二十五号") or a month-day without a year is the next such date on or after the day it was said
(fixtures/text/ANNOTATION.md): said in late December, "一月八号" is next January.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from speech.numerals import parse_number
from speech.phonetic import char_syllable

_D = "(?:[0-9]{1,2}|[一二三四五六七八九十]{1,3})"
_M = "(?:[0-9]{1,2}|十[一二]?|[一二三四五六七八九])"
_WD = "[一二三四五六日天1-7]"
_WEEK = "(?:周|星期|礼拜)"
_REL_MONTH = "(?P<rel>下下个?月|下个?月|这个?月|本月|上个?月)"
_NOT_AFTER_NUMERAL = "(?<![0-9一二三四五六七八九十月])"

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("month_day", re.compile(
        rf"(?:(?P<yr>今年|明年|后年)|(?P<y4>[0-9]{{4}})年)?{_NOT_AFTER_NUMERAL}(?P<m>{_M})月(?P<d>{_D})(?:号|日)?")),
    ("rel_month_day", re.compile(rf"{_REL_MONTH}(?P<d>{_D})(?:号|日)")),
    ("named_month_end", re.compile(rf"{_NOT_AFTER_NUMERAL}(?P<m>{_M})月(?:底|末|份?最后一天)")),
    ("month_end", re.compile(r"(?:(?P<rel>下下个?|下个?|这个?|本)月?)?(?:月底|月末)")),
    ("year_end", re.compile(r"(?P<rel>今年|明年)?(?:年底|年末)")),
    # 下周的周三, 下个礼拜的礼拜五: the week named, then the day named again with its week word
    ("weekday", re.compile(rf"(?P<wk>下下个?{_WEEK}|下个?{_WEEK}|这个?{_WEEK}|本{_WEEK}|{_WEEK})(?:的?{_WEEK})?"
                           rf"(?P<wd>{_WD})")),
    ("day", re.compile(rf"{_NOT_AFTER_NUMERAL}(?P<d>{_D})(?:号|日)")),
    ("named_day", re.compile(r"大后天|后天|明天|明日|今天|今日")),
    ("days_later", re.compile(rf"(?P<n>{_D}|两)(?P<u>天|个?{_WEEK})(?:后|之后|以后)")),
)
_NAMED_DAYS = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2, "大后天": 3}
_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_MONTH_SHIFT = {"下下": 2, "下": 1, "这": 0, "本": 0, "上": -1}


@dataclass(frozen=True, slots=True)
class DateMention:
    start: int
    end: int
    day: date
    # 月底, 七月底, 年底: the first day of the period the end of which `day` stands for; a day in it said next
    # (七月底,应该是七月三十号) is the same date said precisely
    period: date | None = None


_PERIODS = {"month_end", "named_month_end", "year_end"}


def find_dates(text: str, ref: date) -> list[DateMention]:
    """Every resolvable date in `text`, left to right, overlaps resolved in favour of the longer mention."""
    text = repair_date_words(text)
    found: list[DateMention] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            day = _RESOLVERS[kind](match, ref)
            if day is not None:
                period = (date(day.year, 1, 1) if kind == "year_end" else day.replace(day=1)) \
                    if kind in _PERIODS else None
                found.append(DateMention(match.start(), match.end(), day, period))
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[DateMention] = []
    for mention in found:
        if not kept or mention.start >= kept[-1].end:
            kept.append(mention)
    return kept


_NUMERAL = "[0-9一二三四五六七八九十两]"
# The one-character date words ASR writes as a sound-alike, put back only where the numerals around them leave no
# other reading (same length, so offsets hold): 二十五毫 -> 二十五号, 十二曰三号 -> 十二月三号, 这洲五 -> 这周五,
# 辖个月 -> 下个月, 下吓周 -> 下下周, 业底 -> 月底.
_AFTER_DAY = "开标|招标|投标|截止|之前|以前|前|左右|前后|上午|下午|,|。|$"
_DATE_SOUNDS = (
    (re.compile(rf"(?<={_NUMERAL})[^\W\d_](?=(?:{_AFTER_DAY}))"), ("hao",), "号"),
    (re.compile(rf"(?<={_NUMERAL})[^\W\d_](?={_NUMERAL}{{1,3}}[号日])"), ("yue",), "月"),
    (re.compile(r"(?<=[下这本上])[^\W\d_](?=[一二三四五六日天1-7])"), ("zhou",), "周"),
    (re.compile(r"[^\W\d_](?=下?(?:周|个月|个?礼拜|个?星期))"), ("xia",), "下"),
    (re.compile(r"(?<!月)[^\W\d_](?=底)"), ("ye", "yue"), "月"),
)


def repair_date_words(text: str) -> str:
    for pattern, sounds, word in _DATE_SOUNDS:
        text = pattern.sub(_put_back(sounds, word), text)
    return text


def _put_back(sounds: tuple[str, ...], word: str):
    return lambda m: word if char_syllable(m[0]) in sounds else m[0]


def _num(text: str) -> int | None:
    value = parse_number(text)
    return int(value) if value is not None and value == int(value) else None


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _shift_month(ref: date, months: int) -> tuple[int, int]:
    index = ref.year * 12 + ref.month - 1 + months
    return index // 12, index % 12 + 1


def _month_day(match: re.Match[str], ref: date) -> date | None:
    month, day = _num(match["m"]), _num(match["d"])
    if month is None or day is None:
        return None
    if match["y4"]:
        return _safe_date(int(match["y4"]), month, day)
    if match["yr"]:
        return _safe_date(ref.year + {"今年": 0, "明年": 1, "后年": 2}[match["yr"]], month, day)
    found = _safe_date(ref.year, month, day)
    if found is None or found < ref:
        found = _safe_date(ref.year + 1, month, day)
    return found


def _rel_month_day(match: re.Match[str], ref: date) -> date | None:
    day = _num(match["d"])
    year, month = _shift_month(ref, _MONTH_SHIFT[match["rel"].rstrip("个月")])
    return _safe_date(year, month, day) if day else None


def _month_end(match: re.Match[str], ref: date) -> date | None:
    shift = _MONTH_SHIFT[match["rel"].rstrip("个")] if match["rel"] else 0
    year, month = _shift_month(ref, shift)
    return date(year, month, calendar.monthrange(year, month)[1])


def _named_month_end(match: re.Match[str], ref: date) -> date | None:
    """九月底: the last day of that month, the next one on or after the day it was said."""
    month = _num(match["m"])
    if not month or month > 12:
        return None
    year = ref.year + (1 if month < ref.month else 0)
    return date(year, month, calendar.monthrange(year, month)[1])


def _year_end(match: re.Match[str], ref: date) -> date | None:
    return date(ref.year + (1 if match["rel"] == "明年" else 0), 12, 31)


def _weekday(match: re.Match[str], ref: date) -> date | None:
    wd_text = match["wd"]
    weekday = int(wd_text) - 1 if wd_text.isdigit() else _WEEKDAYS[wd_text]
    monday = ref - timedelta(days=ref.weekday())
    prefix = match["wk"]
    if prefix.startswith("下下"):
        return monday + timedelta(days=14 + weekday)
    if prefix.startswith("下"):
        return monday + timedelta(days=7 + weekday)
    found = monday + timedelta(days=weekday)
    if prefix[0] in "这本":
        return found
    return found if found >= ref else found + timedelta(days=7)


def _day(match: re.Match[str], ref: date) -> date | None:
    day = _num(match["d"])
    if not day or day > 31:
        return None
    found = _safe_date(ref.year, ref.month, day)
    if found is None or found < ref:
        year, month = _shift_month(ref, 1)
        found = _safe_date(year, month, day)
    return found


def _named_day(match: re.Match[str], ref: date) -> date | None:
    return ref + timedelta(days=_NAMED_DAYS[match[0]])


def _days_later(match: re.Match[str], ref: date) -> date | None:
    n = _num(match["n"])
    if not n:
        return None
    return ref + timedelta(days=n * (1 if match["u"] == "天" else 7))


_RESOLVERS = {
    "month_day": _month_day,
    "rel_month_day": _rel_month_day,
    "named_month_end": _named_month_end,
    "month_end": _month_end,
    "year_end": _year_end,
    "weekday": _weekday,
    "day": _day,
    "named_day": _named_day,
    "days_later": _days_later,
}
