"""The platform table of the wiring: each platform is one object, and everything generic is made from the table."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiohttp import web
from click.testing import CliRunner
from pydantic import ValidationError

from bot.admin.schemas import AppIn, AppQuery
from bot.cli import main
from bot.platforms import registry
from bot.runtime import wiring
from bot.runtime.appkeys import SERVICES
from bot.runtime.config import Settings

PLATFORMS = [p.name for p in wiring.PLATFORMS]


def test_the_registry_holds_the_wiring_table_in_order() -> None:
    assert registry.names() == tuple(PLATFORMS)
    assert PLATFORMS[:2] == ["wecom", "dingtalk"]
    with pytest.raises(LookupError):
        registry.get("nosuchplatform")


@pytest.mark.parametrize("name", PLATFORMS)
def test_each_callback_url_is_served_by_the_platform_routes(name: str) -> None:
    platform = registry.get(name)
    app = web.Application()
    # What the routes' set-up reads of the process (no server runs here).
    app[SERVICES] = SimpleNamespace(settings=Settings(), queue=None)  # type: ignore[misc]
    assert platform.routes is not None
    platform.routes(app)
    served = {r.resource.canonical.replace("{app_id}", "7") for r in app.router.routes() if r.resource is not None}
    urls = platform.callback_urls("", 7)
    assert urls
    assert set(urls.values()) <= served


@pytest.mark.parametrize("name", PLATFORMS)
def test_the_cli_has_an_add_command_per_platform(name: str) -> None:
    out = CliRunner().invoke(main, ["apps", "add", name, "--help"])
    assert out.exit_code == 0, out.output
    assert "--tenant" in out.output and "--api-base" in out.output


def test_an_app_of_another_platform_is_refused_naming_the_platform() -> None:
    with pytest.raises(ValidationError) as e:
        AppIn.model_validate({"platform": "nosuchplatform", "name": "x", "credentials": {}})
    assert e.value.errors()[0]["type"] == "union_tag_invalid"
    with pytest.raises(ValidationError) as e:
        AppQuery.model_validate({"platform": "nosuchplatform"})
    assert e.value.errors()[0]["loc"] == ("platform",)
    assert AppQuery.model_validate({"platform": PLATFORMS[-1]}).platform == PLATFORMS[-1]


def test_a_persons_id_on_each_platform_is_named_by_the_platform() -> None:
    """Each platform's outside id field (`user_id_field`) is where a person's id on it goes in and out: the mapping
    the CSV, console and CLI read, and the user schemas, after `manager_id` in the table's order."""
    from bot.admin import platform_ids
    from bot.admin.schemas import UserIn, UserOut, UserPatch

    fields = [p.user_id_field for p in wiring.PLATFORMS]
    assert platform_ids.EXTERNAL_FIELDS == {p.name: p.user_id_field for p in wiring.PLATFORMS}
    assert fields[:2] == ["wecom_userid", "dingtalk_staff_id"]
    for model in (UserIn, UserPatch, UserOut):
        names = list(model.model_fields)
        at = names.index("manager_id") + 1
        assert names[at:at + len(fields)] == fields, model.__name__
    person = UserIn.model_validate({"name": "张三", **{f: f"id-{i}" for i, f in enumerate(fields)}})
    assert [getattr(person, f) for f in fields] == [f"id-{i}" for i in range(len(fields))]
    with pytest.raises(ValidationError):
        UserIn.model_validate({"name": "张三", fields[-1]: "has spaces"})


# Credentials each platform's app schema accepts (no call is made with them).
_CREDENTIALS = {
    "wecom": {"corp_id": "wwcorp", "agent_id": 1000002, "secret": "wecom-secret-0001", "token": "tok",
              "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"},
    "dingtalk": {"app_key": "dingkey01", "app_secret": "s" * 16},
}


@pytest.mark.parametrize("name", PLATFORMS)
async def test_a_callback_to_another_platforms_app_is_refused_without_effect(name: str, client, admin_headers,
                                                                             services) -> None:
    """Every callback route of a platform looks the app up first: another platform's app id is a 404 naming the
    mismatch (`wrong_platform`), whatever the body, and nothing is queued."""
    from storage import redis_keys

    other = "dingtalk" if name != "dingtalk" else "wecom"
    tenant = await client.post("/admin/tenants", headers=admin_headers, json={"name": "跨平台"})
    assert tenant.status in (200, 201), await tenant.text()
    r = await client.post("/admin/apps", headers=admin_headers, json={
        "tenant_id": (await tenant.json())["id"], "platform": other, "name": other,
        "credentials": _CREDENTIALS[other]})
    assert r.status in (200, 201), await r.text()
    app_id = (await r.json())["id"]
    for url in registry.get(name).callback_urls("", app_id).values():
        refused = await client.post(url, data=b'{"hello": "world"}', headers={"Content-Type": "application/json"})
        assert refused.status == 404, (url, await refused.text())
        assert (await refused.json())["error"] == "wrong_platform", url
    assert await services.redis.keys(redis_keys.DEDUP + "*") == [] and await services.queue.depth() == 0
