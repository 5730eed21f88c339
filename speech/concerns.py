"""Concern labels from what the client worries about or demands, said in their own words.

Each label has a family of cue patterns (`rules.json`): plain phrases (驻场, 脱敏, 账期) and pairs of word
groups in one clause, a thing and what is said of it ("{data}…{leave}": 数据 … 不能出省; "{fee}…{dear}": 维护费 …
收得太狠; "{service}…{when}": 报修 … 等半天), so a new way of saying it is caught when its parts are known.
A bare noun (价格, 售后, 权限) is a weak cue: it counts only when the clause says something of it (担心, 要求,
能不能, 太…), not in 价格我们下周报过去.

A cue does not count when
- the client rules the concern out in the same clause (价钱倒好说, 数据安全不是问题, 客户倒没提价格, 没怎么还价);
- it is not the client's: the rep's own worry or pressure (我自己有点担心…, 领导催得紧, a clause the rep starts
  with 我), or a competitor's pitch (用友那边跟客户说三个月就能上线); that voice lasts to the end of the sentence
  unless a clause starts with the client again (客户倒是…, 他们…);
- it sits inside a word that is no cue (对接人, 保证金 but not 质量保证金) or inside a client title (合规经理).
A worry about connecting systems gives way to a demand for custom work in the same clause (定制开发一个接口对接现有
系统 is 定制需求). Cue words ASR misspells (受后 for 售后, 等宝 for 等保) are respelled by sound before this runs
(`Extractor`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from speech.clauses import CLAUSE_BREAKS, clause_of, sentence_of
from speech.firstchars import first_chars
from speech.rules import CONCERNS, ConcernRules
from speech.terms import TermFinder

_GAP = 12  # chars between the two halves of an "A…B" cue
_RULED_OUT_REACH = 12  # chars between a cue and the words that rule it out (价格他们说不是最重要的)
_MASK = "□"
_CONDITION = re.compile("了?(?:才|再|以后|之后|的话)")  # after a ruled-out phrase: it is a condition
_TAIL = 4  # longest cue that another label's longer cue ending with it takes over
_GAP_RE = f"[^{re.escape(CLAUSE_BREAKS)}]{{0,{_GAP}}}?"
# "⋯": the two halves may sit in neighbouring clauses (一月二十号之前,把整个系统交付完; 员工离职以后,他微信里的客户)
_NEXT_CLAUSE_RE = f"{_GAP_RE}(?:[, ]{_GAP_RE})?"
_DEMAND = re.compile("不能|不许|不准|只能|绝不|绝对|千万|别")  # a demand said as a prohibition (不能让别人拿去)
_LEAD = "(?:[嗯呃啊哦唉哎诶那个就是然后还有另外而且但是不过可是所以]|说实话)*"  # fillers a clause may start with
# 不是不在乎价格: a ruled-out phrase negated again is the concern said
_DOUBLE_NEGATION = re.compile("不是不|不是没|并非不|并非没")
_TOPIC = re.compile(_LEAD + "(?:至于|说到|讲到|提到|关于|要说)")  # a clause that names a topic for the next one
# 售后嘛, / 上线时间的话, : a short clause ending on a topic particle names the topic the same way
_TOPIC_TAIL = re.compile("(?:嘛|呢|的话|这块|这一块|方面|这方面)$")
_TOPIC_LEN = 8
_VERDICT = 6  # longest clause (chars) read as a bare verdict on the clause before it (不算紧, 都无所谓)
_OTHERS = re.compile(_LEAD + "(?:别的|其他|其它|其余)")  # 别的没提: a verdict on everything else


def compile_pattern(pattern: str, groups: dict[str, str]) -> str:
    """"{data}…不能出" -> a regex: each {group} an alternation, each … a short gap inside one clause, each ⋯ a
    gap that may cross into the next clause."""
    out = []
    for piece in re.split(r"(\{\w+\}|…|⋯)", pattern):
        if piece == "…":
            out.append(_GAP_RE)
        elif piece == "⋯":
            out.append(_NEXT_CLAUSE_RE)
        elif piece.startswith("{"):
            out.append(f"(?:{groups[piece[1:-1]]})")
        elif piece:
            out.append(re.escape(piece))
    return "".join(out)


class ConcernFinder:
    def __init__(self, rules: ConcernRules) -> None:
        self.rules = rules
        # a weak noun is tried last at its position, so that a longer reading starting with it (监管…检查) wins over
        # the bare noun, which would then be dropped for want of something said of it
        self._patterns = {
            label: _Scanner("|".join(compile_pattern(p, rules.groups)
                                     for p in sorted(rules.labels[label], key=lambda p: p in rules.weak)))
            for label in CONCERNS if rules.labels.get(label)
        }
        # a not-cue inside a longer plain cue (保证金 in 质量保证金) stays a cue: one leftmost-longest scan of both
        longer = [(w, False) for w in plain_cues(rules) if any(nc in w and nc != w for nc in rules.not_cues)]
        self._not_cues = TermFinder([(word, True) for word in rules.not_cues] + longer)
        self._ruled_out = re.compile("|".join(compile_pattern(p, rules.groups) for p in rules.ruled_out))
        self._own_voice = TermFinder((word, None) for word in rules.own_voice)
        self._weak = frozenset(rules.weak)
        self._said = re.compile("|".join(compile_pattern(p, rules.groups) for p in rules.said))
        # the client speaks again: 客户倒是…, 他们就问了…, a client title then what they said (not 他们那个机房…)
        # (他们的技术总监想了想说: the client, then a masked title of theirs, then what they said)
        self._client_start = re.compile(_LEAD + f"(?:(?:{rules.groups['client']})(?:那边|这边|自己)?(?:的?{_MASK}+)?"
                                        f"|{_MASK}+)[^{re.escape(CLAUSE_BREAKS)}]{{0,3}}?(?:{rules.groups['speaks']})")
        self._rep_start = re.compile(_LEAD + f"(?:{rules.groups['rep']})")
        self._voiced = re.compile(f"(?:{rules.groups['voiced']})")
        # a competitor's price stated by the rep (华为那边报了一百五十万,比我们低) is no client concern; told by the
        # client (客户说用友报的比我们低) it may be, so only where nobody is reported speaking earlier in the sentence
        self._quoted = re.compile(f"(?:{rules.groups['quoted']})")
        self._reported = re.compile(f"(?:{rules.groups['reporting']})")
        self._reporting = re.compile(f"(?:{rules.groups['reporting']})[{re.escape(CLAUSE_BREAKS)}]$")

    def find(self, text: str, bounds: frozenset[int], masked: Iterable[tuple[int, int]],
             vendors: Iterable[tuple[int, int]] = ()) -> tuple[str, ...]:
        """Labels in order of first mention. `masked`: spans that cannot hold a cue (client titles); `vendors`:
        where competitors are named (what they say is no client concern)."""
        chars = list(text)
        for start, end in [*((s.start, s.end) for s in self._not_cues.find(text) if s.payload), *masked]:
            chars[start:end] = _MASK * (end - start)
        text = "".join(chars)
        # 没问题了才付: a condition on the concern, not its ruling out
        ruled_out = [(m.start(), m.end()) for m in self._ruled_out.finditer(text)
                     if not _CONDITION.match(text, m.end()) and not _DOUBLE_NEGATION.search(text, max(0, m.start() - 3),
                                                                                              m.start() + 3)]
        not_client = self._not_client(text, list(vendors))
        spans: list[tuple[str, int, int]] = []
        for label, pattern in self._patterns.items():
            for match in pattern.finditer(text):
                # a two-character cue may not cut through a word: 下周二开标 holds no 二开
                on_tokens = len(match[0]) > 2 or match.start() in bounds or match.end() in bounds
                if (on_tokens and not not_client[match.start()]
                        and not self._discounted(text, match.start(), match.end(), ruled_out)
                        and (match[0] not in self._weak or self._said_of(text, match.start()))):
                    spans.append((label, match.start(), match.end()))
        cues: dict[str, list[int]] = {}
        for label, start, end in spans:
            # a short cue that ends another label's longer cue is read as part of it: the 响应 of
            # 同时在线的时候响应 is the system's (技术顾虑), not someone turning up (售后响应)
            if not any(other != label and s < start and end == e and end - start <= _TAIL
                       for other, s, e in spans):
                cues.setdefault(label, []).append(start)
        found = {}
        for label, starts in cues.items():
            stronger = [s for other in self.rules.yields.get(label, ()) for s in cues.get(other, [])]
            starts = [s for s in starts if not any(clause_of(text, s) == clause_of(text, o) for o in stronger)]
            if starts:
                found[label] = starts[0]
        return tuple(sorted(found, key=lambda label: (found[label], CONCERNS.index(label))))

    def unexplained(self, window: str) -> bool:
        """Whether a short window of text may hold a client's concern that no cue family names (for
        `speech.learned`, which sees no cue): the client speaks (most of it is not the rep's or a competitor's
        voice), nothing in it rules a concern out, something is asked, feared or demanded in it (the test a bare
        noun must pass), and no cue of any label is in it: where a cue is, the rules have read the window, and a
        second label from the classifier there was mostly a confusion (机房搬迁…业务不能停 is no 数据安全)."""
        if self._ruled_out.search(window) or not (self._said.search(window) or _DEMAND.search(window)):
            return False
        if any(next(iter(pattern.finditer(window)), None) for pattern in self._patterns.values()):
            return False
        return sum(self._not_client(window, [])) <= len(window) / 2

    def _discounted(self, text: str, start: int, end: int, ruled_out) -> bool:
        clause_start, clause_end = clause_of(text, start)
        topic = _TOPIC.match(text, clause_start, clause_end) or (
            clause_end - clause_start <= _TOPIC_LEN and _TOPIC_TAIL.search(text, clause_start, clause_end))
        if topic and clause_end < sentence_of(text, start)[1]:
            # 至于数据放哪,客户说无所谓: a clause that only names the topic is ruled on in the next one
            clause_end = clause_of(text, clause_end + 1)[1]
        sentence_end = sentence_of(text, start)[1]
        if clause_end < sentence_end:
            # 年底前装好就行,不算紧: a short clause after it that is only a verdict rules on the clause before
            next_start, next_end = clause_of(text, clause_end + 1)
            verdict = self._ruled_out.search(text, next_start, next_end)
            if (verdict and next_end - next_start <= _VERDICT and not _CONDITION.match(text, verdict.end())
                    and not _OTHERS.match(text, next_start, next_end)):
                return True
        before = text[max(clause_start, start - 3):start]
        if any(before.endswith(word) and not _a_not_a(text, start - len(word), word)
               for word in self.rules.ruled_out_before):
            return True
        for span_start, span_end in ruled_out:
            if clause_start <= span_start and span_end <= clause_end:
                distance = span_start - end if span_start >= end else start - span_end
                if distance <= _RULED_OUT_REACH:
                    return True
        return False

    def _said_of(self, text: str, i: int) -> bool:
        """Whether the clause holding a weak cue says something of it: a worry, a demand, a question, a verdict."""
        start, end = clause_of(text, i)
        return self._said.search(text, start, end) is not None

    def _not_client(self, text: str, vendors: list[tuple[int, int]]) -> list[bool]:
        """Per character: whether it is said in the rep's own voice or a competitor's, not the client's.

        The rep's voice starts at an own-voice marker (我自己, 说实话, 领导催) or a clause the rep starts with 我
        (not one reporting the client's words: 客户问,我们的人会不会…); a
        competitor's at its name followed by what it says (用友那边说, 华为号称). Either lasts to the end of the
        sentence, or to a clause that starts with the client (客户…, 他们…, a client title)."""
        starts = [span.start for span in self._own_voice.find(text)]
        quotes = []
        for vendor_start, vendor_end in vendors:
            clause_end = clause_of(text, vendor_start)[1]
            if self._voiced.search(text, vendor_end, min(clause_end, vendor_end + 8)):
                starts.append(vendor_start)
            elif (self._quoted.search(text, vendor_end, min(clause_end, vendor_end + 8))
                    and not self._reported.search(text, sentence_of(text, vendor_start)[0], vendor_start)):
                quotes.append(vendor_start)
        flags = [False] * len(text)
        for start in quotes:
            # the quote's clause and the one after it (比我们低), no further: the client may speak up unnamed
            end = clause_of(text, start)[1]
            if end < sentence_of(text, start)[1]:
                next_start, next_end = clause_of(text, end + 1)
                if not self._client_start.match(text, next_start, next_end):
                    end = next_end
            flags[start:end] = [True] * (end - start)
        for start in starts:
            self._silence(text, start, flags)
        i = 0
        while i < len(text):
            clause_start, clause_end = clause_of(text, i)
            # 客户反复问,我们的人会不会碰到…: a clause after 问/说 is the client's words about us
            reported = self._reporting.search(text, max(0, clause_start - 4), clause_start)
            if self._rep_start.match(text, clause_start, clause_end) and not reported:
                self._silence(text, clause_start, flags)
            i = clause_end + 1
        return flags

    def _silence(self, text: str, start: int, flags: list[bool]) -> None:
        sentence_end = sentence_of(text, start)[1]
        i = start
        while i < sentence_end:
            clause_start, clause_end = clause_of(text, i)
            if clause_start > start and self._client_start.match(text, clause_start, clause_end):
                return
            flags[i:clause_end] = [True] * (clause_end - i)
            i = clause_end + 1


class _Scanner:
    """`re.finditer` over a long alternation, trying it only where a match can begin.

    A label's patterns start with groups of words; the regex engine cannot see through them to skip positions,
    so it tries every alternative at every character. Jumping from one possible first character to the next
    finds the same matches about five times faster (bench/voice.py's extraction latency)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern)
        chars = first_chars(pattern)
        self._starts = re.compile("[" + "".join(re.escape(ch) for ch in sorted(chars)) + "]") if chars else None

    def finditer(self, text: str):
        if self._starts is None:
            yield from self.pattern.finditer(text)
            return
        pos = 0
        search, match = self._starts.search, self.pattern.match
        while (start := search(text, pos)) is not None:
            found = match(text, start.start())
            if found is None:
                pos = start.start() + 1
                continue
            yield found
            pos = max(found.end(), found.start() + 1)


def _a_not_a(text: str, i: int, word: str) -> bool:
    """有没有 / 是不是 before a cue: an A-not-A question (有没有返点), not a negation (没有返点)."""
    return i > 0 and text[i - 1] == word[-1]


def plain_cues(rules: ConcernRules) -> list[str]:
    """Whole patterns that are plain words (no group, no gap)."""
    return [p for patterns in rules.labels.values() for p in patterns if not set("…⋯{") & set(p)]


def plain_words(rules: ConcernRules) -> list[str]:
    """The cue words that are plain Han words (whole patterns, and the words of each group), the ones worth
    matching by sound."""
    words = plain_cues(rules)
    words += [w for name, group in rules.groups.items() if name not in rules.unheard for w in group.split("|")]
    return list(dict.fromkeys(w for w in words if len(w) >= 2 and all("\u4e00" <= ch <= "\u9fff" for ch in w)))
