"""Which date in a summary is the tender date (招标 / 开标 / 投标截止 / 递交标书).

Each date belongs to the event named next to it: the cue right after it (下周四开标, 十二月八号签合同, 九月二十号开过
一次标) or, failing that, the cue before it in the same clause (开标时间定在十二月三号), or across clauses when
the cue is the topic (开标呢,是明年一月十五号). A tender already held, a tender the client will not run (不走招标)
and every other event (visits, demos, signing, delivery, payment, 答疑会) make a date a decoy.

The first tender date counts unless a later one replaces it: after a self-correction or a reported change (后来又
改成了), or an opening / bid deadline after the notice's posting date (公告下周一挂网,开标十月二十二号). A date
the same sentence takes back (具体哪天还没定) is none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from speech.clauses import SENTENCE_BREAKS, clause_of, crosses, sentence_of
from speech.dates import DateMention, find_dates
from speech.rules import Rules
from speech.terms import TermFinder

_OWN_DATE_GAP = 3  # 开标定在 / 招标是 + a date
_AFTER_GAP = 8  # 十五号(上午十点)开标
_BEFORE_GAP = 12  # 开标时间(他们先说的是)九月十号
_TOPIC_REACH = 20  # 招标的话,(呃,科长说大概是)三月八号
_TOPIC_TAIL = 4  # a topic cue ends its clause within this many chars: 开标呢, 招标的话, 开标时间,
_PAST_REACH = 4  # 上次(那次)招标, 去年(的)开标: a past marker this close before a tender cue
_BREAKS = SENTENCE_BREAKS + ","
STRENGTH = {"weak": 1, "medium": 2, "strong": 3}
DECOYS = frozenset({"other", "past", "negated"})


@dataclass(frozen=True, slots=True)
class Event:
    start: int
    end: int
    kind: str  # strong | medium | weak | other | past | negated | change | undecided | correction | not_correction


class TenderFinder:
    def __init__(self, rules: Rules) -> None:
        t = rules.tender
        kinds: dict[str, str] = {}
        # later lists win a word in two of them: a correction is a correction wherever it stands
        for kind, words in (
            ("other", t.other), ("medium", t.medium), ("weak", t.weak), ("strong", t.strong), ("past", t.past),
            ("negated", t.negated), ("change", t.changes), ("undecided", t.undecided),
            ("correction", rules.corrections),
            ("not_correction", rules.not_corrections),
        ):
            kinds.update(dict.fromkeys(words, kind))
        self._events = TermFinder(kinds.items())
        self._past_before = TermFinder((word, True) for word in t.past_before)

    def events(self, text: str) -> list[Event]:
        """The cues in `text`; a tender cue a past marker stands right before (上次那次招标三月五号开的) is
        a tender already held, whatever its own words."""
        markers = [span.end for span in self._past_before.find(text)]
        return [Event(span.start, span.end, "past" if span.payload in STRENGTH and span.payload != "weak"
                      and any(0 <= span.start - end <= _PAST_REACH and not crosses(text, end, span.start, _BREAKS)
                              for end in markers) else span.payload)
                for span in self._events.find(text)]

    def find(self, text: str, ref: date, events: Iterable[Event]) -> date | None:
        events = sorted(events, key=lambda e: e.start)
        if not any(e.kind in STRENGTH for e in events):
            return None
        dates = find_dates(text, ref)
        chosen: tuple[DateMention, str] | None = None
        for mention in dates:
            kind = self._event_of(text, mention, events, dates)
            if kind in DECOYS:
                continue
            if chosen is None:
                chosen = (mention, kind) if kind in STRENGTH else None
                continue
            between = [e for e in events if chosen[0].end <= e.start and e.end <= mention.start]
            if any(e.kind in ("correction", "change") for e in between):
                chosen = (mention, kind or chosen[1])
            elif kind in STRENGTH and STRENGTH[kind] > STRENGTH[chosen[1]] == STRENGTH["weak"]:
                chosen = (mention, kind)
            elif kind is None and _narrows(text, chosen[0], mention):
                chosen = (mention, chosen[1])
        if chosen is None or self._undecided(text, chosen[0], events):
            return None
        return chosen[0].day

    @staticmethod
    def _undecided(text: str, mention: DateMention, events: list[Event]) -> bool:
        """九月底之前招标,具体哪天还没定: the sentence takes the day back."""
        _, sentence_end = sentence_of(text, mention.start)
        return any(e.kind == "undecided" and mention.end <= e.start < sentence_end for e in events)

    def _event_of(self, text: str, mention: DateMention, events: list[Event], dates: list[DateMention]) -> str | None:
        scheduled = [e for e in events if e.kind not in ("change", "undecided", "correction", "not_correction")]
        for e in scheduled:
            if e.start < mention.end:
                continue
            # a pause (a space in a transcript) may stand between them, a comma may not: 下周三 开标
            gap_ok = e.start - mention.end <= _AFTER_GAP and not crosses(text, mention.end, e.start, _BREAKS)
            # 下周二再去一次 招标定在12月10号: a cue with its own date right after it (定在, 是) is that date's
            owned = any(0 <= d.start - e.end <= _OWN_DATE_GAP and not crosses(text, e.end, d.start) for d in dates)
            if gap_ok and not owned and not _date_between(dates, mention.end, e.start):
                return e.kind
            break
        before = [e for e in scheduled if e.end <= mention.start]
        if not before:
            return None
        e = before[-1]
        if _date_between(dates, e.end, mention.start):
            return None
        if not crosses(text, e.end, mention.start):
            return e.kind if mention.start - e.end <= _BEFORE_GAP else None
        sentence_start, _ = sentence_of(text, mention.start)
        _, cue_clause_end = clause_of(text, e.start)
        topical = cue_clause_end - e.end <= _TOPIC_TAIL and mention.start - e.end <= _TOPIC_REACH
        return e.kind if topical and e.start >= sentence_start else None


def _narrows(text: str, rough: DateMention, mention: DateMention) -> bool:
    """开标大概是七月底,应该是七月三十号: a day inside the period a rough date ends, said next in the same sentence
    with no event of its own, is that date said precisely."""
    return (rough.period is not None and rough.period <= mention.day <= rough.day
            and sentence_of(text, rough.start) == sentence_of(text, mention.start))


def _date_between(dates: list[DateMention], start: int, end: int) -> bool:
    return any(start <= d.start and d.end <= end for d in dates)
