"""Cutting user text to fit: by characters, never through one, never off its combining mark or joiner."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cards.limits import ELLIPSIS, clean, truncate, truncate_bytes

FAMILY = "👨\u200d👩\u200d👧"  # one glyph, five code points
E_ACUTE = "e\u0301"
THUMB = "👍🏽"  # base + skin tone


@pytest.mark.parametrize(
    "text,n,expected",
    [
        ("abc", 3, "abc"),
        ("abcd", 3, "ab…"),
        ("杭州云帆科技有限公司", 10, "杭州云帆科技有限公司"),
        ("杭州云帆科技有限公司华东分公司", 10, "杭州云帆科技有限公…"),
        ("ab" + E_ACUTE + "x", 4, "ab…"),  # cutting after "e" would strip its accent
        ("a" + THUMB + "b", 3, "a…"),
        ("a" + FAMILY + "b", 4, "a…"),
        ("a" + FAMILY + "b", 7, "a" + FAMILY + "b"),
        ("", 1, ""),
    ],
)
def test_truncate(text, n, expected):
    assert truncate(text, n) == expected


@pytest.mark.parametrize(
    "text,n,expected",
    [
        ("abc", 3, "abc"),
        ("中文字", 9, "中文字"),
        ("中文字", 8, "中…"),  # "…" is 3 bytes: 中 (3) + … (3) fits in 8, 中文 + … does not
        ("a" + E_ACUTE + "bc", 6, "a" + E_ACUTE + "bc"),  # 6 bytes: fits
        ("a" + E_ACUTE + "bc", 5, "a…"),  # "ae…" would strip the accent off its e
    ],
)
def test_truncate_bytes(text, n, expected):
    assert truncate_bytes(text, n) == expected


@given(st.text(max_size=80), st.integers(1, 40))
def test_truncate_never_exceeds_and_keeps_a_prefix(text, n):
    out = truncate(text, n)
    assert len(out) <= n
    assert out == text or (out.endswith(ELLIPSIS) and text.startswith(out[:-1]))


@given(st.text(max_size=80), st.integers(4, 60))
def test_truncate_bytes_stays_valid_utf8_within_the_budget(text, n):
    out = truncate_bytes(clean(text), n)
    assert len(out.encode("utf-8")) <= n


@pytest.mark.parametrize(
    "text,one_line,expected",
    [
        ("  a\x00b\x07c  ", False, "abc"),
        ("line1\nline2", False, "line1\nline2"),
        ("line1\n\t line2", True, "line1 line2"),
        ("bad \ud83d surrogate", False, "bad ? surrogate"),
    ],
)
def test_clean(text, one_line, expected):
    assert clean(text, one_line=one_line) == expected
