"""Concern labels from what the client worries about or demands, said in their own words.

Each label has a family of cue patterns (`rules.json`): plain phrases (驻场, 脱敏, 账期) and pairs of word
groups in one clause ("{data}…{leave}": 数据 … 不能出省; "{peak}…{strain}": 月底 … 卡死). A cue does not count
when the client rules the concern out in the same clause (价钱倒好说, 数据安全不是问题, 客户倒没提价格), when it is
the rep's own worry (我自己有点担心, 领导催得紧), or when it sits inside a word that is no cue (对接人, 保证金) or
inside a client title (合规经理); and a worry about connecting systems gives way to a demand for custom work in
the same clause (定制开发一个接口对接现有系统 is 定制需求). Cue words ASR misspells (受后 for 售后, 等宝 for 等保)
are respelled by sound before this runs (`Extractor`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from speech.clauses import CLAUSE_BREAKS, clause_of
from speech.rules import CONCERNS, ConcernRules
from speech.terms import TermFinder

_GAP = 12  # chars between the two halves of an "A…B" cue
_RULED_OUT_REACH = 12  # chars between a cue and the words that rule it out (价格他们说不是最重要的)
_MASK = "□"
_GAP_RE = f"[^{re.escape(CLAUSE_BREAKS)}]{{0,{_GAP}}}?"


def compile_pattern(pattern: str, groups: dict[str, str]) -> str:
    """"{data}…不能出" -> a regex: each {group} an alternation, each … a short gap inside one clause."""
    parts = []
    for part in pattern.split("…"):
        pieces = re.split(r"(\{\w+\})", part)
        parts.append("".join(f"(?:{groups[p[1:-1]]})" if p.startswith("{") else re.escape(p) for p in pieces if p))
    return _GAP_RE.join(parts)


class ConcernFinder:
    def __init__(self, rules: ConcernRules) -> None:
        self.rules = rules
        self._patterns = {
            label: re.compile("|".join(compile_pattern(p, rules.groups) for p in rules.labels[label]))
            for label in CONCERNS if rules.labels.get(label)
        }
        self._not_cues = TermFinder((word, None) for word in rules.not_cues)
        self._ruled_out = re.compile("|".join(compile_pattern(p, rules.groups) for p in rules.ruled_out))
        self._own_voice = TermFinder((word, None) for word in rules.own_voice)

    def find(self, text: str, bounds: frozenset[int], masked: Iterable[tuple[int, int]]) -> tuple[str, ...]:
        """Labels in order of first mention. `masked`: spans that cannot hold a cue (client titles)."""
        chars = list(text)
        for start, end in [*((s.start, s.end) for s in self._not_cues.find(text)), *masked]:
            chars[start:end] = _MASK * (end - start)
        text = "".join(chars)
        ruled_out = [(m.start(), m.end()) for m in self._ruled_out.finditer(text)]
        own = self._own_voice.find(text)
        cues: dict[str, list[int]] = {}
        for label, pattern in self._patterns.items():
            for match in pattern.finditer(text):
                # a two-character cue may not cut through a word: 下周二开标 holds no 二开
                on_tokens = len(match[0]) > 2 or match.start() in bounds or match.end() in bounds
                if on_tokens and not self._discounted(text, match.start(), match.end(), ruled_out, own):
                    cues.setdefault(label, []).append(match.start())
        found = {}
        for label, starts in cues.items():
            stronger = cues.get(self.rules.yields.get(label, ""), [])
            starts = [s for s in starts if not any(clause_of(text, s) == clause_of(text, o) for o in stronger)]
            if starts:
                found[label] = starts[0]
        return tuple(sorted(found, key=lambda label: (found[label], CONCERNS.index(label))))

    def _discounted(self, text: str, start: int, end: int, ruled_out, own) -> bool:
        clause_start, clause_end = clause_of(text, start)
        before = text[max(clause_start, start - 3):start]
        if any(before.endswith(word) for word in self.rules.ruled_out_before):
            return True
        for span_start, span_end in ruled_out:
            if clause_start <= span_start and span_end <= clause_end:
                distance = span_start - end if span_start >= end else start - span_end
                if distance <= _RULED_OUT_REACH:
                    return True
        return any(clause_start <= span.start and span.end <= start for span in own)


def plain_words(rules: ConcernRules) -> list[str]:
    """The cue words that are plain Han words (whole patterns, and the words of each group), the ones worth
    matching by sound."""
    words = [p for patterns in rules.labels.values() for p in patterns if "…" not in p and "{" not in p]
    words += [w for group in rules.groups.values() for w in group.split("|")]
    return list(dict.fromkeys(w for w in words if len(w) >= 2 and all("\u4e00" <= ch <= "\u9fff" for ch in w)))
