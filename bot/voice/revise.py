"""Changing a note's fields without a model: pure functions, tested by tables.

`fill_gaps`: a platform may send its own recognition of a voice message. It is a second opinion: a field our
transcript yields is kept as heard; a field only the platform's text yields fills the gap.

Typed corrections: after 更正 the rep types e.g. "预算 80万" or "招标 12月3日". The text goes through the same
extractor as a transcript, after `normalize_typed` turns typing habits the extractor was not built for (spaces,
"改为", "80w", "2026-12-03", "12/3") into the spoken forms it reads. Fields the correction names replace the
note's; the others stay as they were.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from typing import Any

from speech.fields import FIELDS, Fields

# Words that say "this text is about a field": only such text is taken as a correction.
FIELD_CUES = tuple(cue for spec in FIELDS for cue in spec.cues)
# "预算改为80万", "招标时间是12月3日": the verb between a field's name and its value goes; only right after a
# name, never elsewhere (为 ends 华为).
_FILLER = re.compile(
    r"((?:预算|招标|开标|投标截止|投标)(?:时间|日期|金额)?|竞品|竞争对手|对手|职务|职位|联系人|关注点|顾虑)"
    r"(?:改为|改成|更正为|修改为|应为|应该是|是|为|:|=)+"
)
_SPACE = re.compile(r"\s+")
_WAN_W = re.compile(r"(\d(?:\.\d+)?)[wW](?![a-zA-Z])")
_ISO_DATE = re.compile(r"(20\d\d)[-/.](\d{1,2})[-/.](\d{1,2})")
_MONTH_DAY = re.compile(r"(?<![\d.])(\d{1,2})/(\d{1,2})(?![\d/])")


def normalize_typed(text: str) -> str:
    """Typed habits into spoken forms: "招标时间 改为 2026-12-03" -> "招标时间2026年12月3日"."""
    text = _SPACE.sub("", unicodedata.normalize("NFKC", text))
    text = _FILLER.sub(r"\1", text)
    text = _WAN_W.sub(r"\1万", text)
    text = _ISO_DATE.sub(lambda m: f"{m[1]}年{int(m[2])}月{int(m[3])}日", text)
    return _MONTH_DAY.sub(lambda m: f"{int(m[1])}月{int(m[2])}日", text)


def names_a_field(text: str) -> bool:
    """Does typed text talk about a note field (so it is a correction, well-formed or not)?"""
    return any(cue in text for cue in FIELD_CUES)


_CORRECTABLE = tuple(spec for spec in FIELDS if spec.correctable)


def found_any(fields: Fields) -> bool:
    return any(getattr(fields, spec.name) for spec in _CORRECTABLE)


def apply_correction(note: Fields, typed: Fields) -> Fields:
    """The note's fields with what the correction found put in their place (keywords are left alone)."""
    changes = {s.name: getattr(typed, s.name) for s in _CORRECTABLE if getattr(typed, s.name)}
    return replace(note, **changes)


def changed_labels(before: Fields, after: Fields) -> tuple[str, ...]:
    return tuple(s.label for s in _CORRECTABLE if getattr(before, s.name) != getattr(after, s.name))


def fill_gaps(heard: Fields, second: Fields) -> Fields:
    """`heard`, with each empty field taken from `second` (a field both have keeps `heard`'s value)."""
    changes: dict[str, Any] = {}
    for spec in FIELDS:
        if not getattr(heard, spec.name) and getattr(second, spec.name):
            changes[spec.name] = getattr(second, spec.name)
    return replace(heard, **changes)
