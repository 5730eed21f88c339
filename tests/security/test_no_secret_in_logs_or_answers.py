"""A full scenario with every log line captured (through the service's own formatters, at DEBUG) and every API
answer kept, then searched: no app secret, callback token, AES key, SMS secret, access token, bearer token, webhook
secret or master key may appear in either, and no phone number or e-mail address may appear in a log line.

Phone numbers and e-mail addresses are the data of user and lead records: an answer about that record, to a caller
of its tenant, shows them (a rep must be able to call the client). Every other answer (errors, deliveries, apps,
settings, health, metrics) must not.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from bot.runtime.logs import JsonFormatter, MaskingFormatter
from tests.conftest import ADMIN_TOKEN, MASTER_KEY
from tests.escalation.support import AES_KEY, SECRET, World, attempts
from tests.escalation.test_delivery import breach
from tests.sim.wecom import CallbackSender, WeComSimulator
from tests.support.alerting import ALIYUN_SECRET

APP2 = {"secret": "second-app-secret-Zq8Lw2Vn", "token": "SecondTok3n", "encoding_aes_key":
        "Zyxwvutsrqponmlkjihgfedcba9876543210ABCDEFG"}
PHONES = ["13800138001", "13800138002", "13800138003", "13900001111", "13712345678"]
EMAILS = ["wang.manager@example.com", "zhang.san@example.com", "li.si@example.com", "client.chen@example.org"]


@dataclass
class Answers:
    """Every API answer of the scenario: (method, path, status, body)."""
    seen: list[tuple[str, str, int, str]] = field(default_factory=list)

    async def call(self, client, method: str, path: str, **kw) -> tuple[int, object]:
        r = await client.request(method, path, **kw)
        text = await r.text()
        self.seen.append((method, path, r.status, text))
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Everything logged, as `leadbot serve` would write it, in both formats."""
    text, js = io.StringIO(), io.StringIO()
    handlers = [logging.StreamHandler(text), logging.StreamHandler(js)]
    handlers[0].setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handlers[1].setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    for h in handlers:
        root.addHandler(h)
    try:
        yield text, js
    finally:
        for h in handlers:
            root.removeHandler(h)
        root.setLevel(old_level)


async def test_a_full_scenario_leaks_no_secret_and_logs_no_personal_data(
    world: World, wecom: WeComSimulator, aliyun, smtp, client, admin_headers, captured, services,
) -> None:
    a = Answers()
    h = admin_headers
    tid = world.tenant.id
    # An admin registers a second app, sets the SMS secret, makes a tenant token and a webhook, adds people.
    status, app2 = await a.call(client, "POST", "/admin/apps", headers=h, json={
        "tenant_id": tid, "platform": "wecom", "name": "第二应用", "api_base": wecom.url,
        "credentials": {"corp_id": "wwsecond0001", "agent_id": 1000003, **APP2}})
    assert status == 201
    status, _ = await a.call(client, "PATCH", f"/admin/tenants/{tid}/settings", headers=h, json={"notify": {"sms": {
        "provider": "aliyun", "access_key_id": "LTAI5tEscalationKey", "access_key_secret": ALIYUN_SECRET,
        "sign_name": "领客", "template_code": "SMS_460010001", "api_base": str(aliyun[1].make_url("/"))},
        "chat_timeout_s": 0.5, "ack_timeout_s": {"chat": 600, "sms": 600}}})
    assert status == 200
    status, token = await a.call(client, "POST", f"/admin/tenants/{tid}/tokens", headers=h,
                                 json={"name": "crm", "scope": "admin"})
    tenant_token = token["token"]
    status, hook = await a.call(client, "POST", "/admin/webhooks", headers=h, json={
        "tenant_id": tid, "url": "http://127.0.0.1:9/hook", "event_types": ["*"]})
    webhook_secret = hook["secret"]
    created_once = {("POST", f"/admin/tenants/{tid}/tokens"), ("POST", "/admin/webhooks")}
    th = {"Authorization": f"Bearer {tenant_token}"}
    status, _ = await a.call(client, "POST", "/admin/users", headers=th, json={
        "name": "赵六", "phone": "13712345678", "email": "zhao.liu@example.com"})
    assert status == 201
    # A CRM posts a lead with the client's phone and e-mail; reads it back.
    status, lead = await a.call(client, "POST", "/api/leads", headers=th, json={
        "company": "杭州云帆", "contact_name": "陈总", "phone": "13900001111", "email": "client.chen@example.org",
        "external_id": "crm-secure-1"})
    assert status == 201
    status, _ = await a.call(client, "POST", f"/api/leads/{lead['id']}/actions", headers=th,
                             json={"action": "assign", "assignee_id": world.rep.id})
    assert status == 200
    # The rep's card is clicked through the real callback route (signed and encrypted with the app's keys).
    async with aiohttp.ClientSession() as session:
        sender = CallbackSender(session, token="Tok3nEsc", encoding_aes_key=AES_KEY, corp_id=wecom.corp_id,
                                agent_id=1000002, simulator=wecom)
        from bot.runtime.worker import drain

        await drain(services)
        cards = [c for c in wecom.cards.values() if "zhang" in c.to]
        assert cards
        for card in cards[:1]:
            key = next(b["key"] for b in card.shown.get("button_list", []) if b["text"] == "已联系")
            url = str(client.make_url(f"/wecom/{world.app_id}/callback"))
            assert (await sender.deliver(url, sender.click("zhang", card.task_id, key))).ok
            await drain(services)
        # Bad callbacks are logged too: a wrong signature and a wrong key.
        params, body = sender.signed(b"<xml/>")
        await a.call(client, "POST", f"/wecom/{world.app_id}/callback", params={**params, "msg_signature": "0" * 40},
                     data=body)
    # An alert that chat cannot deliver goes on by SMS, then e-mail.
    alert = await breach(world, lambda: wecom.inject("message/send", errcode=81013),
                         lambda: aliyun[0].fail_next("isv.BUSINESS_LIMIT_CONTROL", "limit"))
    assert [(ch, outcome) for ch, outcome, _ in await attempts(alert)] == [
        ("chat", "failed"), ("sms", "failed"), ("email", "ok")]
    # Everything an admin or integration reads.
    for path in ("/admin/apps", f"/admin/apps/{world.app_id}", f"/admin/apps/{app2['id']}", "/admin/tenants",
                 f"/admin/tenants/{tid}/settings", f"/admin/tenants/{tid}/tokens", "/admin/webhooks",
                 f"/admin/webhooks/{hook['id']}", f"/api/leads/{alert.lead_id}/deliveries", "/readyz", "/metrics",
                 "/admin/openapi.json", f"/admin/tenants/{tid}/rules"):
        await a.call(client, "GET", path, headers=th)
    await a.call(client, "POST", f"/admin/apps/{world.app_id}/verify", headers=h)
    for bad in ({"Authorization": "Bearer " + tenant_token[:-1]}, {"Authorization": "Basic " + ADMIN_TOKEN}):
        await a.call(client, "GET", "/admin/apps", headers=bad)
    await a.call(client, "POST", "/admin/users", headers=th, json={"name": "x", "phone": "13800138009x"})
    await a.call(client, "POST", "/admin/users", headers=th, json={"name": "x", "email": "not-an-email@"})

    # -- the search ------------------------------------------------------------------------------------------
    logs = captured[0].getvalue() + captured[1].getvalue()
    assert len(logs.splitlines()) > 50, "the scenario logged almost nothing: is the capture wired?"
    access_tokens = list(wecom._tokens)
    assert access_tokens  # the service did fetch tokens during the scenario
    secrets = {"app secret": SECRET, "callback token": "Tok3nEsc", "AES key": AES_KEY, "SMS secret": ALIYUN_SECRET,
               "second app secret": APP2["secret"], "second token": APP2["token"],
               "second AES key": APP2["encoding_aes_key"], "tenant token": tenant_token,
               "webhook secret": webhook_secret, "admin token": ADMIN_TOKEN, "master key": MASTER_KEY,
               **{f"access token {i}": t for i, t in enumerate(access_tokens)}}
    for name, value in secrets.items():
        assert value not in logs, f"{name} in the logs"
    for method, path, status, body in a.seen:
        for name, value in secrets.items():
            if (method, path) in created_once and name in ("tenant token", "webhook secret"):
                continue  # shown once, at creation, by design
            assert value not in body, f"{name} in the answer to {method} {path} ({status})"
    for personal in PHONES + EMAILS + ["13712345678", "zhao.liu@example.com"]:
        assert personal not in logs, f"{personal} in the logs"
    record_answers = ("/admin/users", "/api/leads")
    for method, path, status, body in a.seen:
        if status < 400 and path.startswith(record_answers) and not path.endswith("/deliveries"):
            continue
        for personal in PHONES + EMAILS:
            assert personal not in body, f"{personal} in the answer to {method} {path} ({status})"
    # The alert did go to the manager's address: the logs are masked, not empty of the delivery.
    assert [m.rcpt_tos for m in smtp.messages] == [["wang.manager@example.com"]]
