"""The console over HTTP, without a browser: signing in and out, sessions that end when their token is revoked,
tenants fenced from each other, CSRF on every form, and the forms reaching the same service functions as the API."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from bot.board import access
from bot.console import CONSOLE, COOKIE
from storage.models import AdminEvent, App, RoutingRule, Tenant, User
from tests.conftest import ADMIN_TOKEN
from tests.console.support import admin_token, csrf_of, sign_in
from tests.escalation.support import World
from tests.support.people import make_user


async def _other_tenant() -> tuple[Tenant, App]:
    other = await Tenant.create(name="另一家公司", timezone="Asia/Shanghai")
    app = await App.create(tenant=other, platform="wecom", name="别家的助手", identity=f"{other.id}:wecom:x:1",
                           public={"corp_id": "x", "agent_id": 1}, secrets_sealed="")
    return other, app


async def test_a_tenant_token_signs_in_to_its_tenant_with_a_strict_cookie(world: World, client: TestClient) -> None:
    _, token = await admin_token(world.tenant)
    form = await client.get("/console/login")
    assert "Content-Security-Policy" in form.headers and "frame-ancestors 'none'" in form.headers[
        "Content-Security-Policy"]
    pre = re.search(r'name="pre" value="([^"]+)"', await form.text())
    assert pre is not None
    response = await client.post("/console/login", data={"pre": pre.group(1), "token": token},
                                 allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == f"/console/t/{world.tenant.id}/apps"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Max-Age=" in cookie and "Secure" not in cookie  # served over http here
    page = await client.get(f"/console/t/{world.tenant.id}/apps")
    assert page.status == 200 and "销售助手" in await page.text()


async def test_a_wrong_token_or_a_login_post_without_its_form_is_refused(world: World, client: TestClient) -> None:
    await client.get("/console/login")
    response = await client.post("/console/login", data={"pre": "forged", "token": ADMIN_TOKEN},
                                 allow_redirects=False)
    assert response.status == 403
    form = await client.get("/console/login")
    pre = re.search(r'name="pre" value="([^"]+)"', await form.text())
    assert pre is not None
    response = await client.post("/console/login", data={"pre": pre.group(1), "token": "lbt_nope"},
                                 allow_redirects=False)
    assert response.status == 401 and "令牌无效" in await response.text()
    response = await client.get(f"/console/t/{world.tenant.id}/apps", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/console/login"


async def test_an_api_scope_token_cannot_sign_in(world: World, client: TestClient) -> None:
    from storage.models import TokenScope

    _, token = await admin_token(world.tenant, TokenScope.API)
    form = await client.get("/console/login")
    pre = re.search(r'name="pre" value="([^"]+)"', await form.text())
    assert pre is not None
    response = await client.post("/console/login", data={"pre": pre.group(1), "token": token},
                                 allow_redirects=False)
    assert response.status == 401


async def test_a_tenant_admin_cannot_see_another_tenant(world: World, client: TestClient) -> None:
    other, other_app = await _other_tenant()
    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    for path in (f"/console/t/{other.id}/apps", f"/console/t/{other.id}/people", f"/console/t/{other.id}/rules",
                 f"/console/t/{other.id}/settings", f"/console/t/{other.id}/activity",
                 f"/console/t/{world.tenant.id}/apps/{other_app.id}"):
        response = await client.get(path)
        assert response.status == 404, path
        assert "别家的助手" not in await response.text()
    home = await client.get("/console", allow_redirects=False)
    assert home.headers["Location"] == f"/console/t/{world.tenant.id}/apps"
    # A post into the other tenant with this session's valid CSRF token changes nothing there either.
    csrf = await csrf_of(client, f"/console/t/{world.tenant.id}/apps")
    response = await client.post(f"/console/t/{world.tenant.id}/apps/{other_app.id}/status",
                                 data={"csrf": csrf, "status": "disabled"})
    assert response.status == 404
    assert (await App.get(id=other_app.id)).status == "active"


async def test_the_operator_sees_every_tenant(world: World, client: TestClient) -> None:
    other, other_app = await _other_tenant()
    assert await sign_in(client, ADMIN_TOKEN) == "/console"
    text = await (await client.get("/console")).text()
    assert world.tenant.name in text and other.name in text
    assert "别家的助手" in await (await client.get(f"/console/t/{other.id}/apps")).text()


async def test_a_form_posted_without_the_csrf_token_is_refused(world: World, client: TestClient) -> None:
    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    base = f"/console/t/{world.tenant.id}"
    for path, data in ((f"{base}/people", {"name": "伪造的人"}),
                       (f"{base}/apps/{world.app_id}/status", {"status": "disabled"}),
                       (f"{base}/rules", {"name": "伪造规则"}),
                       (f"{base}/settings/deadlines", {"tier_high": "1", "tier_medium": "1", "tier_low": "1",
                                                       "default": "1"})):
        for forged in (data, {**data, "csrf": "not-the-token"}):
            response = await client.post(path, data=forged)
            assert response.status == 403, path
            assert "请求无效" in await response.text()
    assert not await User.exists(name="伪造的人")
    assert not await RoutingRule.exists(name="伪造规则")
    assert (await App.get(id=world.app_id)).status == "active"
    assert "workflow" not in ((await Tenant.get(id=world.tenant.id)).settings or {})


async def test_revoking_the_token_ends_its_sessions_and_sign_out_ends_one(world: World, client: TestClient,
                                                                          services) -> None:
    row, token = await admin_token(world.tenant)
    await sign_in(client, token)
    apps = f"/console/t/{world.tenant.id}/apps"
    assert (await client.get(apps)).status == 200
    row.revoked_at = services.clock.now()
    await row.save()
    response = await client.get(apps)
    assert response.status == 403 and "登录已失效" in await response.text()

    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    csrf = await csrf_of(client, apps)
    response = await client.post("/console/logout", data={"csrf": csrf})
    assert response.status == 200 and "已退出" in await response.text()
    assert (await client.get(apps, allow_redirects=False)).status == 303


async def test_an_admin_signs_in_with_a_chat_link_once_and_a_board_link_opens_nothing(world: World,
                                                                                   client: TestClient) -> None:
    admin = await make_user(tenant=world.tenant, name="孙管理员", role="admin", wecom_userid="sun")
    redis = world.services.redis
    board_link = await access.issue_link_token(redis, admin)
    assert (await client.get(f"/console/login?t={board_link}")).status == 404
    link = await access.issue_link_token(redis, admin, realm=CONSOLE)
    page = await client.get(f"/console/login?t={link}")
    assert page.status == 200 and 'id="sign-in"' in await page.text()  # a link preview spends nothing
    response = await client.post("/console/login", data={"t": link}, allow_redirects=False)
    assert response.status == 303 and COOKIE in response.headers["Set-Cookie"]
    assert "孙管理员" in await (await client.get(f"/console/t/{world.tenant.id}/apps")).text()
    again = await client.post("/console/login", data={"t": link}, allow_redirects=False)
    assert again.status == 403
    # A manager's link is refused: the console is for admins.
    manager_link = await access.issue_link_token(redis, world.manager, realm=CONSOLE)
    assert (await client.post("/console/login", data={"t": manager_link}, allow_redirects=False)).status == 403


async def test_registration_shows_each_field_error_and_stores_nothing(world: World, client: TestClient) -> None:
    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    path = f"/console/t/{world.tenant.id}/apps"
    csrf = await csrf_of(client, path)
    response = await client.post(path, data={"csrf": csrf, "platform": "wecom", "name": "新助手", "corp_id": "ww1",
                                             "agent_id": "abc", "secret": "s", "token": "Tok",
                                             "encoding_aes_key": "short"})
    assert response.status == 400
    text = await response.text()
    assert 'id="err-agent_id"' in text and 'id="err-encoding_aes_key"' in text
    assert 'value="新助手"' in text  # what was typed is kept, the secret is not echoed back
    assert await App.filter(tenant_id=world.tenant.id).count() == 1


async def test_csv_preview_refuses_a_bad_row_and_writes_nothing(world: World, client: TestClient) -> None:
    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    path = f"/console/t/{world.tenant.id}/people"
    csrf = await csrf_of(client, path)
    csv = "name,role,wecom_userid,phone\n赵六,rep,zhaoliu,13800138009\n错行,boss,cuohang,123\n"
    response = await client.post(f"{path}/import", data={"csrf": csrf, "csv": csv, "action": "apply"})
    assert response.status == 400
    text = await response.text()
    assert 'id="csv-refused"' in text and 'id="apply-csv"' not in text
    assert not await User.exists(name="赵六") and not await User.exists(name="错行")
    good = "name,role,wecom_userid\n赵六,rep,zhaoliu\n"
    preview = await client.post(f"{path}/import", data={"csrf": csrf, "csv": good, "action": "preview"})
    assert preview.status == 200 and 'id="apply-csv"' in await preview.text()
    assert not await User.exists(name="赵六")
    applied = await client.post(f"{path}/import", data={"csrf": csrf, "csv": good, "action": "apply"})
    assert applied.status == 200 and 'id="csv-result"' in await applied.text()
    assert await User.exists(name="赵六", tenant_id=world.tenant.id)
    imported = await AdminEvent.get(tenant_id=world.tenant.id, action="people.import")
    assert imported.detail == {"created": 1, "updated": 0, "errors": 0}


async def test_rules_reorder_and_a_trial_lead_follows_the_new_order(world: World, client: TestClient) -> None:
    token_row, token = await admin_token(world.tenant)
    await sign_in(client, token)
    path = f"/console/t/{world.tenant.id}/rules"
    csrf = await csrf_of(client, path)
    for name, rep in (("华东给张三", world.rep), ("华东给李四", world.rep2)):
        response = await client.post(path, data={"csrf": csrf, "name": name, "regions": "华东", "strategy": "named",
                                                 "named_rep_id": str(rep.id)})
        assert response.status == 201, await response.text()
    trial = await client.post(f"{path}/trial", data={"csrf": csrf, "region": "华东"})
    assert "张三" in re.search(r'id="trial-result"[^>]*>(.*?)</p>', await trial.text(), re.S).group(1)
    second = await RoutingRule.get(name="华东给李四")
    await client.post(f"{path}/{second.id}/move", data={"csrf": csrf, "to": "up"})
    names = [r.name for r in await RoutingRule.filter(tenant_id=world.tenant.id).order_by("position", "id")]
    assert names == ["华东给李四", "华东给张三"]
    trial = await client.post(f"{path}/trial", data={"csrf": csrf, "region": "华东"})
    assert "李四" in re.search(r'id="trial-result"[^>]*>(.*?)</p>', await trial.text(), re.S).group(1)
    outside = await client.post(f"{path}/trial", data={"csrf": csrf, "region": "华南"})
    assert "留在公海" in await outside.text()
    # Each change is on record with the admin (this token) as actor; a trial changes nothing and is not.
    events = await AdminEvent.filter(tenant_id=world.tenant.id).order_by("id")
    assert [(e.actor, e.action) for e in events] == [(f"token:{token_row.id}", a) for a in
                                                     ("session.sign_in", "rule.add", "rule.add", "rule.move")]
    assert events[-1].subject == "华东给李四" and events[-1].detail["order"] == [second.id, second.id - 1]
    activity = await (await client.get(f"/console/t/{world.tenant.id}/activity")).text()
    assert "rule.move" in activity and "控制台测试" in activity


async def test_settings_go_through_the_api_validation(world: World, client: TestClient) -> None:
    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    path = f"/console/t/{world.tenant.id}/settings"
    csrf = await csrf_of(client, path)
    ok = await client.post(f"{path}/deadlines", data={"csrf": csrf, "tier_high": "20", "tier_medium": "90",
                                                      "tier_low": "600", "default": "240"})
    assert ok.status == 200
    stored = (await Tenant.get(id=world.tenant.id)).settings["workflow"]["deadline_minutes"]
    assert stored == {"high": 20, "medium": 90, "low": 600}
    # Zero minutes is refused by the settings model itself, named by its field; nothing changes.
    bad = await client.post(f"{path}/deadlines", data={"csrf": csrf, "tier_high": "0", "tier_medium": "90",
                                                       "tier_low": "600", "default": "240"})
    assert bad.status == 400 and "workflow.deadline_minutes.high" in await bad.text()
    assert (await Tenant.get(id=world.tenant.id)).settings["workflow"]["deadline_minutes"]["high"] == 20
    hours = await client.post(f"{path}/calendar", data={"csrf": csrf, "hours": "09:00-12:00, 11:00-18:00",
                                                        "overrides": ""})
    assert hours.status == 400 and "calendar.hours" in await hours.text()


async def test_every_console_route_is_guarded(world: World, client: TestClient) -> None:
    """Enumerated from the router (a page added tomorrow is covered tomorrow): no session, no page; another
    tenant's path is 404 even with a valid session and CSRF token; a post without the CSRF token is 403."""
    other, _ = await _other_tenant()
    routes = sorted({(r.method, r.resource.canonical) for r in client.app.router.routes()
                     if r.resource is not None and r.method != "HEAD"
                     and r.resource.canonical.startswith("/console/t/")})
    assert len(routes) >= 25

    def path(canonical: str, tenant_id: int) -> str:
        return canonical.replace("{tenant}", str(tenant_id)).replace("{id}", "1")

    for method, canonical in routes:
        response = await client.request(method, path(canonical, world.tenant.id), allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/console/login", canonical
    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    csrf = await csrf_of(client, f"/console/t/{world.tenant.id}/apps")
    for method, canonical in routes:
        data = {"csrf": csrf} if method == "POST" else None
        response = await client.request(method, path(canonical, other.id), data=data, allow_redirects=False)
        assert response.status == 404, canonical
        if method == "POST":
            response = await client.post(path(canonical, world.tenant.id), allow_redirects=False)
            assert response.status == 403, canonical


async def test_every_page_renders_in_chinese_and_in_english(world: World, client: TestClient) -> None:
    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    base = f"/console/t/{world.tenant.id}"
    for path in (f"{base}/apps", f"{base}/apps?platform=dingtalk", f"{base}/apps/{world.app_id}", f"{base}/people",
                 f"{base}/people?q=张", f"{base}/people/{world.rep.id}", f"{base}/rules", f"{base}/settings",
                 f"{base}/activity"):
        zh = await client.get(path)
        assert zh.status == 200, path
        assert '<html lang="zh">' in await zh.text()
    english = await client.get(f"{base}/apps?lang=en")
    assert "Register an app" in await english.text()
    for path in (f"{base}/apps?platform=dingtalk", f"{base}/apps/{world.app_id}", f"{base}/people",
                 f"{base}/people/{world.rep.id}", f"{base}/rules", f"{base}/settings", f"{base}/activity"):
        en = await client.get(path)  # the choice is remembered (a cookie)
        assert en.status == 200 and '<html lang="en">' in await en.text(), path


async def test_typed_tokens_are_tried_a_few_times_a_minute(world: World, client: TestClient) -> None:
    form = await client.get("/console/login")
    pre = re.search(r'name="pre" value="([^"]+)"', await form.text())
    assert pre is not None
    statuses = [(await client.post("/console/login", data={"pre": pre.group(1), "token": f"guess-{n}"},
                                   allow_redirects=False)).status for n in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    # Even the right token waits out the minute.
    response = await client.post("/console/login", data={"pre": pre.group(1), "token": ADMIN_TOKEN},
                                 allow_redirects=False)
    assert response.status == 429 and "尝试次数过多" in await response.text()


async def test_send_me_a_test_sms_through_the_tenants_provider(world: World, client: TestClient, aliyun) -> None:
    sim, _ = aliyun
    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    path = f"/console/t/{world.tenant.id}/settings"
    csrf = await csrf_of(client, path)
    response = await client.post(f"{path}/test", data={"csrf": csrf, "channel": "sms", "to": "13800138009"})
    sent = re.search(r'id="test-sent"[^>]*>(.*?)</p>', await response.text(), re.S)
    assert response.status == 200 and sent is not None
    assert sent.group(1).startswith("sms → ") and ": ok" in sent.group(1) and "13800138009" not in sent.group(1)
    assert [s.phone_numbers for s in sim.accepted] == ["13800138009"]
    bad = await client.post(f"{path}/test", data={"csrf": csrf, "channel": "sms", "to": "021-62345678"})
    assert bad.status == 400 and 'id="err-sms-to"' in await bad.text()
    assert len(sim.accepted) == 1


async def test_a_dingtalk_app_registers_from_the_same_form_and_shows_its_three_urls(world: World,
                                                                                  client: TestClient) -> None:
    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    path = f"/console/t/{world.tenant.id}/apps"
    form = await (await client.get(f"{path}?platform=dingtalk")).text()
    assert 'name="app_key"' in form and 'name="corp_id"' in form and 'name="agent_id"' not in form.split(
        'id="register-form"')[1].split('name="app_key"')[0]
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    response = await client.post(path, data={"csrf": csrf, "platform": "dingtalk", "name": "钉钉助手",
                                             "app_key": "dingbench01", "app_secret": "s" * 30, "mode": "http"})
    assert response.status == 201, await response.text()
    text = await response.text()
    app = await App.get(tenant_id=world.tenant.id, name="钉钉助手")
    for kind in ("callback", "events", "card"):
        assert f"http://127.0.0.1/dingtalk/{app.id}/{kind}" in text
    assert "s" * 30 not in text  # the app secret is never shown


async def test_calendar_and_escalation_edits_are_stored_and_refused_by_field(world: World,
                                                                            client: TestClient) -> None:
    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    path = f"/console/t/{world.tenant.id}/settings"
    csrf = await csrf_of(client, path)
    ok = await client.post(f"{path}/calendar", data={"csrf": csrf, "hours": "08:30-12:00，13:00-17:30",
                                                     "overrides": "2026-10-10 上班\n2026-12-31 off\n"})
    assert ok.status == 200
    calendar = (await Tenant.get(id=world.tenant.id)).settings["calendar"]
    assert calendar == {"hours": [["08:30", "12:00"], ["13:00", "17:30"]],
                        "overrides": {"2026-10-10": True, "2026-12-31": False}}
    # A day taken off the list is no longer an override.
    await client.post(f"{path}/calendar", data={"csrf": csrf, "hours": "08:30-12:00", "overrides": "2026-10-10 work"})
    assert (await Tenant.get(id=world.tenant.id)).settings["calendar"]["overrides"] == {"2026-10-10": True}
    bad = await client.post(f"{path}/escalation", data={"csrf": csrf, "steps": "remind_rep 0\nfire_everyone 10"})
    assert bad.status == 400 and "escalation.steps" in await bad.text()
    good = await client.post(f"{path}/escalation", data={"csrf": csrf, "steps": "remind_rep 0\nalert_manager 15",
                                                         "working_time": "on", "stale_after_hours": "48"})
    assert good.status == 200
    escalation = (await Tenant.get(id=world.tenant.id)).settings["escalation"]
    assert escalation["steps"] == [{"action": "remind_rep", "delay_minutes": 0},
                                   {"action": "alert_manager", "delay_minutes": 15}]
    assert escalation["stale_after_hours"] == 48
    # Only the operator loads the country's holiday schedule.
    refused = await client.post(f"{path}/holidays", data={"csrf": csrf, "schedule": '{"year": 2031}'})
    assert refused.status == 403


async def test_a_dead_webhook_event_is_redelivered_and_leads_export(world: World, client: TestClient,
                                                                    services) -> None:
    from storage.models import WebhookDelivery, WebhookEvent, WebhookSubscription

    now = services.clock.now()
    sub = await WebhookSubscription.create(tenant=world.tenant, url="http://127.0.0.1:9/hook", event_types=["*"],
                                           secret_sealed="x")
    event = await WebhookEvent.create(event_id="evt_console_1", tenant_id=world.tenant.id, type="lead.created",
                                      payload={})
    delivery = await WebhookDelivery.create(event=event, subscription=sub, tenant_id=world.tenant.id,
                                            state="dead", attempts=12, next_attempt_at=now, window_started_at=now,
                                            last_status=503)
    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    path = f"/console/t/{world.tenant.id}/activity"
    page = await client.get(path)
    assert "evt_console_1" in await page.text()
    csrf = await csrf_of(client, path)
    response = await client.post(f"{path}/webhooks/{sub.id}/redeliver", data={"csrf": csrf,
                                                                              "event_id": "evt_console_1"})
    assert response.status == 200 and "1" in re.search(r'id="notice"[^>]*>(.*?)</p>', await response.text()).group(1)
    assert (await WebhookDelivery.get(id=delivery.id)).state == "pending"
    assert await AdminEvent.exists(tenant_id=world.tenant.id, action="webhook.redeliver")

    from tests.escalation.support import new_lead

    await new_lead(world, "宁波海曙机电")
    export = await client.get(f"{path}/export?format=csv")
    assert export.status == 200 and export.headers["Content-Type"].startswith("text/csv")
    assert "宁波海曙机电" in (await export.read()).decode("utf-8-sig")


async def test_the_lexicon_form_stores_through_the_lexicon_service(world: World, client: TestClient) -> None:
    from bot.voice import lexicons

    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    path = f"/console/t/{world.tenant.id}/settings"
    csrf = await csrf_of(client, path)
    response = await client.post(f"{path}/lexicon", data={"csrf": csrf, "competitors": "云帆软件：云帆, 云番\n",
                                                          "products": "数据中台，智能客服", "hotwords": "云帆"})
    assert response.status == 200, await response.text()
    section = await lexicons.tenant_section(world.tenant.id)
    assert section.competitors == {"云帆软件": ["云帆", "云番"]}
    assert section.products == ["数据中台", "智能客服"] and section.hotwords == ["云帆"]
    assert "云帆" in lexicons.lexicon_of(section).competitors["云帆软件"]
    too_long = await client.post(f"{path}/lexicon", data={"csrf": csrf, "products": "长" * 40})
    assert too_long.status == 400 and 'id="err-lexicon"' in await too_long.text()
    assert (await lexicons.tenant_section(world.tenant.id)).products == ["数据中台", "智能客服"]


async def test_editing_a_person_changes_and_marks_only_what_was_changed(world: World, client: TestClient) -> None:
    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    path = f"/console/t/{world.tenant.id}/people/{world.rep.id}"
    page = await (await client.get(path)).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"csrf": csrf, "name": "张三", "role": "rep", "manager_id": str(world.manager.id), "wecom_userid": "zhang",
            "dingtalk_staff_id": "", "phone": "13800138002", "email": "zhang.san@example.com", "region": "华东",
            "industries": "制造，能源"}
    response = await client.post(path, data=form)
    assert response.status == 200 and 'id="notice"' in await response.text()
    rep = await User.get(id=world.rep.id)
    assert rep.region == "华东" and rep.industries == ["制造", "能源"] and rep.phone == "+8613800138002"
    assert rep.hand_set == []  # name, phone, e-mail, manager unchanged: directory sync may still keep them
    edit = await AdminEvent.get(tenant_id=world.tenant.id, action="person.edit")
    assert edit.detail["fields"] == ["industries", "region"]
    bad = await client.post(path, data={**form, "manager_id": str(world.rep2.id)})  # a rep cannot manage
    assert bad.status == 400 and "manager" in await bad.text()
    assert (await User.get(id=world.rep.id)).manager_id == world.manager.id
    # Disabling hands the open leads to the successor.
    from tests.escalation.support import assign, new_lead

    lead = await new_lead(world, "宁波海曙机电")
    await assign(world, lead, world.rep, now=world.services.clock.now())
    response = await client.post(f"{path}/disable", data={"csrf": csrf, "successor_id": str(world.rep2.id)})
    assert response.status == 200
    from storage.models import Lead

    assert not (await User.get(id=world.rep.id)).active and (await Lead.get(id=lead)).assignee_id == world.rep2.id


async def test_an_operator_session_ends_when_the_operator_token_changes(world: World, client: TestClient,
                                                                         services) -> None:
    await sign_in(client, ADMIN_TOKEN)
    assert (await client.get("/console")).status == 200
    services.admin_token = "a-new-operator-token-0123456789"
    try:
        response = await client.get("/console")
        assert response.status == 403 and "登录已失效" in await response.text()
    finally:
        services.admin_token = ADMIN_TOKEN


async def test_the_channels_form_sets_the_order_and_an_sms_provider_with_its_secret_sealed(
        world: World, client: TestClient, services) -> None:
    """The SMS provider's form is made from the providers' table: choosing Tencent shows and takes Tencent's fields;
    the secret is sealed, never shown again nor kept in the admins' audit, and left empty it is kept."""
    _, token = await admin_token(world.tenant)
    await sign_in(client, token)
    base = f"/console/t/{world.tenant.id}/settings"
    page = await (await client.get(base)).text()
    assert 'name="sms_tencent_sdk_app_id"' in page and 'name="sms_aliyun_template_code"' in page
    csrf = await csrf_of(client, base)
    form = {"csrf": csrf, "chain": "sms, chat, email", "provider": "tencent", "sms_tencent_secret_id": "AKIDconsole01",
            "sms_tencent_secret_key": "tencent-console-secret", "sms_tencent_sdk_app_id": "1400000001",
            "sms_tencent_sign_name": "线索助手", "sms_tencent_template_id": "123456"}
    response = await client.post(f"{base}/channels", data=form)
    assert response.status == 200, await response.text()
    shown = await response.text()
    assert "tencent-console-secret" not in shown
    stored = (await Tenant.get(id=world.tenant.id)).settings["notify"]
    assert stored["chain"] == ["sms", "chat", "email"]
    sms = stored["sms"]
    assert sms["provider"] == "tencent" and sms["secret_id"] == "AKIDconsole01" and "secret_key" not in sms
    assert services.box.open(sms["secret_key_sealed"], "tenant.sms") == "tencent-console-secret"
    events = await AdminEvent.filter(tenant_id=world.tenant.id, action="settings.notify")
    assert events and all("tencent-console-secret" not in str(e.detail) for e in events)

    # A new sign name without the secret keeps the stored one; a new key id without it is refused.
    kept = {**form, "sms_tencent_secret_key": "", "sms_tencent_sign_name": "新签名"}
    assert (await client.post(f"{base}/channels", data=kept)).status == 200
    sms = (await Tenant.get(id=world.tenant.id)).settings["notify"]["sms"]
    assert sms["sign_name"] == "新签名" and services.box.open(sms["secret_key_sealed"], "tenant.sms") == \
        "tencent-console-secret"
    moved = {**kept, "sms_tencent_secret_id": "AKIDsomeoneelse"}
    refused = await client.post(f"{base}/channels", data=moved)
    assert refused.status == 400 and "notify.sms.secret_key" in await refused.text()
    assert (await Tenant.get(id=world.tenant.id)).settings["notify"]["sms"]["secret_id"] == "AKIDconsole01"

    # An unknown channel in the order is refused with the field named; "no SMS" removes the provider.
    bad = await client.post(f"{base}/channels", data={"csrf": csrf, "chain": "chat, fax", "provider": ""})
    assert bad.status == 400 and "notify.chain" in await bad.text()
    none = await client.post(f"{base}/channels", data={"csrf": csrf, "chain": "chat, email", "provider": "none"})
    assert none.status == 200
    notify = (await Tenant.get(id=world.tenant.id)).settings["notify"]
    assert notify["chain"] == ["chat", "email"] and "sms" not in notify
