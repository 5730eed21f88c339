"""The admin API: apps and users of one or many tenants, behind a token, with clear answers to bad input."""

from __future__ import annotations

import json

import pytest
from tortoise import connections

from storage.models import App, Tenant, User
from tests.support.people import user_by

WECOM = {
    "corp_id": "wx5823bf96d3bd56c7", "agent_id": 1000002, "secret": "wecom-app-secret-value-0001",
    "token": "QDG6eK", "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
}
DINGTALK = {"app_key": "dingabcdef123", "app_secret": "dingtalk-app-secret-value-0002"}


async def _tenant(client, headers, name="Acme") -> int:
    r = await client.post("/admin/tenants", json={"name": name}, headers=headers)
    assert r.status == 201
    return (await r.json())["id"]


async def _token(client, headers, tenant_id: int, scope="admin") -> dict[str, str]:
    r = await client.post(f"/admin/tenants/{tenant_id}/tokens", json={"name": "t", "scope": scope}, headers=headers)
    assert r.status == 201
    return {"Authorization": f"Bearer {(await r.json())['token']}"}


async def _counts() -> tuple[int, int, int]:
    return await Tenant.all().count(), await App.all().count(), await User.all().count()


async def test_register_wecom_app_returns_callback_url_and_hides_secrets(client, admin_headers) -> None:
    tid = await _tenant(client, admin_headers)
    r = await client.post("/admin/apps", headers=admin_headers,
                          json={"tenant_id": tid, "platform": "wecom", "name": "sales", "credentials": WECOM})
    assert r.status == 201
    body = await r.json()
    assert body["callback_urls"] == {"callback": f"https://leadbot.test/wecom/{body['id']}/callback"}
    assert body["public"] == {"corp_id": WECOM["corp_id"], "agent_id": WECOM["agent_id"]}
    assert body["secrets_set"] == ["encoding_aes_key", "secret", "token"]
    text = json.dumps(body)
    for secret in (WECOM["secret"], WECOM["encoding_aes_key"]):
        assert secret not in text
    r = await client.get(f"/admin/apps/{body['id']}", headers=admin_headers)
    assert WECOM["secret"] not in await r.text()


async def test_app_secret_unreadable_in_the_database(client, admin_headers, settings) -> None:
    tid = await _tenant(client, admin_headers)
    r = await client.post("/admin/apps", headers=admin_headers,
                          json={"tenant_id": tid, "platform": "dingtalk", "name": "dt", "credentials": DINGTALK})
    assert r.status == 201
    rows = await connections.get("default").execute_query_dict("SELECT * FROM apps")
    dump = json.dumps(rows, default=str)
    assert DINGTALK["app_secret"] not in dump
    assert rows[0]["secrets_sealed"].startswith("v1:")
    if not settings.database_url:  # SQLite: not in the file either (WAL included)
        for path in settings.data_dir.glob("leadbot.sqlite3*"):
            assert DINGTALK["app_secret"].encode() not in path.read_bytes()


@pytest.mark.parametrize(("payload", "field"), [
    ({"platform": "wecom", "name": "x", "credentials": {**WECOM, "encoding_aes_key": "short"}},
     "wecom.credentials.encoding_aes_key"),
    ({"platform": "wecom", "name": "x", "credentials": {**WECOM, "agent_id": "abc"}}, "wecom.credentials.agent_id"),
    ({"platform": "wecom", "name": "x", "credentials": {k: v for k, v in WECOM.items() if k != "secret"}},
     "wecom.credentials.secret"),
    ({"platform": "teams", "name": "x", "credentials": {}}, ""),
    ({"platform": "dingtalk", "name": "x", "credentials": {**DINGTALK, "event_token": "t"}}, "dingtalk.credentials"),
    ({"platform": "dingtalk", "name": "x", "api_base": "file:///etc/passwd", "credentials": DINGTALK}, "api_base"),
    ({"platform": "dingtalk", "name": "x", "api_base": "gopher://h/", "credentials": DINGTALK}, "api_base"),
    ({"platform": "dingtalk", "name": "", "credentials": DINGTALK}, "dingtalk.name"),
    ({"platform": "dingtalk", "name": "x", "credentials": DINGTALK, "extra": 1}, "dingtalk.extra"),
])
async def test_invalid_app_is_400_with_field_and_writes_nothing(client, admin_headers, payload, field) -> None:
    tid = await _tenant(client, admin_headers)
    before = await _counts()
    r = await client.post("/admin/apps", headers=admin_headers, json={"tenant_id": tid, **payload})
    assert r.status == 400
    body = await r.json()
    assert body["error"] == "invalid"
    assert (body.get("field") or "").startswith(field)
    assert await _counts() == before


async def test_duplicate_app_is_409(client, admin_headers) -> None:
    tid = await _tenant(client, admin_headers)
    payload = {"tenant_id": tid, "platform": "wecom", "name": "a", "credentials": WECOM}
    assert (await client.post("/admin/apps", headers=admin_headers, json=payload)).status == 201
    r = await client.post("/admin/apps", headers=admin_headers, json={**payload, "name": "b"})
    assert r.status == 409
    assert await App.all().count() == 1


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401),
    ({"Authorization": "Bearer wrong-token"}, 401),
    ({"Authorization": "Basic dGVzdDp0ZXN0"}, 401),
    ({"Authorization": "Bearer "}, 401),
])
async def test_missing_or_wrong_token_is_401_and_writes_nothing(client, headers, status) -> None:
    r = await client.post("/admin/tenants", json={"name": "X"}, headers=headers)
    assert r.status == status
    assert await Tenant.all().count() == 0
    assert (await client.get("/admin/apps", headers=headers)).status == status


async def test_malformed_json_oversized_body_and_unknown_id(client, admin_headers, settings) -> None:
    r = await client.post("/admin/tenants", data=b"{not json", headers=admin_headers)
    assert (r.status, (await r.json())["error"]) == (400, "malformed_json")
    big = json.dumps({"name": "x" * (settings.max_body_bytes + 10)})
    r = await client.post("/admin/tenants", data=big, headers=admin_headers)
    assert r.status == 413
    assert (await client.get("/admin/apps/999", headers=admin_headers)).status == 404
    assert (await client.get("/admin/users/abc", headers=admin_headers)).status == 400
    assert await Tenant.all().count() == 0


async def test_tenant_token_sees_only_its_tenant(client, admin_headers) -> None:
    a, b = await _tenant(client, admin_headers, "A"), await _tenant(client, admin_headers, "B")
    r = await client.post("/admin/apps", headers=admin_headers,
                          json={"tenant_id": b, "platform": "wecom", "name": "b-app", "credentials": WECOM})
    b_app = (await r.json())["id"]
    r = await client.post("/admin/users", headers=admin_headers, json={"tenant_id": b, "name": "B rep"})
    b_user = (await r.json())["id"]
    a_headers = await _token(client, admin_headers, a)

    assert await (await client.get("/admin/apps", headers=a_headers)).json() == []
    assert (await client.get(f"/admin/apps/{b_app}", headers=a_headers)).status == 404
    assert (await client.get(f"/admin/users/{b_user}", headers=a_headers)).status == 404
    assert (await client.patch(f"/admin/users/{b_user}", json={"name": "pwned"}, headers=a_headers)).status == 404
    assert (await client.post(f"/admin/apps/{b_app}/disable", headers=a_headers)).status == 404
    assert (await client.get(f"/admin/tenants/{b}", headers=a_headers)).status == 404
    r = await client.post("/admin/users", headers=a_headers, json={"tenant_id": b, "name": "sneaky"})
    assert r.status == 404
    assert (await User.get(id=b_user)).name == "B rep"
    assert await User.filter(tenant_id=b).count() == 1
    # its own tenant works without naming it
    r = await client.post("/admin/users", headers=a_headers, json={"name": "A rep"})
    assert r.status == 201 and (await r.json())["tenant_id"] == a
    # an api-scope token may not use the admin API at all
    api_headers = await _token(client, admin_headers, a, scope="api")
    assert (await client.get("/admin/apps", headers=api_headers)).status == 403
    # and only the operator creates tenants
    assert (await client.post("/admin/tenants", json={"name": "C"}, headers=a_headers)).status == 403


async def test_users_crud_normalises_and_validates(client, admin_headers) -> None:
    tid = await _tenant(client, admin_headers)
    r = await client.post("/admin/users", headers=admin_headers,
                          json={"tenant_id": tid, "name": "王经理", "role": "manager", "wecom_userid": "wangjl",
                                "phone": "138 0013 8000", "email": "Wang@Example.com"})
    assert r.status == 201
    manager = await r.json()
    assert manager["phone"] == "+8613800138000"
    r = await client.post("/admin/users", headers=admin_headers,
                          json={"tenant_id": tid, "name": "李销售", "manager_id": manager["id"],
                                "wecom_userid": "lixs", "industries": ["制造", "能源"]})
    rep = await r.json()
    assert rep["manager_id"] == manager["id"]
    # a rep cannot manage; a management loop is refused; duplicates are 409
    r = await client.patch(f"/admin/users/{manager['id']}", json={"manager_id": rep["id"]}, headers=admin_headers)
    assert r.status == 400 and (await r.json())["field"] == "manager_id"
    r = await client.post("/admin/users", headers=admin_headers,
                          json={"tenant_id": tid, "name": "dup", "wecom_userid": "lixs"})
    assert r.status == 409
    r = await client.post("/admin/users", headers=admin_headers,
                          json={"tenant_id": tid, "name": "bad", "phone": "12345"})
    assert r.status == 400 and (await r.json())["field"] == "phone"
    # a landline is a valid number, but alerts are texted to this one (issue 23)
    r = await client.post("/admin/users", headers=admin_headers,
                          json={"tenant_id": tid, "name": "前台", "phone": "021-62345678"})
    answer = await r.json()
    assert (r.status, answer["field"]) == (400, "phone") and "mobile" in answer["message"]
    r = await client.patch(f"/admin/users/{rep['id']}", json={"phone": "021-62345678"}, headers=admin_headers)
    assert r.status == 400 and (await r.json())["field"] == "phone"
    r = await client.post(f"/admin/users/{rep['id']}/disable", headers=admin_headers)
    assert (await r.json())["active"] is False
    r = await client.get("/admin/users", params={"active": "false"}, headers=admin_headers)
    assert [u["id"] for u in await r.json()] == [rep["id"]]


async def test_csv_import_reports_each_bad_row(client, admin_headers) -> None:
    tid = await _tenant(client, admin_headers)
    csv = (
        "\ufeffname,role,manager,wecom_userid,phone,email,industries\n"
        "王经理,manager,,wangjl,13800138000,wang@example.com,制造;能源\n"
        "李销售,rep,wangjl,lixs,13900139000,,制造\n"
        "坏电话,rep,,badphone,12345,,\n"
        "没经理,rep,nobody,nomgr,,,\n"
        ",rep,,noname,,,\n"
    )
    r = await client.post(f"/admin/tenants/{tid}/users/import", data=csv.encode(), headers=admin_headers)
    report = await r.json()
    assert (report["created"], report["updated"]) == (2, 0)
    assert [(e["row"], e["field"]) for e in report["errors"]] == [(4, "phone"), (5, "manager"), (6, "name")]
    li = await user_by(wecom_userid="lixs")
    assert li.manager_id == (await user_by(wecom_userid="wangjl")).id
    # importing again updates rather than duplicates
    r = await client.post(f"/admin/tenants/{tid}/users/import", data=csv.encode(), headers=admin_headers)
    assert (await r.json())["updated"] == 2
    assert await User.all().count() == 2


async def test_openapi_document_lists_the_admin_routes(client) -> None:
    doc = await (await client.get("/admin/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    for path in ("/admin/apps", "/admin/apps/{id}", "/admin/users", "/admin/tenants"):
        assert path in doc["paths"]
    post = doc["paths"]["/admin/apps"]["post"]
    assert {"201", "400", "401", "409", "413"} <= set(post["responses"])
    assert "WeComAppIn" in doc["components"]["schemas"]


