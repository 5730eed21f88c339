"""The extraction rules' word lists and cue patterns, loaded from `speech/data/rules.json`.

The lists are families of cue phrases, not sentences: each names a way of saying something (a budget cap, a
tender that failed, a vendor that stayed out, data leaving the building), and the modules that read them
decide scope (the clause, the sentence) and precedence (a correction beats what it corrects).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from typing import Any

CONCERNS = ("价格", "交付周期", "售后响应", "技术顾虑", "数据安全", "定制需求", "合规", "付款方式")


def _words(raw: dict[str, Any], cls: type) -> dict[str, Any]:
    return {f.name: tuple(raw[f.name]) for f in fields(cls)}


@dataclass(frozen=True)
class BudgetRules:
    cues: tuple[str, ...]  # the amount after them is the client's money for this project
    caps: tuple[str, ...]  # 上限, 控制价, 不超过 X: a ceiling is the budget
    caps_after: tuple[str, ...]  # X 以内, X 封顶
    after: tuple[str, ...]  # X 的预算
    shares: tuple[str, ...]  # 总预算 X, 分给这个项目 Y: the share is the budget
    totals: tuple[str, ...]  # 软件四十万,硬件二十万,加起来六十万: a total after its parts replaces them
    changes: tuple[str, ...]  # 提到了, 缩减到: the figure after replaces the one before
    decoys: tuple[str, ...]  # money that is not the budget: quotes, spend, bonds, parts of a breakdown
    past: tuple[str, ...]  # a figure of an earlier time or a failed tender
    now: tuple[str, ...]  # … unless the present is said after it (这次提到了一百一十万)
    back_references: tuple[str, ...]  # 这个数是去年申报的: the figure just stated was a decoy


@dataclass(frozen=True)
class TenderRules:
    strong: tuple[str, ...]  # opening / bid deadline
    medium: tuple[str, ...]  # 招标, 投标
    weak: tuple[str, ...]  # the notice going up: the tender date only when no opening date is given
    negated: tuple[str, ...]  # 不走招标: a decision deadline, not a tender
    past: tuple[str, ...]  # a tender already held (and failed)
    past_before: tuple[str, ...]  # 上次, 去年 right before a tender cue: that tender was held already
    other: tuple[str, ...]  # visits, demos, signing, delivery, payment…
    changes: tuple[str, ...]  # 改到, 推迟到
    undecided: tuple[str, ...]  # 九月底之前招标,具体哪天还没定: no day is fixed yet


@dataclass(frozen=True)
class CompetitorRules:
    context: tuple[str, ...]  # competitor talk that lets an ambiguous name (浪潮, 致远) count
    absent: tuple[str, ...]  # 这次没来, 不投了, 不做这块
    partner: tuple[str, ...]  # 联合投标, 牵头, 原厂支持我们


@dataclass(frozen=True)
class TitleRules:
    not_titles: tuple[str, ...]
    unit_roles: dict[str, tuple[str, ...]]  # unit suffix (处, 科, 中心…) -> roles that keep it (处长, 主任…)
    third_party: tuple[str, ...]  # 招标代理公司的项目经理 is not the client's


@dataclass(frozen=True)
class ConcernRules:
    groups: dict[str, str]  # {name} in a pattern: a regex alternation of words of one kind
    labels: dict[str, tuple[str, ...]]  # label -> patterns; "A…B" is A then B in the same clause
    not_cues: tuple[str, ...]  # words containing a cue that are not one (对接人, 服务器, 保证金)
    ruled_out: tuple[str, ...]  # the client rules the concern out: 不是问题, 倒好说, 没意见
    ruled_out_before: tuple[str, ...]  # right before the cue: 担心的不是价格
    own_voice: tuple[str, ...]  # the rep's own worry or pressure: 我自己有点担心, 领导催
    yields: dict[str, tuple[str, ...]]  # label -> labels that take a clause both fire in (定制开发一个接口对接现有系统
    # is 定制需求; 信创适配过的 is 合规)
    weak: tuple[str, ...]  # bare nouns (价格, 售后) that count only when their clause says something of them
    said: tuple[str, ...]  # what makes a clause say something of a weak cue: 担心, 要求, 能不能, 太…
    unheard: tuple[str, ...]  # groups of function words, never matched by sound (他们, 担心)


@dataclass(frozen=True)
class Rules:
    corrections: tuple[str, ...]  # 不对, 说错了, 更正一下: the value after replaces the one before
    not_corrections: tuple[str, ...]  # 对不对 contains 不对
    budget: BudgetRules
    tender: TenderRules
    competitors: CompetitorRules
    own_side: tuple[str, ...]
    titles: TitleRules
    concerns: ConcernRules

    @classmethod
    @cache
    def default(cls) -> Rules:
        raw = json.loads(resources.files("speech.data").joinpath("rules.json").read_text("utf-8"))
        return cls.from_json(raw)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Rules:
        concerns = raw["concerns"]
        unknown = set(concerns["labels"]) - set(CONCERNS)
        if unknown:
            raise ValueError(f"concern labels outside the taxonomy: {sorted(unknown)}")
        titles = raw["titles"]
        return cls(
            corrections=tuple(raw["corrections"]),
            not_corrections=tuple(raw["not_corrections"]),
            budget=BudgetRules(**_words(raw["budget"], BudgetRules)),
            tender=TenderRules(**_words(raw["tender"], TenderRules)),
            competitors=CompetitorRules(**_words(raw["competitors"], CompetitorRules)),
            own_side=tuple(raw["own_side"]),
            titles=TitleRules(
                not_titles=tuple(titles["not_titles"]),
                unit_roles={unit: tuple(roles) for unit, roles in titles["unit_roles"].items()},
                third_party=tuple(titles["third_party"]),
            ),
            concerns=ConcernRules(
                groups=dict(concerns["groups"]),
                labels={label: tuple(patterns) for label, patterns in concerns["labels"].items()},
                not_cues=tuple(concerns["not_cues"]),
                ruled_out=tuple(concerns["ruled_out"]),
                ruled_out_before=tuple(concerns["ruled_out_before"]),
                own_voice=tuple(concerns["own_voice"]),
                # one label or a list of them (a bare string would otherwise split into characters)
                yields={label: (others,) if isinstance(others, str) else tuple(others)
                        for label, others in concerns.get("yields", {}).items()},
                weak=tuple(concerns["weak"]),
                said=tuple(concerns["said"]),
                unheard=tuple(concerns["unheard"]),
            ),
        )

    def words(self) -> list[str]:
        """Plain cue words, for the tokenizer's dictionary, so cues come out as whole tokens."""
        b, t = self.budget, self.tender
        lists = [b.cues, b.caps, b.decoys, t.strong, t.medium, t.weak, t.other, self.corrections]
        concerns = [p for patterns in self.concerns.labels.values() for p in patterns if not set("…⋯{") & set(p)]
        # words that are no cue (饭点, 加签) are words too: a sound-alike cue (返点, 加钱) is not put in their place
        return [word for group in [*lists, concerns, self.concerns.not_cues] for word in group if len(word) > 1]
