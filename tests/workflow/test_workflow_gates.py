"""Evidence gates: each refuses with what is missing, then allows once the evidence is on file."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from wf_helpers import BUDGET, MANAGER, NOW, REP, lead_in

from bot.leads.actions import (
    Accepted,
    Advance,
    AttachEvidence,
    Notify,
    NotifyKind,
    UpdateFields,
    add_title_contact,
    attach_note,
    confirm_note,
)
from bot.leads.gates import Missing, Refusal, RefusalCode, refuse
from bot.leads.types import (
    Contact,
    EventSource,
    Evidence,
    EvidenceKind,
    Extraction,
    Status,
    VoiceNote,
    WorkflowSettings,
)
from bot.leads.workflow import decide

S = Status


def _qualified_without_voice():
    return lead_in(S.QUALIFIED, evidence=())


def _demo_without_budget():
    return lead_in(S.DEMO, budget_min=None, budget_max=None)


def _negotiation_without_dm():
    return lead_in(S.NEGOTIATION, decision_maker=None, contacts=())


VOICE = Evidence("voice:9", EvidenceKind.VOICE_SUMMARY, NOW)
FILE = Evidence("file:3", EvidenceKind.ATTACHMENT, NOW)

# (lead without the evidence, target, what is missing, the action that supplies it)
GATES = [
    pytest.param(_qualified_without_voice, S.DEMO, Missing.VOICE_SUMMARY, AttachEvidence(VOICE), id="demo-voice"),
    pytest.param(_qualified_without_voice, S.DEMO, Missing.VOICE_SUMMARY, AttachEvidence(FILE), id="demo-file"),
    pytest.param(_demo_without_budget, S.NEGOTIATION, Missing.BUDGET, UpdateFields(budget=BUDGET), id="budget"),
    pytest.param(
        _negotiation_without_dm, S.CONTRACT, Missing.DECISION_MAKER, UpdateFields(decision_maker="陈总"), id="dm-name"
    ),
    pytest.param(
        _negotiation_without_dm,
        S.CONTRACT,
        Missing.DECISION_MAKER,
        UpdateFields(add_contacts=(Contact("刘总", "总经理", decision_maker=True),)),
        id="dm-contact",
    ),
]


@pytest.mark.parametrize("make,target,missing,supply", GATES)
def test_gate_refuses_then_allows(make, target, missing, supply):
    lead = make()
    refused = decide(lead, Advance(target), REP, NOW)
    assert isinstance(refused, Refusal)
    assert refused.code is RefusalCode.GATE
    assert refused.missing == (missing,)
    assert missing.label in refused.message and target.label in refused.message

    supplied = decide(lead, supply, REP, NOW)
    assert isinstance(supplied, Accepted)
    allowed = decide(supplied.lead, Advance(target), REP, NOW + timedelta(minutes=1))
    assert isinstance(allowed, Accepted)
    assert allowed.lead.status is target


def test_voice_summary_from_before_qualification_does_not_count():
    lead = lead_in(S.QUALIFIED, evidence=())
    entered = lead.entered_at(S.QUALIFIED)
    old = Evidence("voice:1", EvidenceKind.VOICE_SUMMARY, entered - timedelta(seconds=1))
    decision = decide(replace(lead, evidence=(old,)), Advance(S.DEMO), REP, NOW)
    assert isinstance(decision, Refusal) and decision.missing == (Missing.VOICE_SUMMARY,)
    exact = Evidence("voice:2", EvidenceKind.VOICE_SUMMARY, entered)
    assert decide(replace(lead, evidence=(old, exact)), Advance(S.DEMO), REP, NOW).ok


def test_a_typed_note_is_not_evidence_for_the_demo():
    lead = lead_in(S.QUALIFIED, evidence=(Evidence("note:1", EvidenceKind.NOTE, NOW),))
    decision = decide(lead, Advance(S.DEMO), REP, NOW)
    assert isinstance(decision, Refusal) and decision.code is RefusalCode.GATE


def test_requalified_lead_needs_fresh_evidence():
    """Back to the pool and through 需求确认 again: the old note predates the new qualification."""
    lead = lead_in(S.QUALIFIED)
    history = (*lead.history, *[replace(h, at=NOW - timedelta(hours=1)) for h in lead.history[-1:]])
    decision = decide(replace(lead, history=history), Advance(S.DEMO), REP, NOW)
    assert isinstance(decision, Refusal) and decision.code is RefusalCode.GATE


@pytest.mark.parametrize(
    "make,target,settings",
    [
        (_qualified_without_voice, S.DEMO, WorkflowSettings(gate_demo_needs_evidence=False)),
        (_demo_without_budget, S.NEGOTIATION, WorkflowSettings(gate_negotiation_needs_budget=False)),
        (_negotiation_without_dm, S.CONTRACT, WorkflowSettings(gate_contract_needs_decision_maker=False)),
    ],
)
def test_gate_switched_off_lets_the_step_through_and_tells_the_manager(make, target, settings):
    decision = decide(make(), Advance(target), REP, NOW, settings=settings)
    assert isinstance(decision, Accepted)
    assert decision.lead.status is target
    (notice,) = decision.of_type(Notify)
    assert notice.user_id == MANAGER.user_id and notice.kind is NotifyKind.NO_EVIDENCE


def test_each_switch_only_turns_off_its_own_gate():
    settings = WorkflowSettings(gate_demo_needs_evidence=False)
    decision = decide(_demo_without_budget(), Advance(S.NEGOTIATION), REP, NOW, settings=settings)
    assert isinstance(decision, Refusal) and decision.missing == (Missing.BUDGET,)


def test_only_one_side_of_the_budget_is_enough():
    lead = lead_in(S.DEMO, budget_min=None, budget_max=500_000)
    assert decide(lead, Advance(S.NEGOTIATION), REP, NOW).ok


def test_attaching_the_same_evidence_twice_changes_nothing():
    lead = lead_in(S.QUALIFIED, evidence=(VOICE,))
    decision = decide(lead, AttachEvidence(VOICE), REP, NOW)
    assert isinstance(decision, Refusal) and decision.code is RefusalCode.ALREADY


@pytest.mark.parametrize("code", list(RefusalCode))
def test_every_refusal_has_a_card_sized_message(code):
    assert 0 < len(refuse(code).message) <= 40


def _note(at):
    fields = Extraction(budget=BUDGET, competitors=("华为",), titles=("技术总监",))
    return VoiceNote(id=3, tenant_id=1, lead_id=7, transcript="…", fields=fields, duration_s=30.0, at=at)


def test_a_voice_note_opens_the_demo_gate_and_its_confirmation_fills_the_lead():
    lead = lead_in(S.QUALIFIED, evidence=(), budget_min=None, budget_max=None, contacts=(), decision_maker=None)
    note = _note(NOW)
    attached = decide(lead, attach_note(note), REP, NOW, source=EventSource.VOICE)
    assert isinstance(attached, Accepted) and attached.effects[0].event.evidence == ("voice:3",)
    confirmed = decide(attached.lead, confirm_note(note), REP, NOW)
    assert isinstance(confirmed, Accepted)
    assert (confirmed.lead.budget_min, confirmed.lead.competitors) == (BUDGET.min, ("华为",))
    added = decide(confirmed.lead, add_title_contact(note, "技术总监"), REP, NOW)
    assert isinstance(added, Accepted) and added.lead.titles_on_file == {"技术总监"}
    assert decide(added.lead, Advance(S.DEMO), REP, NOW).ok


def test_extraction_from_the_design_contract():
    contract = {
        "budget": {"min": 800000, "max": 1000000},
        "tender_date": "2026-11-25",
        "competitors": ["华为"],
        "concerns": ["数据安全"],
        "titles": ["技术总监"],
        "keywords": ["私有化部署"],
    }
    got = Extraction.from_json(contract)
    assert got.budget == BUDGET and got.tender_date.isoformat() == "2026-11-25"
    assert (got.competitors, got.concerns, got.titles, got.keywords) == (
        ("华为",),
        ("数据安全",),
        ("技术总监",),
        ("私有化部署",),
    )
    assert Extraction.from_json({"budget": None, "tender_date": None}) == Extraction()
