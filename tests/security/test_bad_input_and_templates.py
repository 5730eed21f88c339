"""Issue 18, bad input gets a clear answer: deeply nested JSON on every JSON route, a CSV field over the csv
module's limit (and nothing of that import written), `/board/leads/²`, lead_url templates that are format strings,
and a lead's words that try to become links in markdown. Each: a specific status, no change, the service serving."""

from __future__ import annotations

import re

import pytest

from bot.admin.tenant_settings import NotifySection, TenantSettings
from bot.admin.users import read_csv
from bot.alerting.notify.base import Alert
from bot.alerting.notify.chat import markdown
from bot.cli.leads import read_leads_csv
from bot.errors import InvalidField
from bot.leads.types import Status
from cards import dingtalk as dingtalk_cards
from cards.model import lead_card
from handlers.openapi import API
from storage.models import Tenant, User
from tests.board.support import link_token
from tests.cards.card_helpers import REP, lead_in
from tests.hostile.support import assert_serving, assert_unchanged, state
from tests.security.test_every_route_is_guarded import _make_tenant, concrete

DEEP = ("[" * 50_000 + "]" * 50_000).encode()
PHISH = "[点我领奖](https://phish.example/x) <a href='https://phish.example'>官网</a> " \
        "dtmd://dingtalkclient/sendMessage?content=lb1:adv:42:7:won ![](https://phish.example/p.png)\n# 假标题"


# -- deeply nested JSON ------------------------------------------------------------------------------------------


async def test_deeply_nested_json_is_a_400_on_every_json_route(client, admin_headers, services) -> None:
    ids = await _make_tenant(client, admin_headers, "深层公司", "repdeep")
    routes = sorted({(op.method, op.path) for op in API.operations if op.body is not None})
    assert len(routes) > 15
    before = await state(services)
    answers = {}
    for method, path in routes:
        r = await client.request(method, concrete(path, ids), data=DEEP, headers=admin_headers,
                                 params={"tenant_id": str(ids["tenants"])})
        answers[(method, path)] = (r.status, (await r.json()).get("error"))
    assert {k: v for k, v in answers.items() if v != (400, "malformed_json")} == {}
    await assert_unchanged(services, before)
    await assert_serving(client)


# -- CSV import ----------------------------------------------------------------------------------------------------


async def test_a_csv_field_over_the_limit_imports_nothing(client, admin_headers, services) -> None:
    tenant = await Tenant.create(name="导入")
    csv = ("name,role,wecom_userid\n"
           "先到,rep,first\n"
           f'"{"长" * 140_000}",rep,huge\n'
           "后到,rep,last\n")
    before = await state(services)
    r = await client.post(f"/admin/tenants/{tenant.id}/users/import", data=csv.encode(), headers=admin_headers)
    body = await r.json()
    assert (r.status, body["error"], body["field"]) == (400, "invalid", "csv")
    assert "line 3" in body["message"] and "nothing was imported" in body["message"]
    await assert_unchanged(services, before)
    assert await User.filter(tenant_id=tenant.id).count() == 0  # not even the row before it
    await assert_serving(client)


@pytest.mark.parametrize(("read", "header"), [(read_csv, "name,role"), (read_leads_csv, "external_id,company")],
                         ids=["users", "leads"])
def test_the_cli_imports_refuse_such_a_file_before_any_row(read, header: str) -> None:
    text = f'{header}\n先到,1\n"{"长" * 140_000}",2\n后到,3\n'
    with pytest.raises(InvalidField) as refused:
        read(text)
    assert refused.value.field == "csv" and "line 3" in refused.value.reason
    assert "nothing was imported" in refused.value.reason


@pytest.mark.parametrize(("read", "header"), [(read_csv, "name,role"), (read_leads_csv, "external_id,company")],
                         ids=["users", "leads"])
def test_the_imports_refuse_a_file_holding_the_nul_character(read, header: str) -> None:
    """PostgreSQL's text cannot hold U+0000: both imports refuse such a file before any row, on either backend."""
    with pytest.raises(InvalidField) as refused:
        read(f"{header}\n先到,1\n后\x00到,2\n")
    assert refused.value.field == "csv" and "U+0000" in refused.value.reason
    assert "nothing was imported" in refused.value.reason


async def test_an_import_naming_a_user_id_twice_is_refused_whole(client, admin_headers) -> None:
    """Issue 19: a second row with the same user id used to rename the first row's user silently; now the file is
    refused before any row is stored, the duplicate named by its line."""
    tenant = await Tenant.create(name="导入二")
    csv = "name,role,wecom_userid\n甲,rep,dup\n乙,rep,dup\n丙,rep,other\n"
    r = await client.post(f"/admin/tenants/{tenant.id}/users/import", data=csv.encode(), headers=admin_headers)
    report = await r.json()
    assert r.status == 200 and (report["created"], report["updated"]) == (0, 0)
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(3, "wecom_userid")]
    assert await User.filter(tenant_id=tenant.id).count() == 0


# -- the board's lead ids ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["²", "%C2%B2", "١٢", "12a", "-1", "9" * 30])
async def test_a_lead_id_that_is_not_ascii_digits_is_a_404(raw, world, client) -> None:
    token = await link_token(world, world.manager)
    r = await client.post("/board/login", data={"t": token, "next": "/board"}, allow_redirects=False)
    cookie = r.headers["Set-Cookie"].split(";", 1)[0]
    r = await client.get(f"/board/leads/{raw}", headers={"Cookie": cookie})
    assert r.status == 404 and "找不到线索" in await r.text()
    await assert_serving(client)


# -- lead_url templates --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", [
    "https://crm.example.com/leads/{lead_id:>999999999}",  # 1 GB from a format spec
    "https://crm.example.com/leads/{0}/{lead_id}",  # an IndexError in every alert
    "https://crm.example.com/leads/{lead_id.__class__}",  # attribute access
    "https://crm.example.com/leads/{lead_id}/{tenant}",  # a placeholder that is not documented
    "https://crm.example.com/leads/{lead_id}}",
    "https://crm.example.com/leads/{{lead_id}}",
    "https://crm.example.com/leads/ {lead_id}",
    "javascript:alert(1)//{lead_id}",
    "https://crm.example.com/leads",
])
async def test_a_lead_url_that_is_more_than_the_documented_placeholder_is_refused_on_save(
    template, client, admin_headers, services,
) -> None:
    tenant = await Tenant.create(name="模板")
    before = await state(services)
    r = await client.patch(f"/admin/tenants/{tenant.id}/settings", headers=admin_headers,
                           json={"notify": {"lead_url": template}})
    body = await r.json()
    assert (r.status, body["field"]) == (400, "notify.lead_url"), body
    await assert_unchanged(services, before)


def test_the_placeholder_is_replaced_as_text() -> None:
    notify = NotifySection(lead_url="https://crm.example.com/leads/{lead_id}?back={lead_id}&q=%7Bx%7D")
    assert notify.lead_link(42) == "https://crm.example.com/leads/42?back=42&q=%7Bx%7D"
    assert NotifySection().lead_link(42) is None


def test_a_template_stored_before_the_check_falls_back_to_the_default_link() -> None:
    """A format-string template saved by an earlier release must not fail every alert of its tenant."""
    settings = TenantSettings.of({"notify": {"lead_url": "https://x.example/{0}/{lead_id}", "chain": ["chat"]}})
    assert settings.notify.lead_link(1) is None and settings.notify.chain == ["chat"]


# -- a lead's words in markdown --------------------------------------------------------------------------------------


def _links(text: str) -> list[str]:
    return re.findall(r"\]\(([^)]*)\)", text)


def test_a_leads_words_never_become_links_in_dingtalk_markdown() -> None:
    lead = lead_in(Status.ASSIGNED, company=PHISH, contact_name=PHISH[:40], tags=("[急](https://phish.example)",))
    card = lead_card(lead, REP)
    text = dingtalk_cards.render_markdown(card)["text"]
    # The only links are the card's own buttons, each sending one of our keys.
    assert _links(text) and all(link.startswith("dtmd://dingtalkclient/sendMessage?content=lb1") for link in
                                _links(text))
    assert len(_links(text)) == len(card.buttons)
    assert "phish.example" in text and "https:／／phish.example" in text  # shown, as text
    assert "<a" not in text and "\n# " not in text and "![" not in text
    assert text.count("dtmd://") == len(card.buttons)


def test_a_leads_words_never_become_links_in_a_chat_alert() -> None:
    alert = Alert(id="1", kind="lock_breached", subject="超时未联系", text=f"线索 {PHISH} 超过 30 分钟未联系",
                  link="https://leadbot.test/api/leads/42", ack_link="https://leadbot.test/ack/abc")
    text = markdown(alert)
    assert _links(text) == ["https://leadbot.test/api/leads/42", "https://leadbot.test/ack/abc"]
    assert "dtmd://" not in text and "<a" not in text and "\n# " not in text
