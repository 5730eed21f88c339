"""Alerts down the chain: the WeCom simulator refusing (81013, 60020), failing (HTTP 500) or hanging, so the alert
goes on by SMS (simulators that check each request's signature) and then e-mail (a real SMTP server); acks by card
and by link stop it; every attempt is on record."""

from __future__ import annotations

import email
import json
import re
from collections.abc import Callable
from datetime import timedelta
from email.message import Message

import pytest
from prometheus_client import REGISTRY

from bot.alerting import alerts, deadlines
from bot.jobs import timers
from bot.runtime.worker import drain
from storage import redis_keys
from storage.models import Alert, Delivery, User
from storage.models import Lead as LeadRow
from tests.escalation.support import (
    WED_10,
    World,
    alert_cards_to,
    alerts_of,
    assign,
    attempts,
    buttons,
    click,
    configure,
    deadline_of,
    make_world,
    new_lead,
)
from tests.support.alerting import SMS_OK
from tests.support.jobclock import fast_forward, queued
from tests.support.people import make_user

ONLY_MANAGER = {"steps": [{"action": "alert_manager"}]}
WECOM_FAULTS = {
    "81013": ({"errcode": 81013}, "failed", "refused"),  # nobody reachable in the app's visible range
    "60020": ({"errcode": 60020}, "failed", "refused"),  # our IP is not in the app's trusted IPs
    "HTTP 500": ({"status": 500}, "failed", "http_error"),
    "timeout": ({"hang_s": 5.0}, "timeout", "timeout"),  # the channel gives up after chat_timeout_s (0.5 s)
}
MANAGER_PHONE = {"aliyun": "13800138001", "tencent": "+8613800138001"}


async def breach(world: World, *faults: Callable[[], object], ladder: dict | None = ONLY_MANAGER) -> Alert:
    """A lead whose lock ran out: `faults` are arranged once the rep has the lead's card, then the manager's
    alert is raised and its first attempts run."""
    if ladder is not None:
        await configure(world, escalation=ladder)
    lead_id = await new_lead(world, intent="high")
    await assign(world, lead_id, world.rep, now=WED_10)
    for fault in faults:
        fault()
    row = await deadline_of(lead_id)
    await timers.arm(world.services.redis, await deadlines.run_step(world.services, row.id, row.fence, 0))
    await drain(world.services)
    return (await alerts_of(lead_id, "lock_breached"))[0]


def fallbacks(channel: str, reason: str) -> float:
    return REGISTRY.get_sample_value("leadbot_alert_fallbacks_total", {"channel": channel, "reason": reason}) or 0.0


def mails_to(smtp, address: str) -> list[Message]:
    return [email.message_from_bytes(m.original_content) for m in smtp.messages if address in m.rcpt_tos]


def text_part(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError("no text/plain part")


async def after_ack_timeout(world: World, seconds: float = 601) -> None:
    await fast_forward(world.services, world.services.clock.now() + timedelta(seconds=seconds))
    await drain(world.services)


# --- chat refused: SMS, then e-mail ---------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
@pytest.mark.parametrize("fault", list(WECOM_FAULTS))
async def test_chat_failure_goes_on_by_sms_then_email(services, wecom, aliyun, tencent, smtp, provider, fault):
    sms_sim, sms_server = {"aliyun": aliyun, "tencent": tencent}[provider]
    world = await make_world(services, wecom, str(sms_server.make_url("/")), provider)
    inject, outcome, reason = WECOM_FAULTS[fault]
    before = fallbacks("chat", reason), fallbacks("sms", "no_ack")
    alert = await breach(world, lambda: wecom.inject("message/send", **inject))

    assert await attempts(alert) == [("chat", outcome, fault), ("sms", "ok", SMS_OK[provider])]
    assert [getattr(s, "phone_numbers", None) or s.phone_number for s in sms_sim.accepted] == [MANAGER_PHONE[provider]]
    assert sms_sim.refused == []  # every request's signature checked out
    assert (await Alert.get(id=alert.id)).state == "waiting"
    assert smtp.messages == []  # the SMS is waiting for an ack

    await after_ack_timeout(world)  # nobody acknowledged the SMS
    assert await attempts(alert) == [("chat", outcome, fault), ("sms", "ok", SMS_OK[provider]),
                                     ("email", "ok", "250")]
    assert (await Alert.get(id=alert.id)).state == "delivered"
    [mail] = mails_to(smtp, "wang.manager@example.com")
    assert "超时未联系" in str(email.header.make_header(email.header.decode_header(mail["Subject"])))
    body = text_part(mail)
    assert "张三 未在时限" in body and f"/api/leads/{alert.lead_id}" in body and "/ack/" in body
    # the e-mail offers its links, not the chat card's buttons (issue 23)
    assert "我来处理" not in body and "已联系" not in body and "点「" not in body
    assert {p.get_content_type() for p in mail.walk()} >= {"text/plain", "text/html"}
    assert (fallbacks("chat", reason), fallbacks("sms", "no_ack")) == (before[0] + 1, before[1] + 1)


async def test_sms_failing_too_goes_straight_to_email(world: World, wecom, aliyun, smtp) -> None:
    alert = await breach(world, lambda: wecom.inject("message/send", errcode=81013),
                         lambda: aliyun[0].fail_next("isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5"))
    assert await attempts(alert) == [("chat", "failed", "81013"), ("sms", "failed", "isv.BUSINESS_LIMIT_CONTROL"),
                                     ("email", "ok", "250")]
    assert (await Alert.get(id=alert.id)).state == "delivered"
    assert len(mails_to(smtp, "wang.manager@example.com")) == 1


async def test_every_channel_failing_is_on_record(world: World, wecom, aliyun, smtp) -> None:
    smtp.refuse["wang.manager@example.com"] = "550 5.1.1 <wang.manager@example.com>: User unknown"
    alert = await breach(world, lambda: wecom.inject("message/send", status=502),
                         lambda: aliyun[0].http_error_next(503))
    assert await attempts(alert) == [("chat", "failed", "HTTP 502"), ("sms", "failed", "HTTP 503"),
                                     ("email", "failed", "550")]
    assert (await Alert.get(id=alert.id)).state == "failed"


async def test_unconfigured_channels_are_skipped_on_record(world: World, smtp) -> None:
    await configure(world, notify={"chain": ["sms", "email", "chat"]})  # no SMS provider any more
    await User.filter(id=world.manager.id).update(email=None)
    alert = await breach(world)
    assert await attempts(alert) == [("sms", "failed", "not_configured"), ("email", "failed", "no_address"),
                                     ("chat", "ok", "0")]
    assert (await Alert.get(id=alert.id)).state == "delivered"  # the last channel took it: nothing left to wait for


# --- waiting for an ack -----------------------------------------------------------------------------------------


async def test_unacknowledged_alert_moves_on_after_its_ack_timeout(world: World, aliyun, smtp) -> None:
    alert = await breach(world)
    assert await attempts(alert) == [("chat", "ok", "0")]
    card = alert_cards_to(world.sim, "wang")[-1]
    assert list(buttons(card)) == ["我来处理", "知道了"]
    assert "点「我来处理」接手" in json.dumps(card.card, ensure_ascii=False)  # the card says what its buttons do
    await after_ack_timeout(world, seconds=300)  # half the chat ack timeout: still waiting
    assert await attempts(alert) == [("chat", "ok", "0")] and aliyun[0].accepted == []
    await after_ack_timeout(world)
    assert await attempts(alert) == [("chat", "ok", "0"), ("sms", "ok", "OK")]
    await after_ack_timeout(world)
    assert [a[0] for a in await attempts(alert)] == ["chat", "sms", "email"]


async def test_card_ack_stops_the_chain(world: World, aliyun, smtp) -> None:
    alert = await breach(world)
    card = alert_cards_to(world.sim, "wang")[-1]
    await click(world, "wang", card, "知道了")
    row = await Alert.get(id=alert.id)
    assert (row.state, row.ack_via, row.acked_by) == ("acked", "card", world.manager.id)
    assert "已确认收到" in str(world.sim.cards[(card.agent_id, card.task_id)].updates[-1])
    await after_ack_timeout(world)
    await after_ack_timeout(world)
    assert await attempts(alert) == [("chat", "ok", "0")]
    assert aliyun[0].accepted == [] and smtp.messages == []


async def test_ack_by_someone_else_is_refused(world: World) -> None:
    alert = await breach(world)
    card = alert_cards_to(world.sim, "wang")[-1]
    world.sim.cards[(card.agent_id, card.task_id)].to.append("li")  # the card was forwarded to 李四
    await click(world, "li", card, "知道了")
    assert (await Alert.get(id=alert.id)).state == "waiting"


async def test_take_it_button_acks_and_hands_the_lead_to_the_manager(world: World, aliyun) -> None:
    alert = await breach(world)
    await click(world, "wang", alert_cards_to(world.sim, "wang")[-1], "我来处理")
    row = await Alert.get(id=alert.id)
    assert (row.state, row.ack_via) == ("acked", "claim")
    lead = await LeadRow.get(id=alert.lead_id)
    assert lead.assignee_id == world.manager.id
    await after_ack_timeout(world)
    assert aliyun[0].accepted == []


async def test_news_is_delivered_once_without_waiting(world: World, aliyun) -> None:
    lead_id = await new_lead(world)
    spec = alerts.notify_spec(999, {"user_id": world.manager.id, "kind": "won", "lead_id": lead_id,
                                    "text": "「杭州云帆科技」赢单"})
    await timers.arm(world.services.redis, await alerts.raise_alert(world.tenant.id, spec, now=world.services.clock.now()))
    await drain(world.services)
    [alert] = await alerts_of(lead_id, "won")
    assert (alert.state, await attempts(alert)) == ("delivered", [("chat", "ok", "0")])
    assert [j for j in await _queued_alert_jobs(world)] == []
    # the same notify follow-up run again raises nothing new
    assert await alerts.raise_alert(world.tenant.id, spec, now=world.services.clock.now()) == []


async def _queued_alert_jobs(world: World) -> list[str]:
    return [j for j in await queued(world.services) if j.startswith("lb:alert:")]


# --- the e-mail's ack link ---------------------------------------------------------------------------------------


async def test_email_ack_link_two_steps_one_time(world: World, wecom, aliyun, smtp, client) -> None:
    alert = await breach(world, lambda: wecom.inject("message/send", errcode=60020),
                         lambda: aliyun[0].fail_next("isv.AMOUNT_NOT_ENOUGH"))
    [mail] = mails_to(smtp, "wang.manager@example.com")
    path = re.search(r"https://leadbot\.test(/ack/[A-Za-z0-9_-]+)", text_part(mail)).group(1)

    page = await client.get(path)  # a mail scanner opening the link does not acknowledge anything
    assert page.status == 200 and "确认收到" in await page.text() and "<form" in await page.text()
    assert (await Alert.get(id=alert.id)).state == "delivered"

    done = await client.post(path)
    assert done.status == 200 and "已确认收到" in await done.text()
    row = await Alert.get(id=alert.id)
    assert (row.state, row.ack_via) == ("acked", "email")
    again = await client.post(path)  # one-time: a second use changes nothing
    assert again.status == 200 and (await Alert.get(id=alert.id)).acked_at == row.acked_at

    tampered = path[:-4] + ("AAAA" if not path.endswith("AAAA") else "BBBB")
    assert (await client.get(tampered)).status == 404
    assert (await client.post("/ack/not-a-token")).status == 404


# --- the record -------------------------------------------------------------------------------------------------


async def test_every_attempt_recorded_with_masked_addresses(world: World, wecom, smtp) -> None:
    alert = await breach(world, lambda: wecom.inject("message/send", errcode=81013))
    await after_ack_timeout(world)
    rows = await Delivery.filter(alert_id=alert.id).order_by("id")
    assert [(d.channel, d.provider) for d in rows] == [("chat", "wecom"), ("sms", "aliyun"), ("email", "smtp")]
    assert [d.address for d in rows] == ["wang", "+86138****8001", "w***@example.com"]
    assert all(d.lead_id == alert.lead_id and d.user_id == world.manager.id for d in rows)
    assert rows[0].request_id and rows[1].request_id and rows[2].request_id  # WeCom hint, Aliyun RequestId, Message-ID
    assert all(d.latency_ms >= 0 for d in rows)


async def test_deliveries_api_is_tenant_scoped(world: World, services, wecom, client, admin_headers) -> None:
    alert = await breach(world, lambda: wecom.inject("message/send", errcode=81013))
    token = await _token(client, admin_headers, world.tenant.id)
    r = await client.get(f"/api/leads/{alert.lead_id}/deliveries", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 200
    body = await r.json()
    assert [(d["channel"], d["outcome"], d["code"], d["alert_kind"]) for d in body] == [
        ("chat", "failed", "81013", "lock_breached"), ("sms", "ok", "OK", "lock_breached")]
    assert body[1]["address"] == "+86138****8001" and body[1]["user_name"] == "王经理"

    other = await client.post("/admin/tenants", json={"name": "别家公司"}, headers=admin_headers)
    stranger = await _token(client, admin_headers, (await other.json())["id"])
    r = await client.get(f"/api/leads/{alert.lead_id}/deliveries", headers={"Authorization": f"Bearer {stranger}"})
    assert r.status == 404
    assert (await client.get(f"/api/leads/{alert.lead_id}/deliveries")).status == 401


async def _token(client, admin_headers, tenant_id: int) -> str:
    r = await client.post(f"/admin/tenants/{tenant_id}/tokens", json={"name": "crm", "scope": "api"},
                          headers=admin_headers)
    return (await r.json())["token"]


async def test_deliveries_from_the_shell(world: World, wecom, settings) -> None:
    import json
    import os
    import subprocess
    import sys

    alert = await breach(world, lambda: wecom.inject("message/send", errcode=81013))
    env = {**os.environ, "LEADBOT_DATA_DIR": str(settings.data_dir),
           "LEADBOT_MASTER_KEY": settings.master_key.get_secret_value()}
    if settings.database_url:
        env["LEADBOT_DATABASE_URL"] = settings.database_url
    env.pop("LEADBOT_REDIS_URL", None)
    r = subprocess.run([sys.executable, "-m", "bot", "deliveries", "--lead", str(alert.lead_id)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(d["channel"], d["code"]) for d in rows] == [("chat", "81013"), ("sms", "OK")]
    assert "13800138001" not in r.stdout
    r = subprocess.run([sys.executable, "-m", "bot", "deliveries", "--lead", "999999"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "not found" in r.stderr


# --- DingTalk ---------------------------------------------------------------------------------------------------


async def test_dingtalk_without_card_template_gets_markdown_with_the_ack_link(services, smtp) -> None:
    from bot.admin.apps import register_app
    from bot.admin.schemas import AppIn
    from storage.models import Tenant
    from tests.sim.dingtalk import DingTalkSimulator

    async with DingTalkSimulator() as sim:
        sim.add_app("dingescalation", "s" * 32, users=["m001"])
        tenant = await Tenant.create(name="钉钉客户")
        manager = await make_user(tenant=tenant, name="赵经理", role="manager", dingtalk_staff_id="m001")
        await register_app(services.box, services.settings, tenant.id, AppIn.model_validate({
            "platform": "dingtalk", "name": "钉钉助手", "api_base": sim.base_url,
            "credentials": {"app_key": "dingescalation", "app_secret": "s" * 32}}).root)
        spec = alerts.notify_spec(1, {"user_id": manager.id, "kind": "flagged", "lead_id": None,
                                      "text": "「某线索」已被退回 2 次，请关注"})
        await timers.arm(services.redis, await alerts.raise_alert(tenant.id, spec, now=services.clock.now()))
        await drain(services)
        [alert] = await Alert.filter(user_id=manager.id)
        assert await attempts(alert) == [("chat", "ok", "0")]
        [message] = sim.messages
        assert message["to"] == "m001" and message["msgKey"] == "sampleMarkdown"
        assert "已被退回 2 次" in message["param"]["text"] and "/ack/" in message["param"]["text"]


# --- a broken or interrupted attempt --------------------------------------------------------------------------------


async def test_unreadable_sms_secret_is_skipped_on_record_and_email_follows(world: World, wecom, smtp) -> None:
    import os

    from bot.alerting.notify.sms import SMS_SECRET_PURPOSE
    from storage.models import Tenant
    from storage.secrets import SecretBox

    tenant = await Tenant.get(id=world.tenant.id)
    sealed_elsewhere = SecretBox(os.urandom(32)).seal("secret", SMS_SECRET_PURPOSE)  # another master key
    tenant.settings["notify"]["sms"]["access_key_secret_sealed"] = sealed_elsewhere
    await tenant.save()
    alert = await breach(world, lambda: wecom.inject("message/send", errcode=81013))
    assert await attempts(alert) == [("chat", "failed", "81013"), ("sms", "failed", "not_configured"),
                                     ("email", "ok", "250")]


async def test_attempt_of_a_dead_run_is_taken_over_after_its_lease(world: World, aliyun) -> None:
    alert = await breach(world)  # chat went out; the alert waits for an ack
    # a run claimed the SMS attempt and died: the alert sits in "sending" with its lease
    lease_end = world.services.clock.now() + timedelta(seconds=alerts.ATTEMPT_LEASE_S)
    await Alert.filter(id=alert.id).update(state="sending", next_at=lease_end)
    assert await alerts.advance(world.services, alert.id, 1) == []  # the lease holds: nobody else sends
    assert aliyun[0].accepted == []
    assert [t.job_id for t in await alerts.overdue_timers(lease_end + timedelta(seconds=1))] == [f"lb:alert:{alert.id}:1"]
    await alerts.advance(world.services, alert.id, 1, now=lease_end + timedelta(seconds=1))
    assert [a[0] for a in await attempts(alert)] == ["chat", "sms"] and len(aliyun[0].accepted) == 1


async def test_auditor_rearms_an_alert_whose_first_attempt_was_lost(world: World) -> None:
    lead_id = await new_lead(world)
    spec = alerts.notify_spec(7, {"user_id": world.manager.id, "kind": "won", "lead_id": lead_id, "text": "赢单"})
    raised = await alerts.raise_alert(world.tenant.id, spec, now=world.services.clock.now() - timedelta(minutes=5))
    assert len(raised) == 1  # ...and the process died before arming it
    await world.services.redis.set(redis_keys.TIMERS_ARMED, "x")  # no data loss seen: only the overdue pass finds it
    assert await timers.audit(world.services) == 1
    await drain(world.services)
    [alert] = await alerts_of(lead_id, "won")
    assert alert.state == "delivered"


async def test_the_crm_hears_of_the_escalation_and_of_the_alert_nobody_got(world: World, wecom, aliyun, smtp) -> None:
    from bot.webhooks import dispatcher
    from tests.webhooks.conftest import FAST, subscribe
    from tests.webhooks.receiver import Receiver

    receiver = await Receiver(clock=world.services.clock.time).start()
    try:
        await subscribe(world.services, world.tenant.id, receiver.url, ["lead.escalated", "alert.delivery_failed"],
                        receiver=receiver)
        smtp.refuse["wang.manager@example.com"] = "550 5.1.1 <wang.manager@example.com>: User unknown"
        alert = await breach(world, lambda: wecom.inject("message/send", status=502),
                             lambda: aliyun[0].http_error_next(503))
        async with dispatcher.Dispatcher(world.services, policy=FAST) as d:
            await d.run_until_idle()
    finally:
        await receiver.stop()
    assert [r.event_type for r in receiver.received] == ["lead.escalated", "alert.delivery_failed"]
    assert all(r.signed for r in receiver.received)
    escalated, failed = (r.body for r in receiver.received)
    assert escalated["lead_id"] == failed["lead_id"] == alert.lead_id
    assert escalated["data"]["action"] == "alert_manager" and escalated["seq"] < failed["seq"]
    assert failed["data"]["alert_id"] == alert.id
    assert [(a["channel"], a["outcome"]) for a in failed["data"]["attempts"]] == [
        ("chat", "failed"), ("sms", "failed"), ("email", "failed")]
