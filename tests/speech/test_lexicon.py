from __future__ import annotations

import json

import pytest

from speech.lexicon import Lexicon
from speech.phonetic import SoundIndex, Syllables, coarse, term_syllables
from speech.transcribe import format_hotwords


def test_default_holds_the_annotation_s_canonical_vendors_and_common_titles() -> None:
    lexicon = Lexicon.default()
    assert set(lexicon.competitors) == {"华为", "金蝶", "用友", "销售易", "纷享销客", "浪潮", "新华三", "阿里云", "腾讯云",
                                        "中兴", "鼎捷", "泛微", "致远"}
    assert "H3C" in lexicon.competitors["新华三"]
    for title in ("采购总监", "技术总监", "财务总监", "总经理", "董事长", "信息中心主任", "采购经理"):
        assert title in lexicon.titles


def test_json_round_trip_is_lossless_and_json_serialisable() -> None:
    lexicon = Lexicon.default()
    data = json.loads(json.dumps(lexicon.to_json(), ensure_ascii=False))
    assert Lexicon.from_json(data) == lexicon
    assert Lexicon.from_json(data).fingerprint == lexicon.fingerprint


def test_merge_adds_extends_and_removes() -> None:
    base = Lexicon.default()
    merged = base.merge({
        "competitors": {"星火": ["星火CRM"], "华为": ["HW"]},
        "titles": ["首席数据官"],
        "hotwords": ["星火"],
        "remove": {"competitors": ["致远"], "titles": ["董事长"]},
    })
    assert merged.competitors["星火"] == ("星火", "星火CRM")
    assert merged.competitors["华为"][-1] == "HW" and "华为" in merged.competitors["华为"]
    assert "致远" not in merged.competitors and "致远" in base.competitors
    assert "首席数据官" in merged.titles and "董事长" not in merged.titles
    assert merged.fingerprint != base.fingerprint
    assert "星火" in merged.transcription_hotwords()


def test_merge_is_idempotent() -> None:
    edits = {"competitors": {"星火": ["星火CRM"]}, "products": ["星火平台"]}
    once = Lexicon.default().merge(edits)
    assert once.merge(edits) == once


@pytest.mark.parametrize(
    ("heard", "meant", "exact"),
    [
        ("一算", "预算", False), ("议算", "预算", False), ("页算", "预算", False), ("因算", "预算", False),
        ("滑位", "华为", True), ("金跌", "金蝶", True), ("又有", "用友", False), ("总结", "总监", False),
        ("台务", "财务", False), ("金理", "经理", False), ("开表", "开标", True),
    ],
)
def test_sound_alikes_match(heard: str, meant: str, exact: bool) -> None:
    index = SoundIndex([(meant, meant)])
    [hit] = index.find(heard, Syllables(heard))
    assert (hit.term, hit.exact) == (meant, exact)


@pytest.mark.parametrize(("heard", "meant"), [("总价", "总监"), ("一样", "预算"), ("也有", "用友"), ("金额", "金蝶")])
def test_different_sounds_do_not_match(heard: str, meant: str) -> None:
    assert list(SoundIndex([(meant, meant)]).find(heard, Syllables(heard))) == []


def test_heteronyms_in_terms_are_read_as_phrases() -> None:
    assert term_syllables("行长") == ("hang", "zhang")
    assert coarse("zhang") == coarse("zang")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (None, None),
        ([], None),
        (["预算", "华为", "预算", " ", "金蝶"], "预算 华为 金蝶"),
        (["一二三四五"] * 1 + ["六七八九十"] * 1 + ["甲" * 60], "一二三四五 六七八九十"),
    ],
)
def test_hotwords_are_deduplicated_and_capped(words: list[str] | None, expected: str | None) -> None:
    assert format_hotwords(words) == expected
