"""Which amount in a summary is the client's budget.

Each amount gets a role from the cues around it: `budget` when a budget cue (预算, 盘子, 钱这块), a ceiling
(控制价, 不超过, 以内) or a share (分给这个项目) governs it; `decoy` when money of another kind does (our quote,
a competitor's quote, last year's spend, a failed tender's cap, a bond, a part of a breakdown); none otherwise.
A cue governs the amount after it in the same clause; across clauses of one sentence only when nothing (no other
amount, no other money word) stands between (预算的话,县财政还在走流程,大概是四五百万).

The first budget amount is the budget, unless a later one replaces it: after a self-correction (说错了, 不对, 不是
X,是Y), a change (提到了, 缩减到), a total after its parts (加起来六十万), or as this project's share of an overall
budget; and a back-reference that
disowns it (这个数是去年申报的) drops it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from speech.clauses import clause_of, crosses_sentence, sentence_of
from speech.fields import Budget
from speech.money import Amount, find_amounts
from speech.rules import Rules
from speech.terms import TermFinder

_GAP = 12  # chars between a cue and its amount in one clause: 预算(他们给的是|大概在)三百万
_AFTER_GAP = 4  # 五十万(左右)的预算, 七十万以内
_REACH = 30  # chars a cue reaches across clauses of its sentence
_NOT_BEFORE = ("不是",)
_BOUND = 2  # 不是五十万,是六十万
_LEAST = 1000  # CNY: a smaller "amount" is a classifier (分两块, 三块屏), never a project's budget

GOVERNS = frozenset({"budget", "cap", "share", "change"})


@dataclass(frozen=True, slots=True)
class Cue:
    start: int
    end: int
    kinds: frozenset[str]
    gap: int = _GAP  # how far its amount may be (a sound-alike 一算 must be right before it)


@dataclass(frozen=True, slots=True)
class _Candidate:
    amount: Amount
    role: str | None


class BudgetFinder:
    def __init__(self, rules: Rules) -> None:
        b = rules.budget
        kinds: dict[str, set[str]] = {}
        for kind, words in (
            ("budget", b.cues), ("cap", b.caps), ("cap_after", b.caps_after),
            ("share", b.shares), ("total", b.totals), ("change", b.changes), ("decoy", b.decoys), ("past", b.past),
            ("now", b.now),
            ("back_reference", b.back_references), ("correction", rules.corrections),
            ("not_correction", rules.not_corrections),
        ):
            for word in words:
                kinds.setdefault(word, set()).add(kind)
        self._cues = TermFinder((word, frozenset(k)) for word, k in kinds.items())
        self._after_words = b.after

    def cues(self, text: str) -> list[Cue]:
        return [Cue(span.start, span.end, span.payload) for span in self._cues.find(text)]

    def find(self, text: str, cues: Iterable[Cue]) -> Budget | None:
        """The budget in `text` (already normalised), given its cues (`cues()` plus any heard by sound)."""
        cues = sorted(cues, key=lambda cue: cue.start)
        if not any(cue.kinds & {"budget", "cap", "cap_after"} for cue in cues):
            return None
        amounts = [amount for amount in find_amounts(text) if amount.high >= _LEAST]
        candidates = [_Candidate(amount, self._role(text, amount, cues, amounts)) for amount in amounts]
        chosen: _Candidate | None = None
        for candidate in candidates:
            if candidate.role == "decoy":
                continue
            if chosen is None:
                chosen = candidate if candidate.role == "budget" else None
            elif self._replaces(text, chosen.amount, candidate, cues):
                chosen = candidate
            if chosen is not None and self._disowned(text, chosen.amount, cues):
                chosen = None
        return None if chosen is None else Budget(chosen.amount.low, chosen.amount.high)

    # -- the role of one amount --------------------------------------------------------------------------------
    def _role(self, text: str, amount: Amount, cues: list[Cue], amounts: list[Amount]) -> str | None:
        clause_start, clause_end = clause_of(text, amount.start)
        before = [cue for cue in cues if clause_start <= cue.start and cue.end <= amount.start]
        if _past(before):
            return "decoy"
        governing = [cue for cue in before if cue.kinds & (GOVERNS | {"decoy"})]
        if (len(governing) > 1 and governing[-1].kinds == {"decoy"} and governing[-2].kinds & GOVERNS
                and governing[-1].start - governing[-2].end <= _BOUND):
            governing.pop()  # 预算先报了二十万: a money verb bound to the budget cue says what the budget did
        if governing:
            cue = governing[-1]
            if "decoy" in cue.kinds and not cue.kinds & GOVERNS:
                return "decoy"
            if amount.start - cue.end <= cue.gap:
                return "budget"
        after = self._after(text, amount, cues, clause_end)
        if after is not None:
            return after
        return self._reach(text, amount, cues, amounts)

    def _after(self, text: str, amount: Amount, cues: list[Cue], clause_end: int) -> str | None:
        """X 以内 / X 的预算 make X the budget; X 是去年花的 / X 的保证金 make it a decoy."""
        window = text[amount.end:min(clause_end, amount.end + _AFTER_GAP + 3)]
        if any(word in window for word in self._after_words):
            return "budget"
        for cue in cues:
            if cue.start < amount.end or cue.start >= clause_end:
                continue
            if cue.start - amount.end > _AFTER_GAP:
                break
            if "cap_after" in cue.kinds:
                return "budget"
            if cue.kinds & {"decoy", "past"}:
                return "decoy"
        if text.startswith("是", amount.end):
            rest = [cue for cue in cues if amount.end <= cue.start < clause_end]
            if any(cue.kinds & {"decoy", "past"} for cue in rest):
                return "decoy"
        return None

    @staticmethod
    def _reach(text: str, amount: Amount, cues: list[Cue], amounts: list[Amount]) -> str | None:
        """A cue earlier in the sentence governs when nothing stands between it and the amount."""
        sentence_start, _ = sentence_of(text, amount.start)
        earlier = [cue for cue in cues if sentence_start <= cue.start and cue.end <= amount.start
                   and cue.kinds & (GOVERNS | {"decoy"})]
        if not earlier:
            return None
        cue = earlier[-1]
        if amount.start - cue.end > _REACH or any(cue.end <= a.start and a.end <= amount.start for a in amounts):
            return None
        if "decoy" in cue.kinds and not cue.kinds & GOVERNS:
            return "decoy"
        return "budget"

    # -- precedence --------------------------------------------------------------------------------------------
    def _replaces(self, text: str, chosen: Amount, candidate: _Candidate, cues: list[Cue]) -> bool:
        between = [cue for cue in cues if chosen.end <= cue.start and cue.end <= candidate.amount.start]
        if any("correction" in cue.kinds for cue in between):
            return True
        if text[max(0, chosen.start - 3):chosen.start].endswith(_NOT_BEFORE) and text.startswith(
                "是", _skip_punct(text, chosen.end)):
            return True
        return candidate.role == "budget" and any(cue.kinds & {"change", "share", "total"} for cue in between)

    @staticmethod
    def _disowned(text: str, chosen: Amount, cues: list[Cue]) -> bool:
        """这个数是去年申报的 right after the figure: it was not this project's budget after all."""
        for cue in cues:
            if cue.start < chosen.end or "back_reference" not in cue.kinds:
                continue
            if crosses_sentence(text, chosen.end, cue.start) or cue.start - chosen.end > _GAP:
                return False
            _, clause_end = clause_of(text, cue.end)
            return any(other.kinds & {"past", "decoy"} for other in cues if cue.end <= other.start < clause_end)
        return False


def _past(before: list[Cue]) -> bool:
    """A past marker (去年, 那次, 流标) earlier in the clause, not followed by a present one (这次, 今年)."""
    state = False
    for cue in before:
        if "past" in cue.kinds:
            state = True
        elif "now" in cue.kinds:
            state = False
    return state


def _skip_punct(text: str, i: int) -> int:
    while i < len(text) and text[i] in ", ":
        i += 1
    return i
