"""Every card on both platforms: within the platform's limits, equal to its golden file, keys that work."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from card_helpers import CST, MANAGER, REP, STRANGER, T0, bare_lead, check_golden, lead_in, voice_note

from bot.leads.types import Status
from bot.leads.workflow import allowed_actions
from cards import dingtalk, wecom
from cards.keys import ButtonKey, KeyAction
from cards.limits import CardLimitError
from cards.model import (
    Button,
    Card,
    CardKind,
    Field,
    alert_card,
    lead_card,
    lost_reason_card,
    notice_card,
)
from cards.voice import lead_chooser_card, voice_summary_card

DEADLINE = T0 + timedelta(hours=1, minutes=30)
VIEWERS = {"rep": REP, "manager": MANAGER, "stranger": STRANGER}


def all_cards() -> dict[str, Card]:
    cards = {
        f"lead-{status}-{who}": lead_card(lead_in(status), viewer, deadline=DEADLINE, now=T0, tz=CST)
        for status in Status
        for who, viewer in VIEWERS.items()
    }
    cards["lead-assigned-overdue"] = lead_card(lead_in(Status.ASSIGNED), REP, deadline=T0, now=DEADLINE)
    cards["lead-qualified-missing"] = lead_card(bare_lead(Status.QUALIFIED), REP)
    cards["lead-refused"] = lead_card(bare_lead(Status.DEMO), REP, notice="推进到「商务谈判」需要先补充：客户预算")
    cards["lead-long-text"] = lead_card(
        lead_in(Status.CONTACTED, company="超长" * 60 + "👨\u200d👩\u200d👧", contact_name="名" * 50), REP
    )
    cards["alert-rep"] = alert_card(lead_in(Status.ASSIGNED), REP, alert_id=5, headline="超时未联系", deadline=T0)
    cards["alert-manager"] = alert_card(lead_in(Status.ASSIGNED), MANAGER, alert_id=5, headline="超时未联系")
    cards["voice-summary"] = voice_summary_card(voice_note(), lead_in(Status.QUALIFIED))
    cards["voice-summary-confirmed"] = voice_summary_card(voice_note(confirmed=True), lead_in(Status.DEMO))
    cards["voice-summary-long"] = voice_summary_card(voice_note(transcript="很长的纪要。" * 500), None)
    leads = [replace(lead_in(Status.CONTACTED), id=100 + i, company=f"客户公司{i}号有限责任公司") for i in range(8)]
    cards["lead-chooser"] = lead_chooser_card(voice_note(lead_id=None), leads)
    cards["lost-reason"] = lost_reason_card(lead_in(Status.DEMO))
    cards["notice"] = notice_card("线索已转交", "「杭州云帆科技有限公司」已由王经理接手", ref_id=3)
    return cards


CARDS = all_cards()


def check_wecom_limits(out: dict) -> None:
    """The documented WeCom limits, checked on the output independently of the renderer."""
    assert out["card_type"] == "button_interaction"
    assert 1 <= len(out["button_list"]) <= 6
    keys = [b["key"] for b in out["button_list"]]
    assert len(set(keys)) == len(keys)
    for b in out["button_list"]:
        assert len(b["text"]) <= 10 and len(b["key"].encode()) <= 1024 and b["style"] in (1, 2, 3, 4)
    assert len(out["task_id"].encode()) <= 128
    assert len(out["main_title"]["title"]) <= 26 and len(out["main_title"].get("desc", "")) <= 44
    assert len(out.get("sub_title_text", "")) <= 160
    assert len(out["source"]["desc"]) <= 20
    items = out.get("horizontal_content_list", [])
    assert len(items) <= 6
    assert all(len(i["keyname"]) <= 5 and len(i["value"]) <= 30 for i in items)
    json.dumps(out, ensure_ascii=False).encode("utf-8")  # sendable


def check_dingtalk_limits(out: dict) -> None:
    params = out["cardData"]["cardParamMap"]
    assert set(params) == set(dingtalk.TEMPLATE_VARIABLES)
    assert all(isinstance(v, str) for v in params.values())
    buttons = json.loads(params["buttons"])
    fields = json.loads(params["fields"])
    assert len(buttons) <= 6 and len(fields) <= 6
    assert params["has_buttons"] == ("true" if buttons else "false")
    assert all(len(b["text"]) <= 10 and b["style"] in ("primary", "default", "danger") for b in buttons)
    assert all(len(f["name"]) <= 5 and len(f["value"]) <= 60 for f in fields)
    assert len(params["title"]) <= 60 and len(params["body"]) <= 1000
    assert sum(len(k.encode()) + len(v.encode()) for k, v in params.items()) <= 16 * 1024


@pytest.mark.parametrize("name", sorted(CARDS))
def test_wecom_render(name):
    out = wecom.render(CARDS[name], f"lead-42-{name}")
    check_wecom_limits(out)
    check_golden(f"wecom/{name}", out)


@pytest.mark.parametrize("name", sorted(CARDS))
def test_dingtalk_render(name):
    out = dingtalk.render(CARDS[name], out_track_id="lead-42-v7")
    check_dingtalk_limits(out)
    assert out["outTrackId"] == "lead-42-v7"
    check_golden(f"dingtalk/{name}", out)


@pytest.mark.parametrize("name", ["lead-demo-rep", "voice-summary", "lead-chooser"])
def test_dingtalk_markdown_fallback(name):
    out = dingtalk.render_markdown(CARDS[name])
    assert len(out["title"]) <= 30
    check_golden(f"dingtalk-markdown/{name}", out)


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("who", ["rep", "manager"])
def test_rendered_buttons_carry_the_offered_actions_at_this_version(status, who):
    lead, viewer = lead_in(status), VIEWERS[who]
    out = wecom.render(lead_card(lead, viewer), "t1")
    keys = [ButtonKey.unpack(b["key"]) for b in out["button_list"]]
    offered = allowed_actions(lead, viewer)
    if offered:
        assert [k.workflow_action() for k in keys] == list(offered)
    else:
        assert [k.action for k in keys] == [KeyAction.REFRESH]
    assert all(k.target == lead.id and k.version == lead.version for k in keys)


def test_dingtalk_buttons_are_the_same_keys_as_wecom():
    card = CARDS["lead-contacted-manager"]
    wecom_keys = [b["key"] for b in wecom.render(card, "t1")["button_list"]]
    ding_keys = [b["key"] for b in json.loads(dingtalk.render(card)["cardData"]["cardParamMap"]["buttons"])]
    assert wecom_keys == ding_keys


def test_update_renders_the_replacement_for_the_same_task():
    out = wecom.render_update(CARDS["lead-contacted-rep"], "lead-42-abc")
    assert out["task_id"] == "lead-42-abc"
    check_wecom_limits(out)


def _card(buttons=1, text="已联系", fields=(), **kw) -> Card:
    keys = [Button(text, ButtonKey(KeyAction.ACK, i)) for i in range(buttons)]
    return Card(CardKind.NOTICE, "标题", buttons=tuple(keys), fields=tuple(fields), **kw)


@pytest.mark.parametrize(
    "card,task_id,limit",
    [
        (_card(buttons=7), "t", "wecom.button_list"),
        (_card(buttons=0), "t", "wecom.button_list.min"),
        (_card(text="这是一个太长的按钮文字啊"), "t", "wecom.button.text"),
        (_card(fields=[Field("六个字的名字", "x")]), "t", "wecom.horizontal_content.keyname"),
        (_card(fields=[Field("名", str(i)) for i in range(7)]), "t", "wecom.horizontal_content_list"),
        (_card(), "has space", "wecom.task_id.charset"),
        (_card(), "中文", "wecom.task_id.charset"),
        (_card(), "a" * 129, "wecom.task_id.bytes"),
        (
            Card(CardKind.NOTICE, "t", buttons=(Button("a", ButtonKey(KeyAction.ACK, 1)),) * 2),
            "t",
            "wecom.button.key.unique",
        ),
    ],
)
def test_wecom_limits_raise_naming_the_limit(card, task_id, limit):
    with pytest.raises(CardLimitError) as caught:
        wecom.render(card, task_id)
    assert caught.value.limit == limit and limit in str(caught.value)


def test_wecom_task_id_at_the_limit_is_fine():
    check_wecom_limits(wecom.render(_card(), "a-_@" * 32))


@pytest.mark.parametrize(
    "card,out_track_id,limit",
    [
        (_card(buttons=7), None, "dingtalk.buttons"),
        (_card(text="这是一个太长的按钮文字啊"), None, "dingtalk.button.text"),
        (_card(fields=[Field("名", str(i)) for i in range(7)]), None, "dingtalk.fields"),
        (_card(), "a" * 65, "dingtalk.outTrackId.length"),
        (_card(), "lead/42", "dingtalk.outTrackId.charset"),
    ],
)
def test_dingtalk_limits_raise_naming_the_limit(card, out_track_id, limit):
    with pytest.raises(CardLimitError) as caught:
        dingtalk.render(card, out_track_id)
    assert caught.value.limit == limit


def test_long_user_text_is_cut_not_refused():
    out = wecom.render(CARDS["lead-long-text"], "t")
    assert out["main_title"]["title"].endswith("…") and len(out["main_title"]["title"]) == 26
    contact = next(i for i in out["horizontal_content_list"] if i["keyname"] == "联系人")
    assert contact["value"].endswith("…")
    body = dingtalk.render(CARDS["voice-summary-long"])["cardData"]["cardParamMap"]["body"]
    assert len(body) == 1000 and body.endswith("…")


def test_refusal_notice_leads_the_wecom_text():
    out = wecom.render(CARDS["lead-refused"], "t")
    assert out["sub_title_text"].startswith("【提示】推进到「商务谈判」需要先补充：客户预算")
