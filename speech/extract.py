"""Sales fields from a visit summary: budget, tender date, competitors, concerns, client titles, keywords.

Rules, not a model: every field comes from lexicon words (spelled right or sound-alike) and the cue words
around numbers and dates, so a tenant can see why a field was found and fix it by editing its lexicon.
`get_extractor(lexicon)` caches one `Extractor` (and its jieba tokenizer) per lexicon fingerprint.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from datetime import date, datetime
from zoneinfo import ZoneInfo

from speech.chinese import normalize, to_simplified
from speech.dates import find_dates
from speech.fields import Budget, Fields
from speech.lexicon import Lexicon
from speech.mentions import MentionFinder
from speech.money import find_amounts, repair_units
from speech.phonetic import SoundIndex, Syllables, initial_of
from speech.rules import Rules
from speech.terms import TermFinder, crosses_clause, tenant_tokenizer, token_bounds

_BUDGET_GAP = 10  # chars between a budget cue and its amount: 预算(在|大概|上限|控制在…)八十万
_BUDGET_AFTER_GAP = 4  # 五十万(左右)的预算
_SOUND_CUE_GAP = 6  # a sound-alike cue (一算) must be closer: the amount is its only evidence
_TENDER_GAP = 8
# Last-resort shapes of words ASR mangled past the sound-alike index, each trusted only when the pair is no
# word of its own and with hard evidence next to it: X算 or a y- syllable then a -uan one right before an
# amount is 预算 (订算一个亿, 印券60万; 打算, 结算, 运转 are words); zh/ch/z/c/k/t + 标 tied to a date is
# 招标/开标/投标 (周标定在12月10号, 下周三拆标; 目标, 指标 are words).
_GARBLED_BUDGET_GAP = 3
_GARBLED_TENDER_INITIALS = frozenset({"zh", "ch", "z", "c", "k", "t"})
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Extractor:
    def __init__(self, lexicon: Lexicon, rules: Rules | None = None) -> None:
        self.lexicon = lexicon
        self.rules = rules = rules or Rules.default()
        words = [*lexicon.titles, *lexicon.products, *lexicon.keywords, *rules.words()]
        words += [alias for aliases in lexicon.competitors.values() for alias in aliases]
        self.tokenizer = tenant_tokenizer(word.lower() for word in words)
        self.mentions = MentionFinder(lexicon, rules, self.tokenizer)
        self._money_cues = TermFinder(
            [*((cue, True) for cue in rules.budget_cues), *((cue, False) for cue in rules.not_budget_cues)]
        )
        self._budget_sound = SoundIndex([("预算", True)])
        self._events = TermFinder(
            [*((cue, "tender") for cue in rules.tender_cues), *((cue, "other") for cue in rules.other_event_cues)]
        )
        self._tender_sound = SoundIndex([(cue, "tender") for cue in rules.tender_cues])
        links = "|".join(sorted(map(re.escape, rules.tender_link), key=len, reverse=True))
        self._link = re.compile(rf"(?:{links}|\s)*")

    def extract(self, text: str, ref: datetime) -> Fields:
        text = normalize(to_simplified(text)).lower()
        bounds = token_bounds(self.tokenizer, text)
        sounds = Syllables(text)
        return Fields(
            budget=self._budget(text, sounds),
            tender_date=self._tender_date(text, _local_day(ref), sounds, bounds),
            competitors=self.mentions.competitors(text, sounds, bounds),
            concerns=self.mentions.concerns(text, sounds, bounds),
            titles=self.mentions.titles(text, sounds, bounds),
            keywords=self.mentions.keywords(text, bounds),
        )

    def _budget(self, text: str, sounds: Syllables) -> Budget | None:
        cues = [
            (span.start, span.end, span.payload and not self._past(text, span.start), _BUDGET_GAP)
            for span in self._money_cues.find(text)
        ]
        cues += [(hit.start, hit.end, True, _SOUND_CUE_GAP) for hit in self._budget_sound.find(text, sounds)]
        cues += [(i, i + 2, True, _GARBLED_BUDGET_GAP) for i in self._garbled(text, sounds, _looks_like_budget)]
        if not any(is_budget for _, _, is_budget, _ in cues):
            return None
        cues.sort()
        for _start, end, is_budget, gap in cues:
            if is_budget:
                text = repair_units(text, end, end + gap)
        for amount in find_amounts(text):
            if self._is_budget(text, amount.start, amount.end, cues):
                return Budget(amount.low, amount.high)
        return None

    @staticmethod
    def _is_budget(text: str, start: int, end: int, cues: list[tuple[int, int, bool, int]]) -> bool:
        before = [cue for cue in cues if cue[1] <= start]
        if before:
            cue_start, cue_end, is_budget, gap = before[-1]
            if start - cue_end <= gap and not crosses_clause(text, cue_end, start):
                return is_budget
        after = [cue for cue in cues if cue[0] >= end]
        if after:
            cue_start, _, is_budget, _ = after[0]
            return is_budget and cue_start - end <= _BUDGET_AFTER_GAP and not crosses_clause(text, end, cue_start)
        return False

    def _tender_date(self, text: str, ref: date, sounds: Syllables, bounds: frozenset[int]) -> date | None:
        dates = find_dates(text, ref)
        if not dates:
            return None
        events = [(span.start, span.end, span.payload) for span in self._events.find(text)]
        events += [
            (hit.start, hit.end, "tender")
            for hit in self._tender_sound.find(text, sounds)
            if hit.exact and hit.start in bounds and hit.end in bounds
        ]
        events += [(i, i + 2, "tender") for i in self._garbled(text, sounds, _looks_like_tender)]
        if not any(kind == "tender" for _, _, kind in events):
            return None
        events.sort()
        for mention in dates:
            if self._event_of(text, mention.start, mention.end, events) == "tender":
                return mention.day
        return None

    def _past(self, text: str, start: int) -> bool:
        before = text[max(0, start - 3):start]
        return any(marker in before for marker in self.rules.past_markers)

    def _garbled(self, text: str, sounds: Syllables, shape) -> list[int]:
        found = []
        for i in range(len(text) - 1):
            if shape(text, sounds.syllables, i) and self.tokenizer.FREQ.get(text[i:i + 2], 0) == 0:
                found.append(i)
        return found

    def _event_of(self, text: str, start: int, end: int, events: list[tuple[int, int, str]]) -> str | None:
        """The event a date belongs to: the cue right after it (十五号招标, 三号前要看到报价), else a cue
        right before it joined only by linking words (招标时间定在十二月三号)."""
        for ev_start, _, kind in events:
            if ev_start >= end:
                close = ev_start - end <= _TENDER_GAP
                if close and not crosses_clause(text, end, ev_start) and "," not in text[end:ev_start]:
                    return kind
                break
        before = [event for event in events if event[1] <= start]
        if before:
            _, ev_end, kind = before[-1]
            gap = text[ev_end:start]
            if len(gap) <= _TENDER_GAP and self._link.fullmatch(gap):
                return kind
        return None


def _looks_like_budget(text: str, syllables: list[str], i: int) -> bool:
    if not (_is_han(text[i]) and _is_han(text[i + 1])):
        return False
    return text[i + 1] == "算" or (syllables[i].startswith("y") and syllables[i + 1].endswith("uan"))


def _looks_like_tender(text: str, syllables: list[str], i: int) -> bool:
    return text[i + 1] == "标" and _is_han(text[i]) and initial_of(syllables[i]) in _GARBLED_TENDER_INITIALS


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _local_day(ref: datetime) -> date:
    """The rep's calendar day: 明天 said at 02:00 Beijing time is the next day even if `ref` came in UTC."""
    return ref.astimezone(SHANGHAI).date() if ref.tzinfo else ref.date()


_cache: OrderedDict[str, Extractor] = OrderedDict()
_cache_lock = threading.Lock()
CACHE_SIZE = 16


def get_extractor(lexicon: Lexicon | None = None) -> Extractor:
    """The cached extractor for this lexicon (the default one when None); building one costs ~0.1 s."""
    lexicon = lexicon or Lexicon.default()
    key = lexicon.fingerprint
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    extractor = Extractor(lexicon)
    with _cache_lock:
        _cache[key] = extractor
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return extractor


def extract(text: str, ref: datetime, lexicon: Lexicon | None = None) -> Fields:
    return get_extractor(lexicon).extract(text, ref)
