from __future__ import annotations

import pytest

from speech.numerals import parse_number


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("五十", 50),
        ("十五", 15),
        ("二十五", 25),
        ("一百二十", 120),
        ("一百零五", 105),
        ("一百五", 150),  # a lone digit after a unit is the next unit down
        ("九万五", 95_000),
        ("一万二", 12_000),
        ("三千零五十", 3_050),
        ("两百万", 2_000_000),
        ("一百二十万", 1_200_000),
        ("一千二百万", 12_000_000),
        ("三点五万", 35_000),
        ("一个亿", 100_000_000),
        ("两亿五", 250_000_000),
        ("1亿2千万", 120_000_000),
        ("120万", 1_200_000),
        ("3.5万", 35_000),
        ("1.2亿", 120_000_000),
        ("8千", 8_000),
        ("8000", 8_000),
        ("二零二六", 2026),
    ],
)
def test_parses_numerals_as_spoken_and_as_asr_writes_them(text: str, value: float) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "点", "万点", "abc", "个"])
def test_rejects_what_is_not_a_number(text: str) -> None:
    assert parse_number(text) is None
