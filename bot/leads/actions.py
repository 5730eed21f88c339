"""What can be asked of the workflow (actions) and what it answers with (decisions carrying effects as data).

Effects are instructions for the I/O layer, never performed here:
  Audit              store the event in the same transaction as the lead (chain it with `bot.leads.audit.chain_hash`)
  ArmResponseLock    (re)start the lead's response lock: `minutes` of working time from now; `fence` is the lead
                     version that armed it, so a timer armed by an older version does nothing when it fires
  CancelResponseLock the lead left 已分配: a pending timer must do nothing
  SendLeadCard       send a fresh lead card to a user who does not hold one yet (a new assignee)
  Notify             a short alert to a person through the notifier chain (chat -> SMS -> e-mail)
  RenderCards        re-render every live card of the lead for its holder, at this lead version
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from bot.leads.audit import AuditEvent
from bot.leads.gates import Refusal
from bot.leads.types import Budget, Contact, Evidence, EvidenceKind, IntentTier, Lead, Status, UserView, VoiceNote
from speech.fields import FIELDS


class Cause(enum.StrEnum):
    """Why a lead changes hands; the escalation ladder's moves count as the lead going back."""

    MANUAL = "manual"
    ROUTING = "routing"  # the tenant's routing rules gave it (intake)
    ESCALATION = "escalation"
    DEACTIVATION = "deactivation"


# --- actions ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Advance:
    """Move to the next pipeline stage, named so a double click or a stale card cannot skip one."""

    to: Status
    name = "advance"


@dataclass(frozen=True, slots=True)
class MarkLost:
    reason: str = ""
    name = "mark_lost"


@dataclass(frozen=True, slots=True)
class Reopen:
    reason: str = ""
    name = "reopen"


@dataclass(frozen=True, slots=True)
class Claim:
    """我来处理: the actor takes the lead, from the pool or from a rep who did not respond."""

    name = "claim"


@dataclass(frozen=True, slots=True)
class Assign:
    """A manager (or the routing rules, or the escalation ladder) hands the lead to `to`."""

    to: UserView
    cause: Cause = Cause.MANUAL
    rule: str = ""  # the routing rule that chose `to`, named in the audit event's reason
    name = "assign"


@dataclass(frozen=True, slots=True)
class ReleaseToPool:
    cause: Cause = Cause.MANUAL
    name = "release"


@dataclass(frozen=True, slots=True)
class AttachEvidence:
    evidence: Evidence
    name = "attach_evidence"


@dataclass(frozen=True, slots=True)
class UpdateFields:
    """Fields confirmed by the rep (from a voice summary or typed in). Contacts are added, never removed."""

    budget: Budget | None = None
    tender_date: date | None = None
    decision_maker: str | None = None
    add_contacts: tuple[Contact, ...] = ()
    competitors: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()  # refs the values came from, e.g. ("voice:42",)
    name = "update_fields"


Action = Advance | MarkLost | Reopen | Claim | Assign | ReleaseToPool | AttachEvidence | UpdateFields


def attach_note(note: VoiceNote) -> AttachEvidence:
    """A transcribed voice summary goes on file as soon as it exists: that alone opens the 方案演示 gate."""
    return AttachEvidence(Evidence(note.evidence_ref, EvidenceKind.VOICE_SUMMARY, note.at))


def confirm_note(note: VoiceNote) -> UpdateFields:
    """The rep pressed 确认: the note's fields that go onto a lead (budget, tender date, competitors) become the
    lead's."""
    heard = {spec.name: getattr(note.fields, spec.name) for spec in FIELDS if spec.to_lead}
    return UpdateFields(**heard, evidence=(note.evidence_ref,))


def add_title_contact(note: VoiceNote, title: str) -> UpdateFields:
    """The rep pressed 添加<title>: a contact with that title (name still unknown) joins the decision chain."""
    return UpdateFields(add_contacts=(Contact("", title),), evidence=(note.evidence_ref,))


# --- effects ----------------------------------------------------------------------------------------------


class NotifyKind(enum.StrEnum):
    REASSIGNED_AWAY = "reassigned_away"
    RETURNED_TO_POOL = "returned_to_pool"
    FLAGGED = "flagged"
    WON = "won"
    LOST = "lost"
    REOPENED = "reopened"
    NO_EVIDENCE = "no_evidence"
    DEACTIVATED = "deactivated"


@dataclass(frozen=True, slots=True)
class Audit:
    event: AuditEvent


@dataclass(frozen=True, slots=True)
class ArmResponseLock:
    lead_id: int
    assignee_id: int
    tier: IntentTier | None
    minutes: int
    fence: int


@dataclass(frozen=True, slots=True)
class CancelResponseLock:
    lead_id: int
    fence: int


@dataclass(frozen=True, slots=True)
class SendLeadCard:
    user_id: int
    lead_id: int


@dataclass(frozen=True, slots=True)
class Notify:
    user_id: int
    kind: NotifyKind
    lead_id: int | None
    text: str


@dataclass(frozen=True, slots=True)
class RenderCards:
    lead_id: int
    version: int


Effect = Audit | ArmResponseLock | CancelResponseLock | SendLeadCard | Notify | RenderCards


@dataclass(frozen=True, slots=True)
class Accepted:
    """The change went through: store `lead` (its version is one higher) and carry out `effects` in order."""

    lead: Lead
    effects: tuple[Effect, ...]

    ok = True

    def of_type(self, kind: type) -> tuple[Effect, ...]:
        return tuple(e for e in self.effects if isinstance(e, kind))


Decision = Accepted | Refusal
