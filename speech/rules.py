"""The extraction rules' word lists (cues, taxonomy), loaded from `speech/data/rules.json`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

CONCERNS = ("价格", "交付周期", "售后响应", "技术顾虑", "数据安全", "定制需求", "合规", "付款方式")


@dataclass(frozen=True)
class Rules:
    budget_cues: tuple[str, ...]
    not_budget_cues: tuple[str, ...]
    tender_cues: tuple[str, ...]
    other_event_cues: tuple[str, ...]
    tender_link: tuple[str, ...]
    competitor_context: tuple[str, ...]
    concerns: dict[str, tuple[str, ...]]
    concern_negators_before: tuple[str, ...]
    concern_negators_after: tuple[str, ...]
    concern_exclusions: tuple[str, ...]
    own_side: tuple[str, ...]
    past_markers: tuple[str, ...]
    # cues that are ordinary work talk unless a worry or a demand is voiced next to them (下周和客户对接一下)
    concern_weak: tuple[str, ...]
    concern_triggers: tuple[str, ...]  # 去年预算一百万 is last year's, not this deal's

    @classmethod
    @cache
    def default(cls) -> Rules:
        raw = json.loads(resources.files("speech.data").joinpath("rules.json").read_text("utf-8"))
        unknown = set(raw["concerns"]) - set(CONCERNS)
        if unknown:
            raise ValueError(f"concern labels outside the taxonomy: {sorted(unknown)}")
        concerns = {label: tuple(cues) for label, cues in raw.pop("concerns").items()}
        return cls(concerns=concerns, **{key: tuple(value) for key, value in raw.items()})

    def words(self) -> list[str]:
        """Every cue, for the tokenizer's dictionary, so cues come out as whole tokens."""
        lists = [self.budget_cues, self.not_budget_cues, self.tender_cues, self.other_event_cues,
                 *self.concerns.values()]
        return [word for group in lists for word in group if len(word) > 1]
