"""Admin and lead API input that tries to be something else: SQL in every free-text field, and `api_base` values
that point at non-HTTP schemes. SQL is stored verbatim and changes nothing else; a bad scheme is a 400 naming the
field and writes nothing."""

from __future__ import annotations

import pytest

from tests.hostile.support import assert_serving, assert_unchanged, state

SQL = [
    "'; DROP TABLE lead; --",
    "1' OR '1'='1",
    "Robert'); DELETE FROM tenant WHERE ('1'='1",
    "x\\'; SELECT pg_sleep(5); --",
    "%' UNION SELECT token_sha256 FROM apitoken --",
    '"; UPDATE app SET status=\'disabled\'; --',
]
WECOM_CREDS = {"corp_id": "wwhostile0001", "agent_id": 1000002, "secret": "s" * 20, "token": "tok3nHostile",
               "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}


async def _ok(r, status: int = 200) -> dict:
    assert r.status == status, await r.text()
    return await r.json()


@pytest.mark.parametrize("sql", SQL)
async def test_sql_in_every_admin_field_is_stored_verbatim_and_changes_nothing_else(sql: str, client, admin_headers,
                                                                                    services) -> None:
    h = admin_headers
    base = await _ok(await client.post("/admin/tenants", json={"name": "基线公司"}, headers=h), 201)
    before = await state(services)
    tenant = await _ok(await client.post("/admin/tenants", json={"name": sql}, headers=h), 201)
    tid = tenant["id"]
    token = await _ok(await client.post(f"/admin/tenants/{tid}/tokens", json={"name": sql}, headers=h), 201)
    app = await _ok(await client.post("/admin/apps", headers=h, json={
        "tenant_id": tid, "platform": "wecom", "name": sql, "credentials": WECOM_CREDS}), 201)
    user = await _ok(await client.post("/admin/users", headers=h, json={
        "tenant_id": tid, "name": sql, "region": sql[:64], "industries": [sql[:64]]}), 201)
    rule = await _ok(await client.post(f"/admin/tenants/{tid}/rules", headers=h, json={
        "name": sql, "regions": [sql[:32]], "industries": [sql[:32]], "sources": [sql[:32]],
        "tags_any": [sql[:32]]}), 201)
    lead = await _ok(await client.post("/api/leads", headers=h, json={
        "tenant_id": tid, "external_id": sql, "company": sql, "contact_name": sql, "source": sql, "region": sql,
        "industry": sql, "tags": [sql[:32]]}), 201)

    # Read back exactly as sent.
    assert (await _ok(await client.get(f"/admin/tenants/{tid}", headers=h)))["name"] == sql
    assert [t["name"] for t in await _ok(await client.get(f"/admin/tenants/{tid}/tokens", headers=h))] == [sql]
    assert (await _ok(await client.get(f"/admin/apps/{app['id']}", headers=h)))["name"] == sql
    shown = await _ok(await client.get(f"/admin/users/{user['id']}", headers=h))
    assert (shown["name"], shown["region"], shown["industries"]) == (sql, sql[:64], [sql[:64]])
    (stored_rule,) = await _ok(await client.get(f"/admin/tenants/{tid}/rules", headers=h))
    assert (stored_rule["id"], stored_rule["name"]) == (rule["id"], sql)
    shown = await _ok(await client.get(f"/api/leads/{lead['id']}", params={"tenant_id": tid}, headers=h))
    assert {k: shown[k] for k in ("external_id", "company", "contact_name", "source", "region", "industry")} == \
        dict.fromkeys(("external_id", "company", "contact_name", "source", "region", "industry"), sql)
    # The same external id again is the same lead, found by the SQL-looking value itself.
    again = await client.post("/api/leads", headers=h, json={"tenant_id": tid, "external_id": sql, "company": "x"})
    assert again.status == 200 and (await again.json())["id"] == lead["id"]
    # The token works and sees only its tenant.
    mine = await _ok(await client.get("/api/leads", headers={"Authorization": f"Bearer {token['token']}"}))
    items = mine["items"] if isinstance(mine, dict) else mine
    assert [x["id"] for x in items] == [lead["id"]]

    # Nothing else changed: one more row in each table written to, none gone anywhere, the other tenant intact.
    after = await state(services)
    for table in ("tenants", "api_tokens", "apps", "users", "routing_rules", "leads"):
        assert after.rows[table] == before.rows[table] + 1, table
    assert all(after.rows[t] >= n for t, n in before.rows.items())
    assert (await _ok(await client.get(f"/admin/tenants/{base['id']}", headers=h)))["name"] == "基线公司"
    assert (await _ok(await client.get(f"/admin/apps/{app['id']}", headers=h)))["status"] == "active"
    await assert_serving(client)


@pytest.mark.parametrize("sql", SQL[:3])
async def test_sql_in_query_parameters_is_refused_or_matches_nothing(sql: str, client, admin_headers,
                                                                     services) -> None:
    before = await state(services)
    for path in ("/admin/apps", "/admin/users", "/api/leads", "/admin/tenants"):
        for name in ("tenant_id", "status", "platform", "role", "active", "limit"):
            r = await client.get(path, params={name: sql}, headers=admin_headers)
            assert r.status in (200, 400), (path, name, r.status)
            if r.status == 400:
                assert (await r.json())["field"] == name
    await assert_unchanged(services, before)
    await assert_serving(client)


NON_HTTP = ["file:///etc/passwd", "gopher://127.0.0.1:6379/_FLUSHALL", "ftp://example.com/x",
            "javascript:alert(1)", "data:text/plain,hi", "dict://127.0.0.1:11211/stat", "ldap://x/y", "//example.com",
            "example.com", "http:///nohost", "http://user:pass@example.com"]


@pytest.mark.parametrize("api_base", NON_HTTP)
async def test_api_base_that_is_not_plain_http_is_refused_everywhere(api_base: str, client, admin_headers,
                                                                     services) -> None:
    h = admin_headers
    tenant = await _ok(await client.post("/admin/tenants", json={"name": "Acme"}, headers=h), 201)
    app = await _ok(await client.post("/admin/apps", headers=h, json={
        "tenant_id": tenant["id"], "platform": "wecom", "name": "ok", "credentials": WECOM_CREDS}), 201)
    before = await state(services)
    attempts = [
        client.post("/admin/apps", headers=h, json={
            "tenant_id": tenant["id"], "platform": "dingtalk", "name": "x", "api_base": api_base,
            "credentials": {"app_key": "dingkey01", "app_secret": "s" * 16}}),
        client.patch(f"/admin/apps/{app['id']}", headers=h, json={"api_base": api_base}),
        client.patch(f"/admin/tenants/{tenant['id']}/settings", headers=h, json={"notify": {"sms": {
            "provider": "aliyun", "access_key_id": "LTAI0000", "access_key_secret": "s" * 16, "sign_name": "领客",
            "template_code": "SMS_1", "api_base": api_base}}}),
    ]
    for attempt in attempts:
        r = await attempt
        body = await r.json()
        assert r.status == 400, body
        assert body["field"] in ("api_base", "notify.sms.api_base"), body
    shown = await _ok(await client.get(f"/admin/apps/{app['id']}", headers=h))
    assert shown["api_base"] is None
    await assert_unchanged(services, before)
    await assert_serving(client)


async def test_the_nul_character_is_refused_with_400_on_both_backends(client, admin_headers, services) -> None:
    """PostgreSQL's text cannot hold U+0000 (schemathesis found the 500 it made): JSON bodies, query strings and
    CSV imports that carry one are refused with a 400 before anything is written, on SQLite alike."""
    h = admin_headers
    before = await state(services)
    r = await client.post("/admin/tenants", json={"name": "公司\u0000"}, headers=h)
    assert r.status == 400 and "U+0000" in (await r.json())["message"]
    r = await client.post("/admin/tenants", json={"name": "x", "settings\u0000": {}}, headers=h)
    assert r.status == 400
    r = await client.get("/admin/users", params={"tenant_id": "1", "role": "rep\u0000"}, headers=h)
    assert r.status == 400 and "U+0000" in (await r.json())["message"]
    tenant = await _ok(await client.post("/admin/tenants", json={"name": "导入公司"}, headers=h), 201)
    csv = "name,phone\n张三\u0000,13800138000\n".encode()
    r = await client.post(f"/admin/tenants/{tenant['id']}/users/import", data=csv, headers={
        **h, "Content-Type": "text/csv"})
    assert r.status == 400, await r.text()
    assert (await state(services)).rows["users"] == before.rows["users"]
    # A backslash followed by u0000 as plain text is not a NUL: stored as sent.
    literal = await _ok(await client.post("/admin/tenants", json={"name": "a\\u0000b"}, headers=h), 201)
    assert literal["name"] == "a\\u0000b"
