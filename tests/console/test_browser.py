"""The console in a real headless browser (Playwright driving Debian's chromium), one browser for the module:
an admin signs in with a token, registers a WeCom app against the simulator and sees its callback URL, runs the
diagnostics while WeCom refuses our address (60020) and sees the next step, has a CSV with a bad row refused by the
preview, reorders two rules and tries a lead against them, sends a test e-mail to the test's SMTP server; another
tenant's pages are not there for them.

With `LEADBOT_CONSOLE_SHOTS=DIR` the test also saves each page at 1280 px and 390 px wide (`docs/console/` holds
the committed set: `LEADBOT_CONSOLE_SHOTS=docs/console pytest -n 0 tests/console/test_browser.py`).

Skipped with a reason when chromium or playwright is missing on a developer's machine; under CI (`CI` set) their
absence is a failure, so the browser test cannot silently stop running.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bot.admin import rules as rule_ops
from bot.leads.schemas import RuleIn
from bot.runtime.app import create_app
from storage.models import App, Delivery, RoutingRule, Tenant
from tests.conftest import ADMIN_TOKEN
from tests.console.support import admin_token
from tests.escalation.support import CORP_ID, World, new_lead
from tests.notify.smtp_server import Recorder
from tests.sim.wecom import WeComSimulator

NEW_AGENT = 1000009
NEW_SECRET = "sim-secret-console-Zr8Kq2Lm"
WIDTHS = {"desktop": 1280, "phone": 390}


@pytest.fixture
async def server(services) -> AsyncIterator[TestServer]:
    server = TestServer(create_app(services), host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()


class Shots:
    """Each page at both widths into `LEADBOT_CONSOLE_SHOTS` when it is set; otherwise only the first page, into
    the test's own directory, to check a screenshot can be taken at all."""

    def __init__(self, tmp_path: Path) -> None:
        wanted = os.environ.get("LEADBOT_CONSOLE_SHOTS")
        self.dir = Path(wanted) if wanted else tmp_path
        self.all = bool(wanted)
        self.taken: list[Path] = []

    async def take(self, page, name: str) -> None:  # noqa: ANN001 - a playwright Page
        if self.taken and not self.all:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        for label, width in WIDTHS.items():
            await page.set_viewport_size({"width": width, "height": 900})
            path = self.dir / f"{name}-{label}.png"
            await page.screenshot(path=str(path), full_page=True)
            self.taken.append(path)
        await page.set_viewport_size({"width": WIDTHS["desktop"], "height": 900})


async def test_an_admin_sets_up_a_tenant_in_the_console(world: World, wecom: WeComSimulator, smtp: Recorder,
                                                        server: TestServer, chromium, tmp_path: Path) -> None:
    services = world.services
    tid = world.tenant.id
    wecom.add_app(NEW_AGENT, NEW_SECRET, {"wang", "zhang", "li"})
    for name, rep in (("华东 → 张三", world.rep), ("华东 → 李四", world.rep2)):
        await rule_ops.create_rule(tid, RuleIn(name=name, regions=["华东"], strategy="named", named_rep_id=rep.id,
                                               position=len(name)))
    other = await Tenant.create(name="别家公司", timezone="Asia/Shanghai")
    _, token = await admin_token(world.tenant)
    shots = Shots(tmp_path)
    if shots.all:  # something to show on the activity page
        lead = await new_lead(world, "宁波海曙机电")
        for channel, provider, outcome, code, ms in (("chat", "wecom", "failed", "60020", 41.0),
                                                     ("sms", "aliyun", "ok", "OK", 212.0),
                                                     ("email", "smtp", "ok", "250", 95.0)):
            await Delivery.create(tenant_id=tid, lead_id=lead, user_id=world.rep.id, channel=channel,
                                  provider=provider, address="138****8002", outcome=outcome, code=code,
                                  latency_ms=ms, at=services.clock.now())

    base = str(server.make_url("")).rstrip("/")
    context = await chromium.new_context(viewport={"width": WIDTHS["desktop"], "height": 900})
    page = await context.new_page()

    # Sign in with the tenant's admin token.
    await page.goto(f"{base}/console/login")
    await shots.take(page, "login")
    await page.fill("#token", token)
    await page.click("#sign-in")
    await page.wait_for_url(f"{base}/console/t/{tid}/apps")
    assert "销售助手" in await page.locator("#apps").inner_text()

    # Register a second WeCom app on the simulator: the Token and AES key come filled in, the rest is typed.
    await page.fill("#f-name", "华南销售助手")
    await page.fill("#f-corp_id", CORP_ID)
    await page.fill("#f-agent_id", str(NEW_AGENT))
    await page.fill("#f-secret", NEW_SECRET)
    await page.fill("#f-api_base", wecom.url)
    await shots.take(page, "apps")
    await page.click("#register-submit")
    app = await App.get(tenant_id=tid, name="华南销售助手")
    assert await page.locator("#url-callback").inner_text() == f"http://127.0.0.1/wecom/{app.id}/callback"
    assert len(await page.locator("#paste-encoding_aes_key").inner_text()) == 43
    assert "企业可信IP" in await page.locator("#checklist").inner_text()
    await shots.take(page, "registered")

    # Diagnostics while WeCom refuses calls from our address: the check fails and says where to add it.
    wecom.untrusted_ip = "203.0.113.77"
    await page.click("#verify")
    row = page.locator("#checks tr", has_text="trusted_ip")
    assert "fail" in await row.inner_text()
    next_step = await row.locator(".next-step").inner_text()
    assert "企业可信IP" in next_step and "203.0.113.77" in next_step
    await shots.take(page, "verify")
    wecom.untrusted_ip = None

    # A CSV with a bad row: the preview names it and offers no import; nothing is written.
    await page.click("#nav-people")
    await page.wait_for_url(f"{base}/console/t/{tid}/people")
    await page.fill("#f-csv", "name,role,wecom_userid,phone\n赵六,rep,zhaoliu,13800138009\n"
                              "周七,rep,zhouqi,12345\n")
    await page.click("#preview-csv")
    assert "1" in await page.locator("#csv-refused").inner_text()
    bad = page.locator("#csv-preview tr.row-bad")
    assert await bad.count() == 1 and "周七" in await bad.inner_text()
    assert await page.locator("#apply-csv").count() == 0
    await shots.take(page, "people")
    await page.locator("#people").get_by_text("张三").click()
    assert await page.locator("#person-title").inner_text() == "张三"
    await shots.take(page, "person")

    # Two rules: the second moved up wins the trial lead.
    await page.click("#nav-rules")
    await page.fill("#f-region", "华东")
    await page.click("#run-trial")
    assert "张三" in await page.locator("#trial-result").inner_text()
    second = await RoutingRule.get(tenant_id=tid, name="华东 → 李四")
    await page.click(f"#up-{second.id}")
    assert (await page.locator("#rules .rule-name").all_inner_texts())[0] == "华东 → 李四"
    await page.fill("#f-region", "华东")
    await page.click("#run-trial")
    assert "李四" in await page.locator("#trial-result").inner_text()
    await shots.take(page, "rules")

    # "Send me a test" e-mail reaches the test's SMTP server.
    await page.click("#nav-settings")
    await page.fill("#f-to-email", "sun.admin@example.com")
    await page.click("#send-email")
    assert "ok" in await page.locator("#test-sent").inner_text()
    assert any("sun.admin@example.com" in m.rcpt_tos for m in smtp.messages)
    await shots.take(page, "settings")

    await page.click("#nav-activity")
    await page.click("#verify-audit")
    assert "0 条断链" in await page.locator("#audit-result").inner_text()
    await shots.take(page, "activity")

    # A form posted from elsewhere with this browser's session cookie but without the page's CSRF token is refused.
    forged = await context.request.post(f"{base}/console/t/{tid}/apps/{app.id}/status", form={"status": "disabled"})
    assert forged.status == 403
    assert (await App.get(id=app.id)).status == "active"

    # Another tenant is not there for this admin, whatever the address.
    response = await page.goto(f"{base}/console/t/{other.id}/apps")
    assert response is not None and response.status == 404
    await page.goto(f"{base}/console/t/{tid}/apps?lang=en")
    assert "Register an app" in await page.content()
    await context.close()

    # The operator signs in with the operator token and picks a tenant from every tenant.
    context = await chromium.new_context(viewport={"width": WIDTHS["desktop"], "height": 900})
    page = await context.new_page()
    await page.goto(f"{base}/console/login")
    await page.fill("#token", ADMIN_TOKEN)
    await page.click("#sign-in")
    await page.wait_for_url(f"{base}/console")
    tenants = await page.locator("#tenants").inner_text()
    assert world.tenant.name in tenants and "别家公司" in tenants
    await shots.take(page, "tenants")
    await context.close()

    assert shots.taken and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in shots.taken)
