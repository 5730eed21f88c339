"""`/admin/tenants/{id}/settings`: the escalation ladder, the work calendar and the notify chain, with SMS
credentials sealed at rest and never shown again."""

from __future__ import annotations

import json

from storage.models import Tenant


async def _tenant(client, admin_headers, name: str = "华东销售") -> int:
    r = await client.post("/admin/tenants", json={"name": name}, headers=admin_headers)
    return (await r.json())["id"]


ALIYUN = {"provider": "aliyun", "access_key_id": "LTAI5tSettingsKey", "access_key_secret": "very-secret-value-123",
          "sign_name": "领客", "template_code": "SMS_460010001", "params": ["title", "lead", "rep"]}


async def test_sms_secret_is_sealed_and_never_shown(client, admin_headers) -> None:
    tenant_id = await _tenant(client, admin_headers)
    r = await client.patch(f"/admin/tenants/{tenant_id}/settings", headers=admin_headers,
                           json={"notify": {"sms": ALIYUN, "ack_timeout_s": {"chat": 300}}})
    assert r.status == 200, await r.text()
    shown = await r.json()
    assert shown["notify"]["sms"]["secret_set"] is True
    assert "very-secret-value-123" not in json.dumps(shown) and "sealed" not in json.dumps(shown)
    stored = (await Tenant.get(id=tenant_id)).settings
    assert "very-secret-value-123" not in json.dumps(stored, ensure_ascii=False)
    assert stored["notify"]["sms"]["access_key_secret_sealed"].startswith("v1:")

    # the sign name changes, the secret is not sent again: the stored one is kept
    sealed = stored["notify"]["sms"]["access_key_secret_sealed"]
    changed = {k: v for k, v in ALIYUN.items() if k != "access_key_secret"} | {"sign_name": "领客科技"}
    r = await client.patch(f"/admin/tenants/{tenant_id}/settings", headers=admin_headers,
                           json={"notify": {"sms": changed}})
    assert r.status == 200
    assert (await Tenant.get(id=tenant_id)).settings["notify"]["sms"]["access_key_secret_sealed"] == sealed

    # another provider (or key) without its secret cannot work: refused, naming the field
    tencent = {"provider": "tencent", "secret_id": "AKIDx", "sdk_app_id": "1400000001", "sign_name": "领客",
               "template_id": "100001"}
    r = await client.patch(f"/admin/tenants/{tenant_id}/settings", headers=admin_headers,
                           json={"notify": {"sms": tencent}})
    assert r.status == 400 and (await r.json())["field"] == "notify.sms.secret_key"

    r = await client.get(f"/admin/tenants/{tenant_id}/settings", headers=admin_headers)
    assert (await r.json())["notify"]["sms"]["sign_name"] == "领客科技"


async def test_sections_are_validated(client, admin_headers) -> None:
    tenant_id = await _tenant(client, admin_headers)
    url = f"/admin/tenants/{tenant_id}/settings"
    cases = [
        ({"escalation": {"steps": [{"action": "fire_everyone"}]}}, "escalation.steps.0.action"),
        ({"escalation": {"steps": []}}, "escalation.steps"),
        ({"calendar": {"hours": [["09:00", "12:00"], ["11:00", "18:00"]]}}, "calendar.hours"),
        ({"notify": {"chain": ["chat", "chat"]}}, "notify.chain"),
        ({"notify": {"lead_url": "https://crm.example.com/leads"}}, "notify.lead_url"),
        ({"workflow": {"default_deadline_minutes": 0}}, "workflow.default_deadline_minutes"),
        ({"workflow": {"deadline_minutes": {"urgent": 5}}}, "workflow.deadline_minutes.urgent.[key]"),
        ({"lexicon": {}}, "lexicon"),  # has its own route
    ]
    for body, field in cases:
        r = await client.patch(url, json=body, headers=admin_headers)
        assert r.status == 400, body
        assert (await r.json())["field"] == field, body
    assert (await Tenant.get(id=tenant_id)).settings == {}


async def test_replacing_a_section_keeps_the_others(client, admin_headers) -> None:
    tenant_id = await _tenant(client, admin_headers)
    tenant = await Tenant.get(id=tenant_id)
    tenant.settings = {"workflow": {"reps_may_claim_pool": False}, "board": {"digest_time": "08:30"}}
    await tenant.save()
    url = f"/admin/tenants/{tenant_id}/settings"
    body = {"calendar": {"overrides": {"2027-10-01": False}},
            "escalation": {"steps": [{"action": "alert_manager", "delay_minutes": 10}], "stale_after_hours": 48}}
    r = await client.patch(url, json=body, headers=admin_headers)
    assert r.status == 200, await r.text()
    stored = (await Tenant.get(id=tenant_id)).settings
    assert stored["workflow"] == {"reps_may_claim_pool": False} and stored["board"] == {"digest_time": "08:30"}
    assert stored["calendar"]["overrides"] == {"2027-10-01": False}
    shown = await (await client.get(url, headers=admin_headers)).json()
    assert shown["escalation"]["steps"] == [{"action": "alert_manager", "delay_minutes": 10}]
    assert shown["notify"]["chain"] == ["chat", "sms", "email"]  # defaults shown for what was never set


async def test_tenant_scoping(client, admin_headers) -> None:
    mine = await _tenant(client, admin_headers, "甲公司")
    theirs = await _tenant(client, admin_headers, "乙公司")

    async def token(tenant_id: int, scope: str) -> dict[str, str]:
        r = await client.post(f"/admin/tenants/{tenant_id}/tokens", json={"name": "t", "scope": scope},
                              headers=admin_headers)
        return {"Authorization": f"Bearer {(await r.json())['token']}"}

    admin = await token(mine, "admin")
    assert (await client.get(f"/admin/tenants/{mine}/settings", headers=admin)).status == 200
    assert (await client.get(f"/admin/tenants/{theirs}/settings", headers=admin)).status == 404
    r = await client.patch(f"/admin/tenants/{theirs}/settings", json={"notify": {}}, headers=admin)
    assert r.status == 404
    api = await token(mine, "api")
    assert (await client.get(f"/admin/tenants/{mine}/settings", headers=api)).status == 403
    assert (await client.get(f"/admin/tenants/{mine}/settings")).status == 401


async def test_documented_in_the_openapi_document(client, admin_headers) -> None:
    doc = await (await client.get("/admin/openapi.json")).json()
    assert {"get", "patch"} <= set(doc["paths"]["/admin/tenants/{id}/settings"])


async def test_board_section_is_validated(client, admin_headers) -> None:
    tenant_id = await _tenant(client, admin_headers)
    url = f"/admin/tenants/{tenant_id}/settings"
    bad = [({"board": {"digest_time": "9:00"}}, "board.digest_time"),
           ({"board": {"thresholds": {"conv_demo": {"yellow": 0.1, "red": 0.3}}}}, "board.thresholds"),
           ({"board": {"thresholds": {"nonsense": {"yellow": 1, "red": 2}}}}, "board.thresholds.nonsense.[key]")]
    for body, field in bad:
        r = await client.patch(url, json=body, headers=admin_headers)
        assert r.status == 400, body
        assert (await r.json())["field"] == field, (body, await r.json())
    r = await client.patch(url, json={"board": {"digest_time": "08:30", "thresholds": {
        "untouched_24h": {"yellow": 2, "red": 5}}}}, headers=admin_headers)
    assert r.status == 200, await r.text()
    shown = (await r.json())["board"]
    assert shown["digest_time"] == "08:30" and shown["enabled"] is True
    assert shown["thresholds"] == {"untouched_24h": {"yellow": 2.0, "red": 5.0}}


async def test_a_patch_merges_into_the_stored_settings(client, admin_headers) -> None:
    """JSON Merge Patch (RFC 7396, issue 23): switching the SMS provider kept lead_url and ack_timeout_s before."""
    tenant_id = await _tenant(client, admin_headers)
    url = f"/admin/tenants/{tenant_id}/settings"
    first = {"notify": {"sms": ALIYUN, "lead_url": "https://crm.example.com/leads/{lead_id}",
                        "ack_timeout_s": {"chat": 300, "sms": 600}},
             "board": {"thresholds": {"conv_demo": {"yellow": 0.3, "red": 0.1}}}}
    assert (await client.patch(url, json=first, headers=admin_headers)).status == 200

    tencent = {"provider": "tencent", "secret_id": "AKIDnew", "secret_key": "tencent-secret-1", "sdk_app_id": "1400000001",
               "sign_name": "领客", "template_id": "100001"}
    r = await client.patch(url, json={"notify": {"sms": tencent}}, headers=admin_headers)
    assert r.status == 200, await r.text()
    shown = (await r.json())["notify"]
    assert shown["lead_url"] == "https://crm.example.com/leads/{lead_id}"
    assert shown["ack_timeout_s"] == {"chat": 300, "sms": 600}
    assert shown["sms"]["provider"] == "tencent" and "access_key_id" not in shown["sms"]  # replaced whole
    stored = (await Tenant.get(id=tenant_id)).settings["notify"]["sms"]
    assert set(stored) >= {"secret_key_sealed"} and "access_key_secret_sealed" not in stored

    # one key of the same provider's sms: the rest, the sealed secret included, stays
    r = await client.patch(url, json={"notify": {"sms": {"sign_name": "领客科技"}, "ack_timeout_s": {"sms": None}}},
                           headers=admin_headers)
    assert r.status == 200, await r.text()
    shown = (await r.json())["notify"]
    assert shown["sms"]["sign_name"] == "领客科技" and shown["sms"]["secret_set"] is True
    assert shown["sms"]["sdk_app_id"] == "1400000001"
    assert shown["ack_timeout_s"] == {"chat": 300}  # null removed one key

    # null resets a key to its default; a list replaces the stored one
    r = await client.patch(url, json={"notify": {"lead_url": None, "chain": ["sms", "chat"]}}, headers=admin_headers)
    shown = (await r.json())["notify"]
    assert shown["lead_url"] is None and shown["chain"] == ["sms", "chat"] and shown["sms"]["secret_set"]
    board = (await (await client.get(url, headers=admin_headers)).json())["board"]
    assert board["thresholds"] == {"conv_demo": {"yellow": 0.3, "red": 0.1}}  # untouched by the notify patches


async def test_a_patch_cannot_plant_a_sealed_secret_or_an_unknown_section(client, admin_headers) -> None:
    tenant_id = await _tenant(client, admin_headers)
    url = f"/admin/tenants/{tenant_id}/settings"
    planted = {k: v for k, v in ALIYUN.items() if k != "access_key_secret"} | {"access_key_secret_sealed": "v1:x"}
    cases = [({"notify": {"sms": planted}}, "notify.sms.access_key_secret_sealed"),
             ({"notfy": {}}, "notfy"), ({"notify": ["chat"]}, "notify")]
    for body, field in cases:
        r = await client.patch(url, json=body, headers=admin_headers)
        assert (r.status, (await r.json()).get("field")) == (400, field), body
    r = await client.patch(url, data=b"[]", headers=admin_headers | {"Content-Type": "application/json"})
    assert r.status == 400
    assert (await Tenant.get(id=tenant_id)).settings == {}


async def test_a_secret_that_is_not_a_short_string_is_refused(client, admin_headers) -> None:
    tenant_id = await _tenant(client, admin_headers)
    url = f"/admin/tenants/{tenant_id}/settings"
    for secret in (12345, "x" * 257, ""):
        r = await client.patch(url, json={"notify": {"sms": ALIYUN | {"access_key_secret": secret}}},
                               headers=admin_headers)
        assert (r.status, (await r.json())["field"]) == (400, "notify.sms.access_key_secret"), secret
    assert (await Tenant.get(id=tenant_id)).settings == {}
