"""The stage table drives the service: every stage is complete, and what is derived from it follows it."""

from __future__ import annotations

import dataclasses

import pytest

from bot.admin.tenant_settings import WorkflowSection
from bot.alerting import ladder
from bot.leads import open_counts, stages
from bot.leads.gates import enforced_missing
from bot.leads.stages import GATES, PIPELINE, STAGES, Status
from bot.leads.types import WorkflowSettings
from cards.keys import ButtonKey, KeyAction
from cards.model import lead_card
from storage.models import Lead as LeadRow
from tests.workflow.wf_helpers import REP, lead_in

# Stored in every lead row and sent in the lead API, exports and webhooks: released values never change.
RELEASED = {
    "pool": "待分配", "assigned": "已分配", "contacted": "已联系", "qualified": "需求确认", "demo": "方案演示",
    "negotiation": "商务谈判", "contract": "合同签署", "won": "赢单", "lost": "输单",
}  # fmt: skip


def test_every_status_has_one_row_in_order() -> None:
    assert [s.status for s in STAGES] == list(Status)


def test_released_values_and_labels_are_kept() -> None:
    for value, label in RELEASED.items():
        assert Status(value).label == label


def test_status_values_fit_the_lead_column() -> None:
    width = LeadRow._meta.fields_map["status"].max_length
    assert all(len(s.value) <= width for s in Status)


def test_labels_are_distinct_and_buttons_fit_a_card() -> None:
    assert len({s.label for s in STAGES}) == len(STAGES)
    assert all(s.label and len(s.button_text) <= 10 for s in STAGES)


@pytest.mark.parametrize("step", PIPELINE[1:], ids=str)
def test_each_pipeline_step_is_a_button_on_the_card_of_the_stage_before(step: Status) -> None:
    before = PIPELINE[PIPELINE.index(step) - 1]
    card = lead_card(lead_in(before), REP)
    advance = [b for b in card.buttons if b.key is not None and b.key.action is KeyAction.ADVANCE]
    assert [(b.text, b.key.arg) for b in advance if b.key] == [(step.spec.button_text, step.value)]
    assert ButtonKey.unpack(advance[0].key.pack()).workflow_action().to is step  # type: ignore[union-attr]


@pytest.mark.parametrize(("stage", "gate"), GATES, ids=[str(s) for s, _ in GATES])
def test_each_gate_has_a_tenant_switch_that_reaches_the_workflow(stage: Status, gate: stages.Gate) -> None:
    assert {f.name: f.default for f in dataclasses.fields(WorkflowSettings)}[gate.setting] is True
    off = WorkflowSection.model_validate({gate.setting: False}).to_value()
    before = PIPELINE[PIPELINE.index(stage) - 1]
    bare = lead_in(before, evidence_ok=False)
    assert enforced_missing(bare, stage, WorkflowSettings()) == (gate.needs,)
    assert enforced_missing(bare, stage, off) == ()


def test_derived_sets_follow_the_table() -> None:
    assert ladder.OPEN_DEAL == {s.status for s in STAGES if s.deal}
    assert set(open_counts.HELD) == {str(s.status) for s in STAGES if s.open and s.assigned}
    assert {s for s in Status if not s.is_open} == {s.status for s in STAGES if not s.open}
    assert stages.next_stage(PIPELINE[-1]) is None and stages.next_stage(Status.POOL) is None
