"""Random action sequences by random people: the machine's invariants hold after every step."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from wf_helpers import (
    ADMIN,
    FOREIGN_ADMIN,
    GONE_VIEW,
    MANAGER,
    OTHER_MANAGER,
    OUTSIDER,
    OUTSIDER_VIEW,
    PEER,
    PEER_VIEW,
    REP,
    REP_VIEW,
    SYSTEM,
    T0,
)

from bot.leads.actions import (
    Accepted,
    Advance,
    ArmResponseLock,
    Assign,
    AttachEvidence,
    Audit,
    CancelResponseLock,
    Cause,
    Claim,
    MarkLost,
    ReleaseToPool,
    RenderCards,
    Reopen,
    UpdateFields,
)
from bot.leads.gates import Refusal, RefusalCode, evidence_missing
from bot.leads.types import (
    CLOSED,
    Budget,
    Contact,
    Evidence,
    EvidenceKind,
    Lead,
    Status,
    WorkflowSettings,
    next_stage,
)
from bot.leads.workflow import allowed_actions, decide

ACTORS = [REP, PEER, MANAGER, ADMIN, SYSTEM, OUTSIDER, OTHER_MANAGER, FOREIGN_ADMIN]

NEXT = "advance to the next stage"  # resolved against the lead at the time, so sequences get somewhere
anything = st.one_of(
    st.builds(Advance, st.sampled_from(list(Status))),
    st.builds(MarkLost, st.sampled_from(["", "价格不合适", "联系不上"])),
    st.just(Reopen()),
    st.just(Claim()),
    st.builds(Assign, st.sampled_from([REP_VIEW, PEER_VIEW, OUTSIDER_VIEW, GONE_VIEW]), st.sampled_from(list(Cause))),
    st.builds(ReleaseToPool, st.sampled_from(list(Cause))),
    st.builds(
        lambda ref, kind: ("evidence", ref, kind),
        st.sampled_from(["voice:1", "voice:2", "file:1", "note:1"]),
        st.sampled_from(list(EvidenceKind)),
    ),
    st.builds(
        UpdateFields,
        budget=st.none() | st.just(Budget(100_000, 200_000)),
        decision_maker=st.none() | st.just("陈总"),
        add_contacts=st.sampled_from([(), (Contact("李工", "技术总监"),)]),
    ),
)
actors = st.sampled_from(ACTORS)


def _may_act(lead: Lead, actor, action) -> bool:
    """The rule, restated from the brief: the assignee, their manager, an admin (or the system); a pool lead
    can be claimed by anyone in the tenant and managed by any manager."""
    if actor.tenant_id != lead.tenant_id:
        return False
    if actor in (ADMIN, SYSTEM) or actor.user_id in (lead.assignee_id, lead.assignee_manager_id):
        return True
    if lead.assignee_id is None:
        return isinstance(action, Claim) or actor.role.value == "manager"
    return False


class LeadMachine(RuleBasedStateMachine):
    @initialize(gates=st.tuples(st.booleans(), st.booleans(), st.booleans()))
    def start(self, gates):
        self.settings = WorkflowSettings(*gates)
        self.lead = Lead(id=1, tenant_id=1, company="杭州云帆科技")
        self.now = T0
        self.accepted = 0

    # Three rules, picked alike: a forward step by the assignee, the evidence a gate asks for, or anything at all
    # by anyone (losses, hand-overs, reopens, strangers...). Without the first two, sequences rarely get far.
    @rule(minutes=st.integers(0, 600))
    def forward(self, minutes):
        self._step(NEXT, self._assignee(), minutes)

    @rule(what=st.sampled_from(["evidence-voice", "budget", "dm"]), minutes=st.integers(0, 600))
    def supply(self, what, minutes):
        self._step(what, self._assignee(), minutes)

    @rule(action=anything, actor=actors, minutes=st.integers(0, 600))
    def act(self, action, actor, minutes):
        self._step(action, actor, minutes)

    def _assignee(self):
        return next((a for a in ACTORS if a.user_id == self.lead.assignee_id), MANAGER)

    def _step(self, action, actor, minutes):
        self.now += timedelta(minutes=minutes)
        action = self._resolve(action)
        before = self.lead
        offered = allowed_actions(before, actor, self.settings)
        decision = decide(before, action, actor, self.now, settings=self.settings)
        if isinstance(decision, Refusal):
            assert decision.message
            self._check_offer_refused(action, decision, offered)
            return
        self._check_accepted(before, action, actor, decision, offered)
        self.lead = decision.lead
        self.accepted += 1
        event(f"reached {self.lead.status}")

    def _resolve(self, action):
        if action == NEXT:
            step = next_stage(self.lead.status)
            return Advance(step) if step else Claim()
        if action == "evidence-voice":
            return AttachEvidence(Evidence(f"voice:{self.now.timestamp():.0f}", EvidenceKind.VOICE_SUMMARY, self.now))
        if action == "budget":
            return UpdateFields(budget=Budget(100_000, 200_000))
        if action == "dm":
            return UpdateFields(decision_maker="陈总")
        if isinstance(action, tuple):  # evidence is stamped with the time it is logged
            return AttachEvidence(Evidence(action[1], action[2], self.now))
        return action

    def _check_offer_refused(self, action, decision, offered):
        # A button shown is never refused for anything but missing evidence or a missing reason.
        if action in offered:
            assert decision.code in (RefusalCode.GATE, RefusalCode.REASON_REQUIRED, RefusalCode.ALREADY)

    def _check_accepted(self, before, action, actor, decision: Accepted, offered):
        after = decision.lead
        assert _may_act(before, actor, action)
        assert after.version == before.version + 1
        if isinstance(action, (Advance, Claim, Reopen)):
            assert action in offered
        if isinstance(action, ReleaseToPool):
            assert ReleaseToPool() in offered
        if isinstance(action, MarkLost):
            assert MarkLost("") in offered
        if after.status is not before.status:
            self._check_move(before, after, action, actor)
        effects = decision.effects
        assert isinstance(effects[0], Audit) and sum(isinstance(e, Audit) for e in effects) == 1
        assert effects[-1] == RenderCards(before.id, after.version)
        arm = decision.of_type(ArmResponseLock)
        cancel = decision.of_type(CancelResponseLock)
        handed = after.assignee_id != before.assignee_id or before.status is not Status.ASSIGNED
        assert bool(arm) == (after.status is Status.ASSIGNED and handed)
        assert bool(cancel) == (before.status is Status.ASSIGNED and after.status is not Status.ASSIGNED)

    def _check_move(self, before, after, action, actor):
        if after.status is Status.WON:
            assert before.status is Status.CONTRACT
        if after.status is Status.LOST:
            assert before.status.is_open and after.lost_reason
        if before.status in CLOSED:
            assert isinstance(action, Reopen) and actor.role.value != "rep"
            assert actor in (ADMIN, SYSTEM) or actor.user_id == before.assignee_manager_id or not before.assignee_id
        if isinstance(action, Advance):
            assert after.status is next_stage(before.status)
            gate = {
                Status.DEMO: self.settings.gate_demo_needs_evidence,
                Status.NEGOTIATION: self.settings.gate_negotiation_needs_budget,
                Status.CONTRACT: self.settings.gate_contract_needs_decision_maker,
            }.get(after.status, False)
            if gate:
                assert evidence_missing(before, after.status) == ()
        assert after.history[-1].to_status is after.status

    @invariant()
    def status_and_assignee_agree(self):
        lead = getattr(self, "lead", None)
        if lead is None:
            return
        assert lead.status in Status
        assert (lead.assignee_id is None) == (lead.status is Status.POOL) or (
            lead.status is Status.LOST and lead.assignee_id is None
        )
        assert (lead.lost_reason is not None) == (lead.status is Status.LOST)
        assert lead.version == self.accepted
        if lead.history:
            assert lead.history[-1].to_status is lead.status


TestLeadMachine = LeadMachine.TestCase
TestLeadMachine.settings = settings(
    max_examples=200, stateful_step_count=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
