"""The values the lead workflow reads and writes: snapshots in, snapshots out, never a database row.

The database layer builds a `Lead` from its rows (the lead, its contacts, its evidence, its status history),
hands it to `bot.leads.workflow.decide` together with the `Actor` who clicked and the tenant's `WorkflowSettings`, and
stores what comes back. Everything here is frozen: a decision returns a new snapshot instead of editing one.

Ids are the database's own integer ids (users, leads, notes, alerts), never a platform's user id: the mapping
from a platform's user id to ours happens before the workflow is called.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType

# The stages are declared in their own table; these names are what the rest of the service imports from here.
from bot.leads.stages import CLOSED as CLOSED
from bot.leads.stages import PIPELINE as PIPELINE
from bot.leads.stages import STATUS_LABELS as STATUS_LABELS
from bot.leads.stages import Status as Status
from bot.leads.stages import next_stage as next_stage

# What `speech` pulls out of a voice summary (the DESIGN.md output contract): one type for the lead core too.
from speech.fields import Budget as Budget
from speech.fields import Fields as Extraction

# Loss reasons a card offers (code -> the words stored as the reason). The API may give any other text.
LOST_REASONS: Mapping[str, str] = MappingProxyType(
    {
        "price": "价格不合适",
        "competitor": "选择了竞品",
        "budget": "预算取消",
        "need": "需求变化",
        "unreachable": "联系不上",
        "other": "其他",
    }
)


class Role(enum.StrEnum):
    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"
    # Jobs acting on their own (escalation ladder, deactivation): may do what an admin may do.
    SYSTEM = "system"


class IntentTier(enum.StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Priority(enum.IntEnum):
    NORMAL = 0
    HIGH = 1
    URGENT = 2

    @property
    def label(self) -> str:
        return ("普通", "高", "急")[self]


class EventSource(enum.StrEnum):
    """Which way a change came in; recorded on every audit event."""

    CARD = "card"
    VOICE = "voice"
    API = "api"
    SMS = "sms"
    EMAIL = "email"
    WEB = "web"  # the managers' board page (take over)
    SYSTEM = "system"


class EvidenceKind(enum.StrEnum):
    VOICE_SUMMARY = "voice_summary"
    ATTACHMENT = "attachment"
    NOTE = "note"  # a typed note: on record, but it does not open the demo gate


# What opens the 方案演示 gate: something a manager can listen to or read, logged since 需求确认.
DEMO_EVIDENCE_KINDS = frozenset({EvidenceKind.VOICE_SUMMARY, EvidenceKind.ATTACHMENT})


@dataclass(frozen=True, slots=True)
class Evidence:
    """A piece of evidence on file; `ref` names it for the audit trail, e.g. "voice:42" or "file:7"."""

    ref: str
    kind: EvidenceKind
    at: datetime


@dataclass(frozen=True, slots=True)
class Contact:
    name: str
    title: str = ""
    decision_maker: bool = False


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One step of the status history: enough to tell when a stage was entered and what a reopen restores."""

    from_status: Status | None
    to_status: Status
    at: datetime


@dataclass(frozen=True, slots=True)
class Lead:
    """A lead as the workflow sees it. `version` goes up by one on every accepted change (cards carry it)."""

    id: int
    tenant_id: int
    status: Status = Status.POOL
    version: int = 0
    external_id: str | None = None
    company: str = ""
    contact_name: str = ""
    phone: str = ""
    email: str = ""
    source: str = ""
    region: str = ""
    industry: str = ""
    budget_min: int | None = None
    budget_max: int | None = None
    tags: tuple[str, ...] = ()
    intent: IntentTier | None = None
    priority: Priority = Priority.NORMAL
    assignee_id: int | None = None
    assignee_name: str = ""
    # The assignee's manager, joined in by the loader: "their manager" may act on the lead.
    assignee_manager_id: int | None = None
    decision_maker: str | None = None
    contacts: tuple[Contact, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    history: tuple[StatusChange, ...] = ()
    tender_date: date | None = None
    competitors: tuple[str, ...] = ()
    created_at: datetime | None = None
    assigned_at: datetime | None = None
    contacted_at: datetime | None = None
    closed_at: datetime | None = None
    lost_reason: str | None = None
    # Times the lead went back (to the pool, or away from a rep by the escalation ladder).
    bounce_count: int = 0

    @property
    def budget_known(self) -> bool:
        return self.budget_min is not None or self.budget_max is not None

    @property
    def has_decision_maker(self) -> bool:
        return bool(self.decision_maker) or any(c.decision_maker for c in self.contacts)

    @property
    def titles_on_file(self) -> frozenset[str]:
        return frozenset(c.title for c in self.contacts if c.title)

    def entered_at(self, status: Status) -> datetime | None:
        """When the lead last entered `status`, from its history."""
        for change in reversed(self.history):
            if change.to_status is status:
                return change.at
        return None


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting. `tenant_id` is checked against the lead's: no one reaches another tenant's leads."""

    user_id: int | None
    tenant_id: int
    role: Role
    manager_id: int | None = None
    name: str = ""

    @classmethod
    def system(cls, tenant_id: int) -> Actor:
        return cls(user_id=None, tenant_id=tenant_id, role=Role.SYSTEM, name="系统")


@dataclass(frozen=True, slots=True)
class UserView:
    """A user as routing and assignment see them."""

    id: int
    tenant_id: int
    role: Role = Role.REP
    name: str = ""
    manager_id: int | None = None
    regions: frozenset[str] = frozenset()
    industries: frozenset[str] = frozenset()
    active: bool = True
    open_leads: int = 0


DEFAULT_DEADLINE_MINUTES: Mapping[IntentTier, int] = MappingProxyType(
    {IntentTier.HIGH: 30, IntentTier.MEDIUM: 120, IntentTier.LOW: 24 * 60}
)
DEFAULT_URGENCY_TAGS = frozenset({"急", "紧急", "加急", "特急", "招标中"})


@dataclass(frozen=True, slots=True)
class WorkflowSettings:
    """A tenant's workflow knobs. Gates are on unless the tenant turns them off."""

    # One switch per evidence gate of the stage table (`bot.leads.stages.GATES`), named by the gate's `setting`.
    gate_demo_needs_evidence: bool = True
    gate_negotiation_needs_budget: bool = True
    gate_contract_needs_decision_maker: bool = True
    # Response-lock length in working minutes, per intent tier; leads without a tier get the default.
    deadline_minutes: Mapping[IntentTier, int] = field(default_factory=lambda: DEFAULT_DEADLINE_MINUTES)
    default_deadline_minutes: int = 4 * 60
    # 公海: may a rep take a lead out of the pool themselves, or only a manager hand it out?
    reps_may_claim_pool: bool = True
    urgency_tags: frozenset[str] = DEFAULT_URGENCY_TAGS

    def deadline_minutes_for(self, tier: IntentTier | None) -> int:
        if tier is None:
            return self.default_deadline_minutes
        return self.deadline_minutes.get(tier, self.default_deadline_minutes)


DEFAULT_SETTINGS = WorkflowSettings()


def deadline_tier(lead: Lead) -> IntentTier | None:
    """The tier whose deadline applies: an urgent lead gets the shortest lock whatever its stated intent."""
    if lead.priority >= Priority.URGENT:
        return IntentTier.HIGH
    return lead.intent


@dataclass(frozen=True, slots=True)
class VoiceNote:
    """A transcribed voice summary, as the summary card shows it. `version` rises when the rep corrects it."""

    id: int
    tenant_id: int
    lead_id: int | None
    transcript: str
    fields: Extraction
    duration_s: float
    at: datetime
    version: int = 0
    confirmed: bool = False

    @property
    def evidence_ref(self) -> str:
        return f"voice:{self.id}"
