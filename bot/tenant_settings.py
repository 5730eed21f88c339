"""A tenant's settings, stored as JSON on the tenant row and validated here before they are stored or used.

Each capability reads its own section (`workflow`, `calendar`, ...) and turns it into the value type its pure
logic takes (`WorkflowSettings`, `WorkCalendar`). Unknown keys are refused so a typo is not silently ignored.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from bot.leadtypes import DEFAULT_URGENCY_TAGS, IntentTier, WorkflowSettings
from bot.worktime import WorkCalendar

Minutes = Annotated[int, Field(ge=1, le=30 * 24 * 60)]
HourMinute = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkflowSection(_Section):
    gate_demo_needs_evidence: bool = True
    gate_negotiation_needs_budget: bool = True
    gate_contract_needs_decision_maker: bool = True
    deadline_minutes: dict[IntentTier, Minutes] = Field(
        default_factory=lambda: {IntentTier.HIGH: 30, IntentTier.MEDIUM: 120, IntentTier.LOW: 24 * 60}
    )
    default_deadline_minutes: Minutes = 4 * 60
    reps_may_claim_pool: bool = True
    urgency_tags: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=lambda: sorted(DEFAULT_URGENCY_TAGS)
    )

    def to_value(self) -> WorkflowSettings:
        return WorkflowSettings(
            gate_demo_needs_evidence=self.gate_demo_needs_evidence,
            gate_negotiation_needs_budget=self.gate_negotiation_needs_budget,
            gate_contract_needs_decision_maker=self.gate_contract_needs_decision_maker,
            deadline_minutes=dict(self.deadline_minutes),
            default_deadline_minutes=self.default_deadline_minutes,
            reps_may_claim_pool=self.reps_may_claim_pool,
            urgency_tags=frozenset(self.urgency_tags),
        )


class CalendarSection(_Section):
    """Working hours (lunch break = the gap between periods) and admin overrides of single days
    (true = a working day, false = a day off), for holidays announced after the package was released."""

    hours: list[tuple[HourMinute, HourMinute]] = Field(default_factory=lambda: [("09:00", "12:00"), ("13:30", "18:00")])
    overrides: dict[date, bool] = Field(default_factory=dict)


# A lexicon word: a competitor alias, a product, a title... Kept short: each is matched by sound in every note.
LexiconWord = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[^\x00-\x1f]*\S[^\x00-\x1f]*$")]
LexiconWords = Annotated[list[LexiconWord], Field(max_length=2000)]


class LexiconRemoval(_Section):
    """Entries of the built-in lexicon this tenant does not want (a vendor that is their partner, say)."""

    competitors: LexiconWords = Field(default_factory=list)
    context_required: LexiconWords = Field(default_factory=list)
    products: LexiconWords = Field(default_factory=list)
    titles: LexiconWords = Field(default_factory=list)
    title_roles: LexiconWords = Field(default_factory=list)
    keywords: LexiconWords = Field(default_factory=list)
    hotwords: LexiconWords = Field(default_factory=list)


class LexiconSection(_Section):
    """The tenant's edits on top of the built-in lexicon (`speech.lexicon.Lexicon.merge` applies them):
    competitors (canonical name -> aliases) are added or extended, lists are appended to, `remove` drops."""

    competitors: dict[LexiconWord, Annotated[list[LexiconWord], Field(max_length=50)]] = Field(
        default_factory=dict, max_length=500
    )
    context_required: LexiconWords = Field(default_factory=list)
    products: LexiconWords = Field(default_factory=list)
    titles: LexiconWords = Field(default_factory=list)
    title_roles: LexiconWords = Field(default_factory=list)
    keywords: LexiconWords = Field(default_factory=list)
    # Words the recogniser is primed with, most important first (only the first few dozen characters count).
    hotwords: LexiconWords = Field(default_factory=list)
    remove: LexiconRemoval = Field(default_factory=LexiconRemoval)


class TenantSettings(_Section):
    workflow: WorkflowSection = Field(default_factory=WorkflowSection)
    calendar: CalendarSection = Field(default_factory=CalendarSection)
    # Sections owned by other capabilities are validated by them; kept as given here.
    escalation: dict[str, Any] = Field(default_factory=dict)
    board: dict[str, Any] = Field(default_factory=dict)
    lexicon: LexiconSection = Field(default_factory=LexiconSection)

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> TenantSettings:
        return cls.model_validate(raw or {})

    def calendar_for(self, timezone: str) -> WorkCalendar:
        return WorkCalendar(timezone, hours=[tuple(p) for p in self.calendar.hours], overrides=self.calendar.overrides)


class SettingsPatch(_Section):
    """Sections to change; within a section, only the keys given change."""

    workflow: dict[str, Any] | None = None
    calendar: dict[str, Any] | None = None
    escalation: dict[str, Any] | None = None
    board: dict[str, Any] | None = None
