from __future__ import annotations

from datetime import date

import pytest

from speech.dates import find_dates

FRI = date(2026, 11, 20)  # a Friday
MON = date(2026, 11, 16)


@pytest.mark.parametrize(
    ("text", "ref", "said", "day"),
    [
        ("下个月十五号招标", FRI, "下个月十五号", date(2026, 12, 15)),
        ("下月3号", FRI, "下月3号", date(2026, 12, 3)),
        ("十二月三号", FRI, "十二月三号", date(2026, 12, 3)),
        ("12月10日", FRI, "12月10日", date(2026, 12, 10)),
        ("明年一月八号", date(2026, 12, 28), "明年一月八号", date(2027, 1, 8)),
        ("1月8号", date(2026, 12, 28), "1月8号", date(2027, 1, 8)),  # January said in December is next year's
        # ANNOTATION.md: the next such date on or after the day it was said, even a few days back
        ("十一月十五号", FRI, "十一月十五号", date(2027, 11, 15)),
        ("十一月二十号", FRI, "十一月二十号", date(2026, 11, 20)),
        ("2027年1月5日", FRI, "2027年1月5日", date(2027, 1, 5)),
        ("二十五号", FRI, "二十五号", date(2026, 11, 25)),
        ("十号", FRI, "十号", date(2026, 12, 10)),  # already past this month: next month's
        ("下周三", MON, "下周三", date(2026, 11, 25)),
        ("下周3", MON, "下周3", date(2026, 11, 25)),
        ("下星期五", FRI, "下星期五", date(2026, 11, 27)),
        ("下下周一", FRI, "下下周一", date(2026, 11, 30)),
        ("这周三", FRI, "这周三", date(2026, 11, 18)),
        ("周三", FRI, "周三", date(2026, 11, 25)),  # this week's is past: the coming one
        ("周五", MON, "周五", date(2026, 11, 20)),
        ("月底", FRI, "月底", date(2026, 11, 30)),
        ("下个月底", FRI, "下个月底", date(2026, 12, 31)),
        ("业底", FRI, "业底", date(2026, 11, 30)),  # ASR's 月底
        ("年底", FRI, "年底", date(2026, 12, 31)),
        ("明天", FRI, "明天", date(2026, 11, 21)),
        ("后天", FRI, "后天", date(2026, 11, 22)),
        ("三天后", FRI, "三天后", date(2026, 11, 23)),
        ("两周后", FRI, "两周后", date(2026, 12, 4)),
    ],
)
def test_resolves_dates_against_the_message_time(text: str, ref: date, said: str, day: date) -> None:
    [mention] = find_dates(text, ref)
    assert (text[mention.start:mention.end], mention.day) == (said, day)


@pytest.mark.parametrize(
    "text",
    ["合同明年三月到期", "这个月就签", "十二月中旬", "下周再说", "三百多人", "二月三十号"],
)
def test_no_date_without_a_day(text: str) -> None:
    assert find_dates(text, FRI) == []


def test_finds_every_date_left_to_right() -> None:
    text = "下周二再去拜访一次,招标定在十二月十号"
    assert [m.day for m in find_dates(text, FRI)] == [date(2026, 11, 24), date(2026, 12, 10)]
