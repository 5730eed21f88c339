"""Signing in to the console from a test (as a browser would: the form, its cookies, its CSRF fields)."""

from __future__ import annotations

import re
import secrets

from aiohttp.test_utils import TestClient

from handlers.auth import token_digest
from storage.models import ApiToken, Tenant, TokenScope

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def admin_token(tenant: Tenant, scope: TokenScope = TokenScope.ADMIN) -> tuple[ApiToken, str]:
    """A tenant token, as `POST /admin/tenants/{id}/tokens` makes one."""
    token = "lbt_" + secrets.token_urlsafe(24)
    row = await ApiToken.create(tenant=tenant, name="控制台测试", scope=scope, token_sha256=token_digest(token))
    return row, token


async def sign_in(client: TestClient, token: str) -> str:
    """Sign in with `token` through the login form; the path the console sent us to."""
    form = await client.get("/console/login")
    pre = re.search(r'name="pre" value="([^"]+)"', await form.text())
    assert pre is not None
    response = await client.post("/console/login", data={"pre": pre.group(1), "token": token},
                                 allow_redirects=False)
    assert response.status == 303, await response.text()
    return response.headers["Location"]


async def csrf_of(client: TestClient, path: str) -> str:
    """The session's CSRF token, from a form on `path`."""
    found = CSRF.search(await (await client.get(path)).text())
    assert found is not None
    return found.group(1)
