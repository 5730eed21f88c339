"""What the neutral cards say and offer, before any platform is involved."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from card_helpers import CST, MANAGER, REP, STRANGER, T0, bare_lead, evidence_at, lead_in, voice_note

from bot.leads.actions import MarkLost
from bot.leads.types import LOST_REASONS, Contact, Extraction, Status, WorkflowSettings
from cards.keys import KeyAction
from cards.model import (
    CardKind,
    Tone,
    alert_card,
    budget_text,
    lead_card,
    lost_reason_card,
    money,
    notice_card,
)
from cards.voice import lead_chooser_card, voice_summary_card


@pytest.mark.parametrize(
    "amount,text",
    [(8000, "8000元"), (10_000, "1万"), (950_000, "95万"), (1_234_500, "123.45万"), (120_000_000, "1.2亿")],
)
def test_money(amount, text):
    assert money(amount) == text


@pytest.mark.parametrize(
    "low,high,text",
    [(None, None, "未知"), (800_000, 800_000, "80万"), (800_000, 1_000_000, "80万-100万"), (None, 500_000, "≤50万"),
     (500_000, None, "≥50万")],
)  # fmt: skip
def test_budget_text(low, high, text):
    assert budget_text(low, high) == text


def _field(card, name):
    return next(f.value for f in card.fields if f.name == name)


def test_lead_card_shows_the_deadline_while_assigned():
    card = lead_card(lead_in(Status.ASSIGNED), REP, deadline=T0 + timedelta(hours=2), now=T0, tz=CST)
    assert _field(card, "联系截止") == "03-02 11:00"
    assert card.status == "已分配"


def test_overdue_lead_says_so_in_red():
    card = lead_card(lead_in(Status.ASSIGNED, priority=0), REP, deadline=T0, now=T0 + timedelta(minutes=1))
    assert card.status == "已分配·已超时" and card.tone is Tone.DANGER


@pytest.mark.parametrize(
    "status,label",
    [(Status.QUALIFIED, "需求确认后的语音纪要或附件"), (Status.DEMO, "客户预算"), (Status.NEGOTIATION, "决策人")],
)
def test_lead_card_names_what_the_next_stage_needs(status, label):
    card = lead_card(bare_lead(status), REP)
    assert card.missing == (label,)
    assert lead_card(lead_in(status, evidence=(evidence_at(100),), decision_maker="陈总"), REP).missing == ()


def test_a_switched_off_gate_is_not_shown_as_missing():
    settings = WorkflowSettings(gate_negotiation_needs_budget=False)
    assert lead_card(bare_lead(Status.DEMO), REP, settings=settings).missing == ()


def test_a_stranger_gets_only_refresh():
    card = lead_card(lead_in(Status.CONTACTED), STRANGER)
    assert [b.key.action for b in card.buttons] == [KeyAction.REFRESH]


def test_lost_card_shows_the_reason_and_offers_the_manager_a_reopen():
    card = lead_card(lead_in(Status.LOST), MANAGER)
    assert _field(card, "输单原因") == "选择了竞品"
    assert [b.text for b in card.buttons] == ["重新打开"]


def test_pool_card_says_nobody_holds_it():
    card = lead_card(lead_in(Status.POOL, assignee_id=None), REP)
    assert card.subtitle.startswith("公海待分配") and [b.text for b in card.buttons] == ["我来处理"]


def test_alert_for_the_rep_offers_contacted_and_for_the_manager_take_over():
    lead = lead_in(Status.ASSIGNED)
    rep = alert_card(lead, REP, alert_id=5, headline="超时未联系")
    manager = alert_card(lead, MANAGER, alert_id=5, headline="超时未联系")
    assert [b.text for b in rep.buttons] == ["已联系", "知道了"]
    assert [b.text for b in manager.buttons] == ["我来处理", "知道了"]
    assert rep.buttons[-1].key.target == 5 and rep.kind is CardKind.ALERT


def test_lost_reason_card_offers_every_reason_as_a_loss_with_that_reason():
    card = lost_reason_card(lead_in(Status.DEMO))
    assert len(card.buttons) == len(LOST_REASONS) <= 6
    actions = [b.key.workflow_action() for b in card.buttons]
    assert actions == [MarkLost(label) for label in LOST_REASONS.values()]


def test_voice_summary_prompts_for_titles_not_on_file():
    lead = lead_in(Status.QUALIFIED, contacts=(Contact("陈明", "总经理", True),))
    card = voice_summary_card(voice_note(), lead)
    assert [b.text for b in card.buttons] == ["确认", "更正", "添加技术总监", "添加采购经理"]
    assert [b.key.arg for b in card.buttons if b.key.action is KeyAction.ADD_CONTACT] == ["技术总监", "采购经理"]
    assert "技术总监、采购经理" in card.missing[0]


def test_voice_summary_with_every_title_on_file_asks_nothing():
    contacts = tuple(Contact(f"人{i}", t) for i, t in enumerate(["总经理", "技术总监", "采购经理"]))
    card = voice_summary_card(voice_note(), lead_in(Status.QUALIFIED, contacts=contacts))
    assert card.missing == () and [b.text for b in card.buttons] == ["确认", "更正"]


def test_voice_summary_caps_contact_prompts_to_fit_six_buttons():
    titles = ("首席技术官", "财务总监", "采购总监", "信息中心主任", "副总经理", "法务")
    card = voice_summary_card(voice_note(fields=Extraction(titles=titles)), None)
    assert len(card.buttons) == 6
    assert all(len(b.text) <= 10 for b in card.buttons)


def test_confirmed_summary_keeps_only_correction():
    card = voice_summary_card(voice_note(confirmed=True, fields=Extraction()), None)
    assert [b.text for b in card.buttons] == ["更正"] and card.status == "已确认"


def test_voice_buttons_point_at_the_note_version():
    card = voice_summary_card(voice_note(version=3), None)
    assert {(b.key.target, b.key.version) for b in card.buttons} == {(9, 3)}


def test_chooser_lists_at_most_six_leads_and_picks_by_id():
    leads = [replace(lead_in(Status.CONTACTED), id=100 + i) for i in range(8)]
    card = lead_chooser_card(voice_note(lead_id=None), leads)
    assert [b.key.picked_lead() for b in card.buttons] == [100, 101, 102, 103, 104, 105]
    assert "8 条" in card.subtitle and "6 条" in card.subtitle


def test_chooser_with_two_leads():
    leads = [replace(lead_in(Status.CONTACTED), id=1, company="甲公司"), replace(lead_in(Status.DEMO), id=2)]
    card = lead_chooser_card(voice_note(lead_id=None), leads)
    assert [b.text for b in card.buttons] == ["1.甲公司", "2.杭州云帆科技有…"]
    assert "仅列出" not in card.subtitle


def test_notice_card_is_acknowledged_by_its_button():
    card = notice_card("提醒\n标题", "正文\x00内容", ref_id=12)
    assert card.title == "提醒 标题" and card.body == "正文内容"
    assert [(b.text, b.key.action, b.key.target) for b in card.buttons] == [("知道了", KeyAction.ACK, 12)]
