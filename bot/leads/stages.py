"""The lead stages, declared once: one `StageSpec` row per stage, in pipeline order.

Gates, the workflow's steps, the ladder's "open deal", the board's figures, the open-lead counts, the voice notes'
lead chooser and the cards' advance buttons all read this table, so adding a stage is adding its `Status` value and
its row. What only one stage does (the response lock of 已分配, the loss reason of 输单) stays in the code that does
it. The `Status` values and labels are stored in the database (`lead.status`, at most 16 characters) and sent in the
lead API, exports and webhook payloads: they never change once released.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


class Status(enum.StrEnum):
    POOL = "pool"
    ASSIGNED = "assigned"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    DEMO = "demo"
    NEGOTIATION = "negotiation"
    CONTRACT = "contract"
    WON = "won"
    LOST = "lost"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]

    @property
    def is_open(self) -> bool:
        return self not in CLOSED

    @property
    def spec(self) -> StageSpec:
        return _BY_STATUS[self]


class Missing(enum.StrEnum):
    """What a gate wants on file before the step into its stage (`bot.leads.gates` checks each)."""

    VOICE_SUMMARY = "voice_summary"
    BUDGET = "budget"
    DECISION_MAKER = "decision_maker"

    @property
    def label(self) -> str:
        return _MISSING_LABELS[self]


_MISSING_LABELS = {
    Missing.VOICE_SUMMARY: "需求确认后的语音纪要或附件",
    Missing.BUDGET: "客户预算",
    Missing.DECISION_MAKER: "决策人",
}


@dataclass(frozen=True, slots=True)
class Gate:
    """An evidence gate on the step into a stage. `setting` names the tenant's switch (a `WorkflowSettings` field
    and a key of the stored `workflow` settings section), on by default."""

    needs: Missing
    setting: str


@dataclass(frozen=True, slots=True)
class StageSpec:
    """One stage. The order of `STAGES` is the pipeline's order.

    `pipeline`: `Advance` walks these one step at a time (the pool is left by an assignment, 输单 by its own action).
    `open`: a lead here is still worked; closed stages are left only by a manager's reopen.
    `assigned`: a lead here has a rep (so it counts towards the rep's open leads while open).
    `deal`: an open deal the stale-deal rule watches (已分配 has the response lock instead).
    `checkable`: an advance into it should rest on something a manager can check (the board's 虚假更新率).
    `gate`: what the step into it needs on file. `stamps`: lead timestamps set when an advance enters it.
    `button`: the advance button's text on a card (the label unless given).
    """

    status: Status
    label: str
    pipeline: bool = True
    open: bool = True
    assigned: bool = True
    deal: bool = False
    checkable: bool = False
    gate: Gate | None = None
    stamps: tuple[str, ...] = ()
    button: str = ""

    @property
    def button_text(self) -> str:
        return self.button or self.label


STAGES: tuple[StageSpec, ...] = (
    StageSpec(Status.POOL, "待分配", pipeline=False, assigned=False),
    StageSpec(Status.ASSIGNED, "已分配"),
    StageSpec(Status.CONTACTED, "已联系", deal=True, stamps=("contacted_at",)),
    StageSpec(Status.QUALIFIED, "需求确认", deal=True, checkable=True),
    StageSpec(Status.DEMO, "方案演示", deal=True, checkable=True,
              gate=Gate(Missing.VOICE_SUMMARY, "gate_demo_needs_evidence")),
    StageSpec(Status.NEGOTIATION, "商务谈判", deal=True, checkable=True,
              gate=Gate(Missing.BUDGET, "gate_negotiation_needs_budget")),
    StageSpec(Status.CONTRACT, "合同签署", deal=True, checkable=True,
              gate=Gate(Missing.DECISION_MAKER, "gate_contract_needs_decision_maker")),
    StageSpec(Status.WON, "赢单", open=False, checkable=True, stamps=("closed_at",)),
    StageSpec(Status.LOST, "输单", pipeline=False, open=False, assigned=False),
)  # fmt: skip

_BY_STATUS: Mapping[Status, StageSpec] = MappingProxyType({s.status: s for s in STAGES})
STATUS_LABELS: Mapping[Status, str] = MappingProxyType({s.status: s.label for s in STAGES})
CLOSED = frozenset(s.status for s in STAGES if not s.open)
# The sales pipeline in order; `advance` moves exactly one step along it. POOL -> ASSIGNED is an assignment,
# not an advance, so it is not part of the pipeline.
PIPELINE: tuple[Status, ...] = tuple(s.status for s in STAGES if s.pipeline)
# Open and with a rep: what a rep's open-lead count and the board's "held" leads cover.
HELD: tuple[Status, ...] = tuple(s.status for s in STAGES if s.open and s.assigned)
# Stages of an open deal: 已分配 is watched by the response lock, the pool and closed leads by nobody.
OPEN_DEAL = frozenset(s.status for s in STAGES if s.deal)
# Advances into these stages need something a manager can check; marking a lead 已联系 (a phone call) does not.
CHECKABLE = frozenset(s.status for s in STAGES if s.checkable)
GATES: tuple[tuple[Status, Gate], ...] = tuple((s.status, s.gate) for s in STAGES if s.gate is not None)


def next_stage(status: Status) -> Status | None:
    """The one stage an `Advance` may go to from `status`, or None (pool, closed stages)."""
    if status not in PIPELINE or status in CLOSED:
        return None
    i = PIPELINE.index(status) + 1
    return PIPELINE[i] if i < len(PIPELINE) else None
