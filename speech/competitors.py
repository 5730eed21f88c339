"""Competitors named in a summary, canonical names in order of first mention.

A name is found spelled right (lexicon text, on jieba token boundaries) or by sound (`speech.phonetic`). A
sound-alike that is itself an ordinary word (化为, 重新) or matches only by the coarse key counts only with
competitor talk nearby; an inexact sound-alike that is an ordinary word never does.

Who counts (fixtures/text/ANNOTATION.md): a vendor that competes, has pitched or is the client's current supplier.
Not counted: the rep's own company (咱们华为这边), a partner in our bid (联合投标, 牵头, 原厂支持我们, 我们用X的服务器
去投), a vendor said to stay out (没来, 不投了, 不做这块). What is said of a name reaches from it to the next name
not joined to it (金蝶跟用友都不做这块 covers both) or the end of the sentence; a self-correction (金蝶,不对,是鼎捷)
drops the name it corrects.
"""

from __future__ import annotations

from dataclasses import dataclass

import jieba

from speech.clauses import SENTENCE_BREAKS, clause_of
from speech.lexicon import Lexicon
from speech.phonetic import SoundIndex, Syllables, char_syllable
from speech.rules import Rules
from speech.terms import Span, TermFinder, is_word

_CONTEXT_WINDOW = 8
_PREDICATE_REACH = 20  # chars after a name (or a joined group of names) that what is said of it may take
_PREFIX_REACH = 8  # chars before a name, in its clause: 我们是跟新华三联合投的
_CORRECTION_REACH = 10
_JOINERS = frozenset({"和", "跟", "与", "、", "及", "以及", "还有", "或", "或者", "加"})
_CONNECTORS = _JOINERS | {",", " "}  # loose: a weak name right after a strong one (华为,浪潮)


@dataclass(frozen=True, slots=True)
class Competitors:
    names: tuple[str, ...]
    spans: list[Span[str]]  # every mention found, counted or not (a competitor's people are no client titles)


class CompetitorFinder:
    def __init__(self, lexicon: Lexicon, rules: Rules, tokenizer: jieba.Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.rules = rules
        aliases = {alias.lower(): name for name, group in lexicon.competitors.items() for alias in group}
        self._ambiguous = {alias.lower() for alias in lexicon.context_required}
        self._text = TermFinder(aliases.items())
        self._sound = SoundIndex(aliases.items())
        c = rules.competitors
        self._context = TermFinder((cue, None) for cue in c.context)
        self._said = TermFinder([*((w, "out") for w in c.absent), *((w, "out") for w in c.partner),
                                 *((w, "correction") for w in rules.corrections),
                                 *((w, None) for w in rules.not_corrections)])

    def find(self, text: str, sounds: Syllables, bounds: frozenset[int]) -> Competitors:
        mentions = sorted(self._mentions(text, sounds, bounds), key=lambda s: s.start)
        said = self._said.find(text)
        dropped = set()
        for group in _groups(text, mentions):
            if self._excluded(text, group, mentions, said):
                dropped.update(span.payload for span in group)
        corrected = {span.start for span in self._corrected(text, mentions, said)}
        kept = [span for span in mentions if span.payload not in dropped and span.start not in corrected]
        return Competitors(tuple(dict.fromkeys(span.payload for span in kept)), mentions)

    def _mentions(self, text: str, sounds: Syllables, bounds: frozenset[int]) -> list[Span[str]]:
        strong: list[Span[str]] = []
        weak: list[Span[str]] = []
        for span in self._text.find(text):
            if span.start in bounds and span.end in bounds:
                (weak if span.text in self._ambiguous else strong).append(span)
        for hit in self._sound.find(text, sounds):
            if hit.start not in bounds or hit.end not in bounds or _overlaps(hit.start, hit.end, strong + weak):
                continue
            ordinary = is_word(self.tokenizer, text, hit.start, hit.end)
            if ordinary and not hit.exact:
                continue  # 重新 is a word and only sounds near 中兴: never a name
            span = Span(hit.start, hit.end, text[hit.start:hit.end], hit.payload)
            (strong if hit.exact and not ordinary and hit.term not in self._ambiguous else weak).append(span)
        context = self._context.find(text)
        accepted = list(strong)
        for span in weak:
            if self._has_context(text, span, context) or _next_to(text, span, strong):
                accepted.append(span)
        return accepted

    def _has_context(self, text: str, span: Span[str], context: list[Span[None]]) -> bool:
        for cue in context:
            if span.start - _CONTEXT_WINDOW <= cue.start and cue.end <= span.end + _CONTEXT_WINDOW:
                lo, hi = min(cue.end, span.end), max(cue.start, span.start)
                if not any(ch in SENTENCE_BREAKS for ch in text[lo:hi]):
                    return True
        return False

    def _excluded(self, text: str, group: list[Span[str]], mentions: list[Span[str]], said: list[Span]) -> bool:
        first, last = group[0], group[-1]
        if self._own(text, first.start):
            return True
        clause_start, _ = clause_of(text, first.start)
        prefix = text[max(clause_start, first.start - _PREFIX_REACH):first.start]
        if any(word in prefix for word in self.rules.competitors.partner):
            return True
        end = last.end
        later = [span.start for span in mentions if span.start >= end]
        limit = min([*later, end + _PREDICATE_REACH, len(text)])
        for i in range(end, limit):
            if text[i] in SENTENCE_BREAKS:
                limit = i
                break
        return any(span.payload == "out" and end <= span.start and span.end <= limit for span in said)

    def _own(self, text: str, start: int) -> bool:
        before = text[max(0, start - 4):start]
        return any(before.endswith((word, word + "的", word + "是")) for word in self.rules.own_side)

    @staticmethod
    def _corrected(text: str, mentions: list[Span[str]], said: list[Span]) -> list[Span[str]]:
        """金蝶,不对不对,是鼎捷: a name followed by a correction and then another name is taken back."""
        out = []
        for span, following in zip(mentions, mentions[1:]):
            if following.start - span.end > _CORRECTION_REACH or following.payload == span.payload:
                continue
            if any(s.payload == "correction" and span.end <= s.start and s.end <= following.start for s in said):
                out.append(span)
        return out


def _groups(text: str, mentions: list[Span[str]]) -> list[list[Span[str]]]:
    """Names joined by 和 / 跟 / 、 (华为和新华三都来了) share what is said after the last of them."""
    groups: list[list[Span[str]]] = []
    for span in mentions:
        if groups and _joined(text[groups[-1][-1].end:span.start], _JOINERS):
            groups[-1].append(span)
        else:
            groups.append([span])
    return groups


def _joined(gap: str, joiners: frozenset[str] = _CONNECTORS) -> bool:
    return gap in joiners or (len(gap) == 1 and char_syllable(gap) == "he")


def _overlaps(start: int, end: int, spans: list[Span]) -> bool:
    return any(start < span.end and span.start < end for span in spans)


def _next_to(text: str, span: Span[str], others: list[Span[str]]) -> bool:
    """Joined to a competitor already found (华为和浪潮, 又有合金蝶): ASR writes 和 as 合/核/何 too."""
    for other in others:
        gap = text[other.end:span.start] if other.end <= span.start else text[span.end:other.start]
        if _joined(gap):
            return True
    return False
