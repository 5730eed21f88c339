"""Typed corrections and the platform-text cross-check (bot.voice.revise), with the real default extractor."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from bot.voice.revise import (
    apply_correction,
    changed_labels,
    fill_gaps,
    found_any,
    names_a_field,
    normalize_typed,
)
from speech.extract import get_extractor
from speech.fields import Budget, Fields

CST = timezone(timedelta(hours=8))
REF = datetime(2026, 11, 20, 10, 0, tzinfo=CST)  # a Friday
HEARD = Fields(budget=Budget(500_000, 500_000), tender_date=date(2026, 12, 15), competitors=("华为",),
               concerns=("交付周期",), titles=("技术总监",), keywords=("私有化部署",))


@pytest.mark.parametrize(
    ("typed", "spoken"),
    [
        ("预算 80 万", "预算80万"),
        ("预算是80w", "预算80万"),
        ("预算改成 1.2亿", "预算1.2亿"),
        ("招标时间 改为 2026-12-03", "招标时间2026年12月3日"),
        ("招标 12/3", "招标12月3日"),
        ("开标日期应该是下周三", "开标日期下周三"),
        ("竞争对手是用友", "竞争对手用友"),
        ("竞品为华为", "竞品华为"),
        ("竞品华为", "竞品华为"),  # 为 ends 华为: only a verb right after a field's name goes
        ("预算：８０万", "预算80万"),  # full-width forms
    ],
)
def test_typing_habits_become_spoken_forms(typed: str, spoken: str) -> None:
    assert normalize_typed(typed) == spoken


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("预算 80万", {"budget": Budget(800_000, 800_000)}),
        ("预算 80 万", {"budget": Budget(800_000, 800_000)}),
        ("预算 80w", {"budget": Budget(800_000, 800_000)}),
        ("预算 80万到100万", {"budget": Budget(800_000, 1_000_000)}),
        ("招标 12月3日", {"tender_date": date(2026, 12, 3)}),
        ("招标时间改为12月10号", {"tender_date": date(2026, 12, 10)}),
        ("招标日期 2026-12-10", {"tender_date": date(2026, 12, 10)}),
        ("开标 下周三", {"tender_date": date(2026, 11, 25)}),
        ("竞品 金蝶", {"competitors": ("金蝶",)}),
        ("竞品 华为、金蝶", {"competitors": ("华为", "金蝶")}),
        ("联系人 财务总监", {"titles": ("财务总监",)}),
    ],
)
def test_a_correction_replaces_only_what_it_names(typed: str, expected: dict) -> None:
    found = get_extractor().extract(normalize_typed(typed), REF)
    assert names_a_field(typed) and found_any(found)
    corrected = apply_correction(HEARD, found)
    for name in ("budget", "tender_date", "competitors", "concerns", "titles", "keywords"):
        assert getattr(corrected, name) == expected.get(name, getattr(HEARD, name)), name


@pytest.mark.parametrize("typed", ["预算 很多", "招标 还没定", "竞品 不清楚"])
def test_a_correction_without_a_value_finds_nothing(typed: str) -> None:
    assert names_a_field(typed)
    assert not found_any(get_extractor().extract(normalize_typed(typed), REF))


@pytest.mark.parametrize("text", ["你好", "收到", "明天去拜访客户", "80万"])
def test_other_text_is_not_a_correction(text: str) -> None:
    assert not names_a_field(text)


def test_changed_labels_name_the_fields_that_differ() -> None:
    after = apply_correction(HEARD, Fields(budget=Budget(800_000, 800_000), competitors=("金蝶",)))
    assert changed_labels(HEARD, after) == ("预算", "竞品")
    assert changed_labels(HEARD, HEARD) == ()


@pytest.mark.parametrize(
    ("heard", "platform", "expected"),
    [
        pytest.param(Fields(), HEARD, HEARD, id="nothing heard: all from the platform"),
        pytest.param(HEARD, Fields(budget=Budget(1, 1), competitors=("用友",)), HEARD,
                     id="fields both have keep what we heard"),
        pytest.param(Fields(competitors=("华为",)), Fields(budget=Budget(9, 9), competitors=("用友",)),
                     Fields(budget=Budget(9, 9), competitors=("华为",)), id="only gaps are filled"),
        pytest.param(HEARD, Fields(), HEARD, id="the platform found nothing"),
    ],
)
def test_fill_gaps(heard: Fields, platform: Fields, expected: Fields) -> None:
    assert fill_gaps(heard, platform) == expected
