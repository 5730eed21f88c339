"""Which lead a voice note attaches to (bot.voice.choice): pure, by table."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.voice.choice import TOUCH_WINDOW, ActiveLead, ChoiceKind, LeadChoice, choose_lead

CST = timezone(timedelta(hours=8))
SENT = datetime(2026, 11, 20, 15, 0, tzinfo=CST)


def ago(minutes: float) -> datetime:
    return SENT - timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("leads", "expected"),
    [
        pytest.param([], LeadChoice(ChoiceKind.NONE), id="no active lead"),
        pytest.param([ActiveLead(7)], LeadChoice(ChoiceKind.ONLY, 7), id="the only lead, never touched"),
        pytest.param([ActiveLead(7, touched_at=ago(600))], LeadChoice(ChoiceKind.ONLY, 7),
                     id="the only lead, touched long ago"),
        pytest.param([ActiveLead(7, touched_at=ago(3)), ActiveLead(8)], LeadChoice(ChoiceKind.TOUCHED, 7),
                     id="several, one touched just before"),
        pytest.param([ActiveLead(7, touched_at=ago(8)), ActiveLead(8, touched_at=ago(2))],
                     LeadChoice(ChoiceKind.TOUCHED, 8), id="several touched: the last one"),
        pytest.param([ActiveLead(7, touched_at=ago(11)), ActiveLead(8, last_activity_at=ago(1))],
                     LeadChoice(ChoiceKind.ASK, candidates=(7, 8)), id="touched outside the window: ask"),
        pytest.param([ActiveLead(7, last_activity_at=ago(60)), ActiveLead(8, last_activity_at=ago(5)),
                      ActiveLead(9)],
                     LeadChoice(ChoiceKind.ASK, candidates=(8, 7, 9)), id="ask, most recently active first"),
        pytest.param([ActiveLead(7, touched_at=ago(-0.25)), ActiveLead(8)], LeadChoice(ChoiceKind.TOUCHED, 7),
                     id="a touch stamped seconds after the message (clock skew) counts"),
        pytest.param([ActiveLead(7, touched_at=ago(-5)), ActiveLead(8)],
                     LeadChoice(ChoiceKind.ASK, candidates=(7, 8)),
                     id="a touch minutes after the message is not what it answers"),
    ],
)
def test_choose_lead(leads: list[ActiveLead], expected: LeadChoice) -> None:
    assert choose_lead(leads, SENT) == expected


def test_the_window_edge_is_inclusive() -> None:
    leads = [ActiveLead(7, touched_at=SENT - TOUCH_WINDOW), ActiveLead(8)]
    assert choose_lead(leads, SENT).lead_id == 7
    leads = [ActiveLead(7, touched_at=SENT - TOUCH_WINDOW - timedelta(seconds=1)), ActiveLead(8)]
    assert choose_lead(leads, SENT).kind is ChoiceKind.ASK
