"""Named things in a summary: competitors, client titles, concern labels, keywords.

Each is found spelled right (lexicon text, on jieba token boundaries) or by sound (`speech.phonetic`). A
sound-alike that is itself an ordinary word (化为, 又有, 总结), or matches only by the coarse key, counts only
with support: competitor talk nearby for competitors, a department heard right for titles.
"""

from __future__ import annotations

import jieba

from speech.lexicon import Lexicon
from speech.phonetic import Hit, SoundIndex, Syllables, char_syllable
from speech.rules import CONCERNS, Rules
from speech.terms import CLAUSE_BREAKS, Span, TermFinder, crosses_clause, is_word

_CONTEXT_WINDOW = 8
_CONNECTORS = frozenset({"和", "跟", "与", "、", "及", "以及", "还有", "或", "或者", ",", " "})
# a sound-alike title that is really the word it was spelled as: 写一份技术总结, 采购总结报告
_NOT_A_PERSON_AFTER = ("报告", "一下", "文档", "材料", "会议")
_NOT_A_PERSON_BEFORE = frozenset("份篇写做")
_DEPARTMENT_SUFFIXES = ("部", "中心", "办", "室", "处", "科")


class MentionFinder:
    def __init__(self, lexicon: Lexicon, rules: Rules, tokenizer: jieba.Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.rules = rules
        aliases = {alias.lower(): name for name, group in lexicon.competitors.items() for alias in group}
        self._ambiguous = {alias.lower() for alias in lexicon.context_required}
        self._competitor_text = TermFinder(aliases.items())
        self._competitor_sound = SoundIndex(aliases.items())
        self._context = TermFinder((cue, None) for cue in rules.competitor_context)
        self._titles = TermFinder(_title_spellings(lexicon))
        self._title_sound = SoundIndex((title, title) for title in lexicon.titles)
        self._departments = {title: _department(title, lexicon.title_roles) for title in lexicon.titles}
        self._own_side = rules.own_side
        concern_cues = [(cue, label) for label, cues in rules.concerns.items() for cue in cues]
        self._concern_text = TermFinder([*concern_cues, *((ex, None) for ex in rules.concern_exclusions)])
        self._concern_sound = SoundIndex(concern_cues)
        self._weak = frozenset(rules.concern_weak)
        vocabulary = [*lexicon.keywords, *lexicon.products]
        self._keywords = TermFinder((word.lower(), word) for word in vocabulary)

    # -- competitors -------------------------------------------------------------------------------------------
    def competitors(self, text: str, sounds: Syllables, bounds: frozenset[int]) -> tuple[str, ...]:
        strong: list[Span[str]] = []
        weak: list[Span[str]] = []
        for span in self._competitor_text.find(text):
            if span.start in bounds and span.end in bounds:
                (weak if span.text in self._ambiguous else strong).append(span)
        for hit in self._competitor_sound.find(text, sounds):
            if hit.start not in bounds or hit.end not in bounds or _overlaps(hit.start, hit.end, strong + weak):
                continue
            span = Span(hit.start, hit.end, text[hit.start:hit.end], hit.payload)
            ordinary = is_word(self.tokenizer, text, hit.start, hit.end) or hit.term in self._ambiguous
            (strong if hit.exact and not ordinary else weak).append(span)
        context = self._context.find(text)
        accepted = list(strong)
        for span in weak:
            if self._has_context(text, span, context) or _next_to(text, span, strong):
                accepted.append(span)
        return _unique(span.payload for span in sorted(accepted, key=lambda s: s.start))

    def _has_context(self, text: str, span: Span[str], context: list[Span[None]]) -> bool:
        for cue in context:
            if span.start - _CONTEXT_WINDOW <= cue.start and cue.end <= span.end + _CONTEXT_WINDOW:
                lo, hi = min(cue.end, span.end), max(cue.start, span.start)
                if not crosses_clause(text, lo, hi):
                    return True
        return False

    # -- titles -------------------------------------------------------------------------------------------------
    def titles(self, text: str, sounds: Syllables, bounds: frozenset[int]) -> tuple[str, ...]:
        found = [span for span in self._titles.find(text) if span.start in bounds]
        for hit in self._title_sound.find(text, sounds):
            if _overlaps(hit.start, hit.end, found) or text.startswith(_NOT_A_PERSON_AFTER, hit.end):
                continue
            if not hit.exact and hit.start > 0 and text[hit.start - 1] in _NOT_A_PERSON_BEFORE:
                continue
            department = self._departments[hit.payload]
            if self._title_heard(text, hit, department, bounds):
                found.append(Span(hit.start, hit.end, text[hit.start:hit.end], hit.payload))
        found = [span for span in found if not self._own(text, span.start)]
        return _unique(span.payload for span in sorted(found, key=lambda s: s.start))

    def _title_heard(self, text: str, hit: Hit[str], department: str, bounds: frozenset[int]) -> bool:
        """A sound-alike title counts when one half was heard right: the department (采购总结 -> 采购总监),
        or the role with a department that is no word of its own (台务总监 -> 财务总监); or, for the whole
        title, when it sounds exactly the same and is no ordinary word (总经历 -> 总经理)."""
        if hit.start not in bounds:
            return False  # 设备科副科长 also sounds like ...客服科长 from its second character on
        if department and text.startswith(department, hit.start):
            return True
        split = hit.start + len(department)
        if department and split not in bounds:
            return False  # the role half cuts through a word: 设备科副科长 is not ...客服科长
        if department and text.startswith(hit.payload[len(department):], split):
            return not is_word(self.tokenizer, text, hit.start, split)
        return hit.exact and hit.end in bounds and not is_word(self.tokenizer, text, hit.start, hit.end)

    def _own(self, text: str, start: int) -> bool:
        before = text[max(0, start - 4):start]
        return any(before.endswith((word, word + "的")) for word in self._own_side)

    # -- concerns -----------------------------------------------------------------------------------------------
    def concerns(self, text: str, sounds: Syllables, bounds: frozenset[int]) -> tuple[str, ...]:
        # exclusions (对接人, 服务器) carry no label: matched only so that 对接/服务 inside them are not
        spans: list[Span[str]] = [
            Span(s.start, s.end, s.text, s.payload) for s in self._concern_text.find(text) if s.payload is not None
        ]
        for hit in self._concern_sound.find(text, sounds):
            if _overlaps(hit.start, hit.end, spans) or hit.start not in bounds or hit.end not in bounds:
                continue
            if hit.exact and not is_word(self.tokenizer, text, hit.start, hit.end):
                spans.append(Span(hit.start, hit.end, text[hit.start:hit.end], hit.payload))
        labels = {span.payload for span in spans if not self._negated(text, span) and self._voiced(text, span)}
        order = {label: min(s.start for s in spans if s.payload == label) for label in labels}
        return tuple(sorted(labels, key=lambda label: (order[label], CONCERNS.index(label))))

    def _voiced(self, text: str, span: Span[str]) -> bool:
        if span.text not in self._weak:
            return True
        lo, hi = span.start, span.end
        while lo > 0 and span.start - lo < _CONTEXT_WINDOW and text[lo - 1] not in CLAUSE_BREAKS + ",":
            lo -= 1
        while hi < len(text) and hi - span.end < _CONTEXT_WINDOW and text[hi] not in CLAUSE_BREAKS + ",":
            hi += 1
        return any(trigger in text[lo:hi] for trigger in self.rules.concern_triggers)

    def _negated(self, text: str, span: Span[str]) -> bool:
        before, after = text[max(0, span.start - 5):span.start], text[span.end:span.end + 5]
        return any(neg in before for neg in self.rules.concern_negators_before) or any(
            after.startswith(neg) or after[1:].startswith(neg) for neg in self.rules.concern_negators_after
        )

    # -- keywords -----------------------------------------------------------------------------------------------
    def keywords(self, text: str, bounds: frozenset[int]) -> tuple[str, ...]:
        spans = self._keywords.find(text)
        return _unique(span.payload for span in spans if span.start in bounds and span.end in bounds)


def _title_spellings(lexicon: Lexicon) -> list[tuple[str, str]]:
    """Each title as written, plus 采购部经理 for 采购经理: the 部 is said half the time and means the same."""
    spellings = [(title.lower(), title) for title in lexicon.titles]
    for title in lexicon.titles:
        department = _department(title, lexicon.title_roles)
        if department and not department.endswith(_DEPARTMENT_SUFFIXES):
            spellings.append(((department + "部" + title[len(department):]).lower(), title))
    return spellings


def _department(title: str, roles: tuple[str, ...]) -> str:
    for role in sorted(roles, key=len, reverse=True):
        if title.endswith(role) and len(title) - len(role) >= 2:
            return title[: -len(role)]
    return ""


def _overlaps(start: int, end: int, spans: list[Span]) -> bool:
    return any(start < span.end and span.start < end for span in spans)


def _next_to(text: str, span: Span[str], others: list[Span[str]]) -> bool:
    """Joined to a competitor already found (华为和浪潮, 又有合金蝶): ASR writes 和 as 合/核/何 too."""
    for other in others:
        gap = text[other.end:span.start] if other.end <= span.start else text[span.end:other.start]
        if gap in _CONNECTORS or (len(gap) == 1 and char_syllable(gap) == "he"):
            return True
    return False


def _unique(items) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
