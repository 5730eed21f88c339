"""A tenant's settings, stored as JSON on the tenant row and validated here before they are stored or used.

Each capability reads its own section (`workflow`, `calendar`, ...) and turns it into the value type its pure
logic takes (`WorkflowSettings`, `WorkCalendar`). Unknown keys are refused so a typo is not silently ignored.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from bot.alerting.ladder import DEFAULT_ACK_KINDS, DEFAULT_STEPS, EscalationSettings, Step, StepAction, needs_ack
from bot.alerting.notify.chain import CHANNELS, DEFAULT_ACK_TIMEOUT_S, ChainPlan
from bot.alerting.notify.providers import SmsSettings, seal_sms
from bot.board.figures import JUDGED
from bot.calendar import holidays
from bot.calendar.worktime import WorkCalendar
from bot.leads.stages import GATES
from bot.leads.types import DEFAULT_URGENCY_TAGS, IntentTier, WorkflowSettings
from bot.runtime.urlguard import UnsafeUrl, check_syntax
from storage.secrets import SecretBox

Minutes = Annotated[int, Field(ge=1, le=30 * 24 * 60)]
HourMinute = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# One switch per evidence gate of the stage table (`bot.leads.stages.GATES`), named by the gate's `setting` (e.g.
# `gate_demo_needs_evidence`), on by default: declared by the table, not here.
_GateSwitches: type[_Section] = create_model(
    "_GateSwitches", __base__=_Section, **{gate.setting: (bool, True) for _, gate in GATES}
)


class WorkflowSection(_GateSwitches):  # type: ignore[misc,valid-type]
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
            **{gate.setting: getattr(self, gate.setting) for _, gate in GATES},
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


class StepSection(_Section):
    action: StepAction
    # After the previous step (the first: after the deadline), in working minutes unless the tenant says not.
    delay_minutes: Annotated[int, Field(ge=0, le=30 * 24 * 60)] = 0


class EscalationSection(_Section):
    """The response-lock ladder (frozen onto each lock when it starts) and the stale-deal rule."""

    steps: list[StepSection] = Field(
        default_factory=lambda: [StepSection(action=s.action, delay_minutes=s.delay_minutes) for s in DEFAULT_STEPS],
        min_length=1,
        max_length=10,
    )
    delays_in_working_time: bool = True
    # An open deal with no logged activity for this long alerts its manager; 0 turns the rule off.
    stale_after_hours: Annotated[int, Field(ge=0, le=365 * 24)] = 72

    def to_value(self) -> EscalationSettings:
        return EscalationSettings(
            steps=tuple(Step(s.action, s.delay_minutes) for s in self.steps),
            working_time=self.delays_in_working_time,
            stale_after_hours=self.stale_after_hours,
        )


ChannelName = Literal["chat", "sms", "email"]


def _default_chain() -> list[ChannelName]:
    return list(CHANNELS)  # type: ignore[arg-type]


Seconds = Annotated[float, Field(ge=0, le=7 * 86400)]


class NotifySection(_Section):
    """The alert channel chain, how long to wait for an ack on each channel, and the tenant's SMS provider.
    SMS credentials are stored sealed (`*_sealed`); the admin API seals them (`seal_notify`)."""

    chain: list[ChannelName] = Field(default_factory=_default_chain, min_length=1)
    ack_timeout_s: dict[ChannelName, Seconds] = Field(default_factory=dict)
    # Alert kinds that go on down the chain until acknowledged; the others stop at the first delivery.
    ack_kinds: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(
        default_factory=lambda: [str(k) for k in DEFAULT_ACK_KINDS]
    )
    chat_timeout_s: Annotated[float, Field(gt=0, le=60)] = 8.0
    sms_timeout_s: Annotated[float, Field(gt=0, le=60)] = 10.0
    # The lead's page in the tenant's CRM, e.g. "https://crm.example.com/leads/{lead_id}" (default: the lead API).
    # `{lead_id}` is the one placeholder, replaced as text (never str.format: no format specs, no attributes).
    lead_url: Annotated[str, Field(max_length=512)] | None = None
    sms: SmsSettings | None = None

    @field_validator("chain")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("each channel at most once")
        return v

    @field_validator("lead_url")
    @classmethod
    def _lead_url(cls, v: str | None) -> str | None:
        if v is not None:
            check_lead_url(v)
        return v

    def lead_link(self, lead_id: int) -> str | None:
        """The tenant's link to a lead, or None when it has set none."""
        return self.lead_url.replace(LEAD_ID, str(lead_id)) if self.lead_url else None

    def chain_plan(self, kind: str) -> ChainPlan:
        timeouts: dict[str, float] = {**DEFAULT_ACK_TIMEOUT_S}
        timeouts.update({str(k): v for k, v in self.ack_timeout_s.items()})
        return ChainPlan(tuple(self.chain), timeouts, needs_ack(kind, self.ack_kinds))


LEAD_ID = "{lead_id}"


def check_lead_url(template: str) -> None:
    """An http(s) URL holding `{lead_id}` and no other braces (`{0}`, `{lead_id:>9999}`, `{lead_id.__class__}`
    are refused), without spaces; ValueError says why."""
    if LEAD_ID not in template:
        raise ValueError("must contain {lead_id}")
    rest = template.replace(LEAD_ID, "")
    if "{" in rest or "}" in rest:
        raise ValueError("{lead_id} is the only placeholder; no other { or } allowed")
    if any(c.isspace() for c in template):
        raise ValueError("must not contain spaces")
    try:
        check_syntax(template.replace(LEAD_ID, "1"))
    except UnsafeUrl as e:
        raise ValueError(str(e)) from None


def seal_notify(raw: dict[str, Any], box: SecretBox, previous: dict[str, Any] | None) -> dict[str, Any]:
    """An admin's `notify` section with the SMS secret sealed (`bot.alerting.notify.providers.seal_sms`)."""
    raw = dict(raw)
    sms = raw.get("sms")
    if isinstance(sms, dict):
        raw["sms"] = seal_sms(sms, box, (previous or {}).get("sms"))
    return raw


BoardFigure = Literal["untouched_24h", "ttfc_median_min", "ttfc_p90_min", "lock_breaches", "unevidenced_rate",
                      "conv_demo", "conv_won", "voice_per_rep", "fallback_rate"]
NonNegative = Annotated[float, Field(ge=0, le=1_000_000)]


class ThresholdSection(_Section):
    """Where a figure turns yellow and red. Counts marked "per day" in `bot.board.figures.JUDGED` are judged per
    day of the window; for figures where more is better (conversion, voice notes) the colour comes when the value
    falls to the bound, so there `red` is the lower one."""

    yellow: NonNegative
    red: NonNegative


def _default_thresholds() -> dict[BoardFigure, ThresholdSection]:
    bounds: dict[BoardFigure, tuple[float, float]] = {
        "untouched_24h": (1, 3), "ttfc_median_min": (60, 240), "ttfc_p90_min": (240, 480),
        "lock_breaches": (1, 3), "unevidenced_rate": (0.2, 0.4), "conv_demo": (0.3, 0.15),
        "conv_won": (0.1, 0.05), "voice_per_rep": (0.5, 0.2), "fallback_rate": (0.1, 0.3),
    }  # fmt: skip
    return {k: ThresholdSection(yellow=y, red=r) for k, (y, r) in bounds.items()}


class BoardSection(_Section):
    """The managers' board and daily digest (issue 9). Thresholds given replace the defaults of those figures only."""

    enabled: bool = True
    # Local time of the digest on each working morning of the tenant's calendar.
    digest_time: HourMinute = "09:00"
    thresholds: dict[BoardFigure, ThresholdSection] = Field(default_factory=dict)

    @field_validator("thresholds")
    @classmethod
    def _ordered(cls, v: dict[str, ThresholdSection]) -> dict[str, ThresholdSection]:
        for name, t in v.items():
            worse_up = JUDGED[name].higher_is_worse
            if (worse_up and t.yellow > t.red) or (not worse_up and t.yellow < t.red):
                side = "at most" if worse_up else "at least"
                raise ValueError(f"{name}: yellow must be {side} red")
        return v

    def all_thresholds(self) -> dict[str, ThresholdSection]:
        return {**_default_thresholds(), **self.thresholds}


class TenantSettings(_Section):
    workflow: WorkflowSection = Field(default_factory=WorkflowSection)
    calendar: CalendarSection = Field(default_factory=CalendarSection)
    escalation: EscalationSection = Field(default_factory=EscalationSection)
    notify: NotifySection = Field(default_factory=NotifySection)
    board: BoardSection = Field(default_factory=BoardSection)
    lexicon: LexiconSection = Field(default_factory=LexiconSection)

    @classmethod
    def of(cls, raw: dict[str, Any] | None) -> TenantSettings:
        raw = raw or {}
        notify = raw.get("notify")
        if isinstance(notify, dict) and isinstance(notify.get("lead_url"), str):
            try:
                check_lead_url(notify["lead_url"])
            except ValueError:
                # Saved before templates were checked: the default link beats failing every alert of the tenant.
                raw = {**raw, "notify": {k: v for k, v in notify.items() if k != "lead_url"}}
        return cls.model_validate(raw)

    @classmethod
    def of_row(cls, tenant: Any) -> TenantSettings:
        """`of(tenant.settings)` for a tenant row, validated once per row as read: a card click's change, its board
        facts and its card redraw share the job's row, and validated it three times. Read again (a new row, or a
        new settings value assigned) validates again; the result is shared, not to be changed."""
        cached = tenant.__dict__.get("_settings_of_row")
        if cached is not None and cached[0] is tenant.settings:
            return cached[1]
        parsed = cls.of(tenant.settings)
        tenant.__dict__["_settings_of_row"] = (tenant.settings, parsed)
        return parsed

    def calendar_for(self, timezone: str) -> WorkCalendar:
        return WorkCalendar(timezone, hours=[tuple(p) for p in self.calendar.hours], overrides=self.calendar.overrides,
                            official=holidays.official())

