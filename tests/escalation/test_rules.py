"""The pure rules: the frozen ladder and which step runs when, moot steps, stale deals, the chain's next move and
its fallback reasons, and how a platform's refusal is recorded."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.alerting.ladder import (
    DEFAULT_STEPS,
    AlertKind,
    AlertSpec,
    EscalationSettings,
    Handover,
    Plan,
    Step,
    StepAction,
    alert_timer,
    deadline_timer,
    effective_steps,
    is_moot,
    needs_ack,
    plan_ladder,
    run_at,
    stale_alert,
    stale_period,
    step_effects,
)
from bot.alerting.notify.base import DeliveryOutcome, DeliveryResult
from bot.alerting.notify.chain import AlertState, ChainPlan, Move, after_attempt, fallback_reason
from bot.alerting.notify.chat import mask_user, reply_for
from bot.calendar.worktime import WorkCalendar
from bot.errors import PlatformError, RecipientError, TransientError
from bot.leads.types import Lead, Status

CAL = WorkCalendar("Asia/Shanghai")
CST = timezone(timedelta(hours=8))
R, M, A, L = StepAction.REMIND_REP, StepAction.ALERT_MANAGER, StepAction.REASSIGN, StepAction.RELEASE


def cst(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)


def plan(due: datetime, steps=DEFAULT_STEPS, working: bool = True) -> Plan:
    return plan_ladder(EscalationSettings(steps=tuple(steps), working_time=working), lead_id=7, assignee_id=1,
                       manager_id=10, due_at=due, calendar=CAL)


@pytest.mark.parametrize(
    ("due", "steps", "working", "times"),
    [
        # the defaults: at the deadline, 30 min later, 2 working hours after that (lunch skipped)
        (cst(2026, 6, 3, 10, 30), DEFAULT_STEPS, True, [(10, 30), (11, 0), (14, 30)]),
        # due at the end of the day: the manager hears at 09:30 next morning, not at 18:30
        (cst(2026, 6, 3, 18, 0), DEFAULT_STEPS, True, [(18, 0), (9, 30), (11, 30)]),
        (cst(2026, 6, 3, 18, 0), DEFAULT_STEPS, False, [(18, 0), (18, 30), (20, 30)]),
        # a first step after the deadline, and one straight after it
        (cst(2026, 6, 3, 10, 0), [Step(M, 15), Step(L, 0)], True, [(10, 15), (10, 15)]),
        # nothing after a handover can run: the lead has left the rep
        (cst(2026, 6, 3, 10, 0), [Step(R), Step(L, 10), Step(M, 10)], True, [(10, 0), (10, 10)]),
    ],
)
def test_ladder_times(due, steps, working, times) -> None:
    p = plan(due, steps, working)
    assert [(s.at.hour, s.at.minute) for s in p.steps] == times
    assert all(b.at >= a.at for a, b in zip(p.steps, p.steps[1:], strict=False))


def test_effective_steps_stop_at_the_first_handover() -> None:
    assert effective_steps([Step(R), Step(A, 5), Step(M), Step(L)]) == (Step(R), Step(A, 5))


@pytest.mark.parametrize("step,expected", [(0, cst(2026, 6, 3, 10, 30)), (2, cst(2026, 6, 3, 14, 30)), (3, None),
                                           (-1, None)])
def test_run_at(step, expected) -> None:
    assert run_at(plan(cst(2026, 6, 3, 10, 30)), step) == expected


def test_plan_survives_json() -> None:
    p = plan(cst(2026, 6, 3, 10, 30))
    assert Plan.from_json(p.to_json()) == p


LEAD = Lead(id=7, tenant_id=1, status=Status.ASSIGNED, assignee_id=1, assignee_name="张三", company="杭州云帆科技")


@pytest.mark.parametrize(
    ("status", "assignee", "moot"),
    [
        (Status.ASSIGNED, 1, False),
        (Status.CONTACTED, 1, True),  # 已联系
        (Status.ASSIGNED, 2, True),  # claimed by someone else, or reassigned
        (Status.POOL, None, True),
        (Status.LOST, 1, True),
    ],
)
def test_moot(status, assignee, moot) -> None:
    assert is_moot(replace(LEAD, status=status, assignee_id=assignee), plan(cst(2026, 6, 3, 10, 30))) is moot


def test_step_effects() -> None:
    p = plan(cst(2026, 6, 3, 10, 30), [Step(R), Step(M), Step(A)])
    [remind] = step_effects(p, 0, deadline_id=5, fence=3, lead=LEAD, tz=CST)
    assert isinstance(remind, AlertSpec)
    assert (remind.user_id, remind.kind, remind.dedup_key, dict(remind.moot)) == (
        1, AlertKind.LOCK_REMINDER, "lock:5:3:0", {"assignee_id": 1})
    assert "06-03 10:30" in remind.text and "杭州云帆科技" in remind.text
    [manager] = step_effects(p, 1, deadline_id=5, fence=3, lead=LEAD, tz=CST)
    assert (manager.user_id, manager.kind, manager.dedup_key) == (10, AlertKind.LOCK_BREACHED, "lock:5:3:1")
    assert "张三" in manager.text
    # the text goes to every channel: no chat button named in it (SMS and e-mail have none; issue 23)
    assert not any(b in t for t in (remind.text, manager.text) for b in ("「我来处理」", "「已联系」", "点"))
    assert step_effects(p, 2, deadline_id=5, fence=3, lead=LEAD, tz=CST) == (Handover(7, 1, to_pool=False),)
    nobody = replace(p, manager_id=None)
    assert step_effects(nobody, 1, deadline_id=5, fence=3, lead=LEAD, tz=CST) == ()


@pytest.mark.parametrize(
    ("status", "silent_h", "period"),
    [
        (Status.CONTACTED, 71, 0),
        (Status.CONTACTED, 72, 1),
        (Status.NEGOTIATION, 150, 2),
        (Status.ASSIGNED, 200, 0),  # the response lock watches 已分配
        (Status.WON, 200, 0),
        (Status.POOL, 200, 0),
    ],
)
def test_stale_period(status, silent_h, period) -> None:
    now = datetime(2026, 6, 3, 2, tzinfo=UTC)
    assert stale_period(status, now - timedelta(hours=silent_h), now, timedelta(hours=72)) == period


def test_stale_alert_key_names_the_period_and_the_silence() -> None:
    now = datetime(2026, 6, 10, 2, tzinfo=UTC)
    lead = replace(LEAD, status=Status.DEMO)
    rule = EscalationSettings()
    first = stale_alert(lead, 10, now - timedelta(hours=80), now, rule)
    again = stale_alert(lead, 10, now - timedelta(hours=80), now + timedelta(hours=1), rule)
    later = stale_alert(lead, 10, now - timedelta(hours=80), now + timedelta(hours=70), rule)
    fresh = stale_alert(lead, 10, now - timedelta(hours=75), now, rule)
    assert first is not None and again is not None and later is not None and fresh is not None
    assert first.dedup_key == again.dedup_key != later.dedup_key
    assert fresh.dedup_key != first.dedup_key  # new activity, then silence again: a new alert
    assert stale_alert(lead, None, now - timedelta(hours=80), now, rule) is None  # nobody to tell


def test_timer_ids_are_deterministic() -> None:
    at = datetime(2026, 6, 3, tzinfo=UTC)
    assert deadline_timer(5, 3, 1, at).job_id == "lb:deadline:5:3:1" == deadline_timer(5, 3, 1, at).job_id
    assert alert_timer(9, 2, at).kwargs == {"alert_id": 9, "index": 2}


@pytest.mark.parametrize("kind,ack", [("lock_breached", True), ("flagged", True), ("won", False),
                                      ("reassigned_away", False)])
def test_which_alerts_wait_for_an_ack(kind, ack) -> None:
    assert needs_ack(kind) is ack


# --- the chain --------------------------------------------------------------------------------------------------

NOW = datetime(2026, 6, 3, 2, tzinfo=UTC)
CHAIN = ChainPlan(("chat", "sms", "email"), {"chat": 600, "sms": 900}, needs_ack=True)


@pytest.mark.parametrize(
    ("chain", "index", "ok", "reached", "move", "at", "state"),
    [
        (CHAIN, 0, False, False, Move.NEXT, None, None),  # failed: next channel at once
        (CHAIN, 0, True, False, Move.WAIT, NOW + timedelta(seconds=600), None),  # sent: wait for the ack
        (CHAIN, 1, True, True, Move.WAIT, NOW + timedelta(seconds=900), None),
        (CHAIN, 2, True, True, Move.DONE, None, AlertState.DELIVERED),  # last channel: nothing to wait for
        (CHAIN, 2, False, True, Move.DONE, None, AlertState.DELIVERED),  # it reached them earlier
        (CHAIN, 2, False, False, Move.DONE, None, AlertState.FAILED),  # reached nobody
        (replace(CHAIN, needs_ack=False), 0, True, False, Move.DONE, None, AlertState.DELIVERED),  # news
        (replace(CHAIN, needs_ack=False), 0, False, False, Move.NEXT, None, None),
    ],
)
def test_after_attempt(chain, index, ok, reached, move, at, state) -> None:
    got = after_attempt(chain, index, ok, NOW, reached_before=reached)
    assert (got.move, got.at, got.state) == (move, at, state)


def _result(outcome: DeliveryOutcome, code: str | None, http_status: int | None = None) -> DeliveryResult:
    return DeliveryResult("chat", "wecom", outcome, 1.0, code=code, http_status=http_status)


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (_result(DeliveryOutcome.TIMEOUT, "timeout"), "timeout"),
        (_result(DeliveryOutcome.FAILED, "81013"), "refused"),
        (_result(DeliveryOutcome.FAILED, "isv.BUSINESS_LIMIT_CONTROL", 200), "refused"),
        (_result(DeliveryOutcome.FAILED, "HTTP 500", 500), "http_error"),
        (_result(DeliveryOutcome.FAILED, "SignatureDoesNotMatch", 400), "refused"),  # the gateway's own code
        (_result(DeliveryOutcome.FAILED, "no_address"), "no_address"),
        (_result(DeliveryOutcome.FAILED, "not_configured"), "not_configured"),
        (_result(DeliveryOutcome.FAILED, "invalid_phone"), "invalid_address"),
        (_result(DeliveryOutcome.FAILED, "ClientConnectorError"), "connection"),
    ],
)
def test_fallback_reason(result, reason) -> None:
    assert fallback_reason(result) == reason


@pytest.mark.parametrize("channels", [("chat", "chat"), ("chat", "fax"), ()])
def test_chain_plan_refuses_bad_chains(channels) -> None:
    if not channels:
        assert ChainPlan(channels).channels == ()  # an empty chain is valid data (settings refuse it)
        return
    with pytest.raises(ValueError):
        ChainPlan(channels)


def test_chain_plan_survives_json_and_fills_default_timeouts() -> None:
    again = ChainPlan.from_json(CHAIN.to_json())
    assert again == CHAIN
    assert ChainPlan(("chat", "email"), {}).ack_timeout("chat") == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("error", "outcome", "code"),
    [
        (RecipientError(81013, "user & party & tag all invalid", request_id="h1"), DeliveryOutcome.FAILED, "81013"),
        (RecipientError(0, "recipient listed in invaliduser"), DeliveryOutcome.FAILED, "invaliduser"),
        (TransientError(None, "message/send: HTTP 500", http_status=500), DeliveryOutcome.FAILED, "HTTP 500"),
        (TransientError(None, "message/send: timed out"), DeliveryOutcome.TIMEOUT, "timeout"),
        (TransientError(None, "message/send: ClientConnectorError: refused"), DeliveryOutcome.FAILED, "transport"),
        (PlatformError("invalidParameter.userIds", "userIds 1..20", http_status=400), DeliveryOutcome.FAILED,
         "invalidParameter.userIds"),
    ],
)
def test_platform_errors_become_records(error, outcome, code) -> None:
    reply = reply_for(error)
    assert (reply.outcome, reply.code) == (outcome, code)
    assert reply.request_id == error.request_id


@pytest.mark.parametrize("userid,shown", [("zhangsan", "zhangsan"), ("13800138000", "138****00"),
                                          ("li.si@example.com", "l***@example.com")])
def test_platform_user_ids_are_masked(userid, shown) -> None:
    assert mask_user(userid) == shown
