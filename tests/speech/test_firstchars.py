"""The concern scan jumps between the characters a match can start with; it must find exactly what
`re.finditer` finds."""

from __future__ import annotations

import re

import pytest

from speech.concerns import _Scanner
from speech.extract import get_extractor
from speech.firstchars import first_chars
from speech.scoring import read_rows
from tests.speech.test_held_out import TEXT


@pytest.mark.parametrize(("pattern", "chars"), [
    ("价格|太贵", {"价", "太"}),
    ("(?:数据|资料)[^,]{0,12}?(?:不能出|外流)", {"数", "资"}),
    ("(?<![浪免经])费|[一二两]成", {"费", "一", "二", "两"}),
    ("(?:之前)?上线", {"之", "上"}),
    ("[^,]上线", None),  # any character: no jumping
    ("(?:a)?", None),  # an empty match: no jumping
])
def test_first_chars_of_a_pattern(pattern: str, chars: set[str] | None) -> None:
    assert first_chars(pattern) == (None if chars is None else frozenset(chars))


def test_the_scan_finds_what_finditer_finds_on_every_fixture() -> None:
    texts = [row["text"] for name in ("dev.jsonl", "paraphrases.jsonl", "fresh.jsonl", "tuning.jsonl")
             for row in read_rows(TEXT / name)]
    scanners = get_extractor()._concerns._patterns.values()
    assert all(s._starts is not None for s in scanners)  # every label's patterns can be jumped through
    for scanner in scanners:
        for text in texts:
            assert [m.span() for m in scanner.finditer(text)] == [m.span() for m in scanner.pattern.finditer(text)]


def test_a_pattern_without_first_characters_falls_back_to_finditer() -> None:
    scanner = _Scanner("[^,]上线")
    assert scanner._starts is None
    assert [m[0] for m in scanner.finditer("月底上线,明天上线")] == [m[0] for m in re.finditer("[^,]上线", "月底上线,明天上线")]
