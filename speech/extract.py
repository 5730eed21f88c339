"""Sales fields from a visit summary: budget, tender date, competitors, concerns, client titles, keywords.

Rules first: every field comes from lexicon words (spelled right or sound-alike) and families of cue
phrases around them, with their scope (the clause, the sentence), negation (价钱倒好说) and self-corrections
(五十万,不对,六十万), so a tenant can see why a field was found and fix it by editing its lexicon. Each field has
its module: `speech.budget`, `speech.tender`, `speech.competitors`, `speech.concerns`, `speech.titles`. Concerns
alone have a learned back-up (`speech.learned`): a small shipped classifier adds a label the cue families missed,
said in words they do not know, from a window where the client asks or demands something, nothing rules a concern
out and no cue is found.
`get_extractor(lexicon)` caches one `Extractor` (and its jieba tokenizer) per lexicon fingerprint.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import date, datetime
from zoneinfo import ZoneInfo

from speech.budget import BudgetFinder, Cue
from speech.chinese import normalize, to_simplified
from speech.competitors import CompetitorFinder
from speech.concerns import ConcernFinder, plain_words
from speech.fields import Fields
from speech.learned import ConcernModel, default_model
from speech.lexicon import Lexicon
from speech.money import repair_units
from speech.phonetic import SoundIndex, Syllables, initial_of, respell
from speech.rules import Rules
from speech.spacing import Rejoiner
from speech.tender import Event, TenderFinder
from speech.terms import TermFinder, is_word, tenant_tokenizer, token_bounds
from speech.titles import TitleFinder

_SOUND_CUE_GAP = 6  # a sound-alike cue (一算) must be close to its amount: the amount is its only evidence
# Last-resort shapes of words ASR mangled past the sound-alike index, each trusted only when the pair is no
# word of its own and with hard evidence next to it: X算 or a y- syllable then a -uan one right before an
# amount is 预算 (订算一个亿, 印券60万; 打算, 结算, 运转 are words); zh/ch/z/c/k/t + 标 tied to a date is
# 招标/开标/投标 (周标定在12月10号, 下周三拆标; 目标, 指标 are words).
_GARBLED_BUDGET_GAP = 3
_GARBLED_TENDER_INITIALS = frozenset({"zh", "ch", "z", "c", "k", "t"})
SHANGHAI = ZoneInfo("Asia/Shanghai")
_PARTICLES = frozenset("的了是在就也都吗呢吧啊")
_SHIPPED = object()  # Extractor's default `learned`: the model in speech/data
_DATE_WORDS = ("星期", "礼拜", "月底", "月末", "年底", "明天", "后天", "大后天", "上午", "下午", "下周", "下个月")


class Extractor:
    def __init__(self, lexicon: Lexicon, rules: Rules | None = None,
                 learned: ConcernModel | None | object = _SHIPPED) -> None:
        """`learned`: the concern classifier, the shipped one by default; None for the rules alone."""
        self.lexicon = lexicon
        self.rules = rules = rules or Rules.default()
        self._learned = default_model() if learned is _SHIPPED else learned
        words = [*lexicon.titles, *lexicon.products, *lexicon.keywords, *rules.words()]
        words += [alias for aliases in lexicon.competitors.values() for alias in aliases]
        self.tokenizer = tenant_tokenizer(word.lower() for word in words)
        self._competitors = CompetitorFinder(lexicon, rules, self.tokenizer)
        self._titles = TitleFinder(lexicon, rules, self.tokenizer)
        self._concerns = ConcernFinder(rules.concerns)
        self._budget = BudgetFinder(rules)
        self._tender = TenderFinder(rules)
        self._budget_sound = SoundIndex([("预算", True)])
        tender_cues = [*rules.tender.strong, *rules.tender.medium]
        self._tender_sound = SoundIndex([(cue, "medium") for cue in tender_cues])
        self._keywords = TermFinder((word.lower(), word) for word in [*lexicon.keywords, *lexicon.products])
        # cue words ASR writes with the wrong characters (受后 for 售后, 空置价 for 控制价, 不是嘴重要 for 不是最重要),
        # put back before matching; not short words built on a particle (报的: 维保的 is not 维报的)
        b, t, c = rules.budget, rules.tender, rules.concerns
        content = [w for w in [*b.cues, *b.caps, *b.decoys, *b.changes, *t.other, *t.past, *t.negated]
                   if _PARTICLES.isdisjoint(w) and w != "预算"]
        said = [*rules.competitors.absent, *rules.competitors.partner]
        cue_words = [*plain_words(c), *c.ruled_out, *c.own_voice, *content, *said, *t.strong, *t.medium,
                     *rules.corrections, *_DATE_WORDS]
        self._cue_sounds = SoundIndex((word, word) for word in dict.fromkeys(cue_words))
        # words whose sound-alikes are everyday words (太慢 ~ 太满, 试用 ~ 是用) are not put back where the written
        # characters already read plainly; tender and date words are: a date beside them is evidence enough
        anchored = {*t.strong, *t.medium, *rules.corrections, *_DATE_WORDS}
        self._guarded = frozenset(word for word in cue_words if word not in anchored)
        aliases = [alias.lower() for aliases in lexicon.competitors.values() for alias in aliases]
        names = [*aliases, *(title.lower() for title in lexicon.titles)]
        self._rejoin = Rejoiner(names, [*names, "预算", *b.caps, *t.strong, *t.medium, *plain_words(c)])

    def extract(self, text: str, ref: datetime) -> Fields:
        text = self._rejoin(normalize(to_simplified(text)).lower())
        bounds = token_bounds(self.tokenizer, text)
        sounds = Syllables(text)
        text = respell(text, sounds, self._cue_sounds,
                       lambda start, end: start not in bounds or end not in bounds or self._is_word(text, start, end),
                       self._guarded)
        competitors = self._competitors.find(text, sounds, bounds)
        titles = self._titles.find(text, sounds, bounds, competitors.spans)
        concerns = self._concerns.find(text, bounds, [(s.start, s.end) for s in titles],
                                       [(s.start, s.end) for s in competitors.spans])
        if self._learned is not None:
            extra = self._learned.labels_in(text, self._concerns.unexplained)
            concerns += tuple(label for label in extra if label not in concerns)
        return Fields(
            budget=self._find_budget(text, sounds),
            tender_date=self._find_tender(text, _local_day(ref), sounds, bounds),
            competitors=competitors.names,
            concerns=concerns,
            titles=tuple(dict.fromkeys(span.payload for span in titles)),
            keywords=tuple(dict.fromkeys(s.payload for s in self._keywords.find(text)
                                         if s.start in bounds and s.end in bounds)),
        )

    def _find_budget(self, text: str, sounds: Syllables):
        cues = self._budget.cues(text)
        heard = [Cue(hit.start, hit.end, frozenset({"budget"}), _SOUND_CUE_GAP)
                 for hit in self._budget_sound.find(text, sounds)]
        heard += [Cue(i, i + 2, frozenset({"budget"}), _GARBLED_BUDGET_GAP)
                  for i in self._garbled(text, sounds, _looks_like_budget)]
        cues += [h for h in heard if not any(h.start < cue.end and cue.start < h.end for cue in cues)]
        for cue in cues:
            if cue.kinds & {"budget", "cap"}:
                text = repair_units(text, cue.end, cue.end + cue.gap)
        return self._budget.find(text, cues)

    def _find_tender(self, text: str, ref: date, sounds: Syllables, bounds: frozenset[int]) -> date | None:
        events = self._tender.events(text)
        heard = [Event(hit.start, hit.end, hit.payload) for hit in self._tender_sound.find(text, sounds)
                 if hit.exact and (hit.start in bounds or hit.end in bounds) and not self._is_word(text, hit.start,
                                                                                                    hit.end)]
        heard += [Event(i, i + 2, "medium") for i in self._garbled(text, sounds, _looks_like_tender)]
        events += [h for h in heard if not any(h.start < e.end and e.start < h.end for e in events)]
        return self._tender.find(text, ref, events)

    def _is_word(self, text: str, start: int, end: int) -> bool:
        return is_word(self.tokenizer, text, start, end)

    def _garbled(self, text: str, sounds: Syllables, shape) -> list[int]:
        freq = self.tokenizer.FREQ
        return [i for i in shape(text, sounds.syllables) if freq.get(text[i:i + 2], 0) == 0]


def _looks_like_budget(text: str, syllables: list[str]) -> list[int]:
    """X算, or a y- syllable then a -uan one: 一算, 印券 (both Han characters)."""
    return [i for i in range(len(text) - 1)
            if (text[i + 1] == "算" or (syllables[i][:1] == "y" and syllables[i + 1].endswith("uan")))
            and _is_han(text[i]) and _is_han(text[i + 1])]


def _looks_like_tender(text: str, syllables: list[str]) -> list[int]:
    """zh/ch/z/c/k/t + 标: 周标, 拆标."""
    return [i for i in range(len(text) - 1) if text[i + 1] == "标" and _is_han(text[i])
            and initial_of(syllables[i]) in _GARBLED_TENDER_INITIALS]


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
