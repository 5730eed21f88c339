"""The client's people by job title, once each, in order of first mention, in the form ANNOTATION.md lists.

Titles come from the lexicon (总经理, 采购总监: department + role, spelled right or by sound) and from the shape
of a unit's head: a unit name ending in 处 / 科 / 部 / 中心 / 办 / 室 / 委会 followed by the role that keeps its
unit (教务处处长, 护理部主任, 街道办主任, 管委会副主任). The unit's stem must be a word (教务, 护理, 街道), so a
role after any two characters is not a title.

Not counted: our own staff (我们区域总监), third parties (招标代理公司的项目经理, a competitor's people), words that
are not titles (董事会, 老板, 领导), a title taken back by a self-correction (财务总监,不对,是财务经理).
"""

from __future__ import annotations

import re

import jieba

from speech.clauses import clause_of
from speech.lexicon import Lexicon
from speech.phonetic import Hit, SoundIndex, Syllables
from speech.rules import Rules
from speech.terms import Span, TermFinder, is_word

# a sound-alike title that is really the word it was spelled as: 写一份技术总结, 采购总结报告
_NOT_A_PERSON_AFTER = ("报告", "一下", "文档", "材料", "会议")
_NOT_A_PERSON_BEFORE = frozenset("份篇写做")
_DEPARTMENT_SUFFIXES = ("部", "中心", "办", "室", "处", "科")
_CORRECTION_REACH = 10
_THIRD_PARTY_REACH = 8
_STEM_LENGTHS = (4, 3, 2, 1)


class TitleFinder:
    def __init__(self, lexicon: Lexicon, rules: Rules, tokenizer: jieba.Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.rules = rules
        spellings = [*_title_spellings(lexicon), *((word, None) for word in rules.titles.not_titles)]
        self._titles = TermFinder(spellings)
        self._sound = SoundIndex((title, title) for title in lexicon.titles)
        self._departments = {title: _department(title, lexicon.title_roles) for title in lexicon.titles}
        units = rules.titles.unit_roles
        alternatives = sorted((re.escape(unit + role) for unit, roles in units.items() for role in roles),
                              key=len, reverse=True)
        self._unit_title = re.compile("|".join(alternatives))
        self._units = sorted(units, key=len, reverse=True)
        self._third_party = tuple(rules.titles.third_party)
        self._corrections = TermFinder((w, True) for w in rules.corrections)
        own = "|".join(map(re.escape, rules.own_side))
        self._own_re = re.compile(rf"(?:{own})(?:这边|那边|公司|团队|自己)?(?:的)?(?:一个|两个|新来的)?$")

    def find(self, text: str, sounds: Syllables, bounds: frozenset[int], others: list[Span[str]]) -> list[Span[str]]:
        """Title spans (payload: the title as listed). `others`: competitor names, whose people are not clients."""
        found = [span for span in self._titles.find(text) if span.start in bounds]
        found = [span for span in found if span.payload is not None]
        found += [span for span in self._unit_titles(text) if not _overlaps(span.start, span.end, found)]
        for hit in self._sound.find(text, sounds):
            if _overlaps(hit.start, hit.end, found) or text.startswith(_NOT_A_PERSON_AFTER, hit.end):
                continue
            if not hit.exact and hit.start > 0 and text[hit.start - 1] in _NOT_A_PERSON_BEFORE:
                continue
            if self._heard(text, hit, self._departments[hit.payload], bounds):
                found.append(Span(hit.start, hit.end, text[hit.start:hit.end], hit.payload))
        found.sort(key=lambda s: s.start)
        found = [s for s in found if not self._own(text, s.start) and not self._third_party_of(text, s, others)]
        taken_back = self._taken_back(text, found)
        found = [span for span in found if span.start not in taken_back]
        # 副总 after 副总经理, 总工 after 总工程师: the short form refers back to the person already listed
        return [span for i, span in enumerate(found)
                if not any(len(other.payload) > len(span.payload) and other.payload.startswith(span.payload)
                           for other in found[:i])]

    def _unit_titles(self, text: str) -> list[Span[str]]:
        """教务处处长, 护理部主任, 管委会副主任: the longest stem before the unit that is a word of its own."""
        spans = []
        for match in self._unit_title.finditer(text):
            unit = next(u for u in self._units if match[0].startswith(u))
            for length in _STEM_LENGTHS:
                start = match.start() - length
                stem = text[max(0, start):match.start()]
                if start < 0 or not all("\u4e00" <= ch <= "\u9fff" for ch in stem):
                    continue
                if is_word(self.tokenizer, stem, 0, len(stem)) and (length > 1 or is_word(
                        self.tokenizer, stem + unit, 0, len(stem + unit))):
                    title = text[start:match.end()]
                    spans.append(Span(start, match.end(), title, title))
                    break
        return spans

    def _heard(self, text: str, hit: Hit[str], department: str, bounds: frozenset[int]) -> bool:
        """A sound-alike title counts when one half was heard right: the department (采购总结 -> 采购总监),
        or the role with a department that is no word of its own (台务总监 -> 财务总监); or, for the whole
        title, when it sounds exactly the same and is no ordinary word (总经历 -> 总经理)."""
        if hit.start not in bounds:
            return False  # 设备科副科长 also sounds like ...客服科长 from its second character on
        if hit.exact and hit.end in bounds and not is_word(self.tokenizer, text, hit.start, hit.end):
            return True
        if department and text.startswith(department, hit.start):
            return True
        split = hit.start + len(department)
        if department and split not in bounds:
            return False  # the role half cuts through a word: 设备科副科长 is not ...客服科长
        if department and text.startswith(hit.payload[len(department):], split):
            return not is_word(self.tokenizer, text, hit.start, split)
        return False

    def _own(self, text: str, start: int) -> bool:
        """我们区域总监, 我们这边的技术总监, 咱们公司的项目经理."""
        return self._own_re.search(text, max(0, start - 10), start) is not None

    def _third_party_of(self, text: str, span: Span[str], others: list[Span[str]]) -> bool:
        clause_start, _ = clause_of(text, span.start)
        lo = max(clause_start, span.start - _THIRD_PARTY_REACH)
        if any(word in text[lo:span.start] for word in self._third_party):
            return True
        return any(lo <= other.start and other.end <= span.start and text[other.end:span.start] in ("的", "那边的")
                   for other in others)

    def _taken_back(self, text: str, found: list[Span[str]]) -> set[int]:
        corrections = self._corrections.find(text)
        out = set()
        for span, following in zip(found, found[1:]):
            if following.start - span.end > _CORRECTION_REACH or following.payload == span.payload:
                continue
            if any(span.end <= c.start and c.end <= following.start for c in corrections):
                out.add(span.start)
        return out


def _title_spellings(lexicon: Lexicon) -> list[tuple[str, str | None]]:
    """Each title as written, plus 采购部经理 for 采购经理: the 部 is said half the time and means the same."""
    spellings: list[tuple[str, str | None]] = [(title.lower(), title) for title in lexicon.titles]
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
