"""Issue 19: directory sync from WeCom's department/list + user/list (on the simulator), and `users import`
refusing a file that names a user id twice."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from storage.models import Tenant, User
from tests.e2e_wecom.support import AGENT_ID, SECRET, register_wecom_app
from tests.e2e_wecom.test_app_verify import _leadbot
from tests.sim.wecom import WeComSimulator
from tests.support.people import by_outside_id, make_user, user_by


@pytest.fixture
async def sim() -> AsyncIterator[WeComSimulator]:
    async with WeComSimulator() as sim:
        sim.add_app(AGENT_ID, SECRET, {"wangjl", "li1", "zhao2"})
        sim.add_department(1, "公司", 0, leaders=["boss"])
        sim.add_department(2, "华东销售", 1, leaders=["wangjl"])
        sim.add_person("boss", "老板", [1], leader_in={1})
        sim.add_person("wangjl", "王经理", [2], mobile="13800138000", leader_in={2})
        sim.add_person("li1", "李一", [2], mobile="13900139001")
        sim.add_person("zhao2", "赵二", [2], status=5)  # left the company
        yield sim


async def _app(services, sim) -> tuple[int, int]:
    tenant = await Tenant.create(name="目录")
    return tenant.id, await register_wecom_app(services, tenant.id, corp_id=sim.corp_id, api_base=sim.url)


async def _sync(client, headers, app_id: int, apply: bool) -> dict:
    r = await client.post(f"/admin/apps/{app_id}/directory/sync", headers=headers, json={"apply": apply})
    assert r.status == 200, await r.text()
    return await r.json()


async def test_a_dry_run_shows_the_diff_and_changes_nothing(client, admin_headers, services, sim) -> None:
    tenant_id, app_id = await _app(services, sim)
    body = await _sync(client, admin_headers, app_id, apply=False)
    assert body["dry_run"] is True
    assert sorted(c["user_id"] for c in body["added"]) == ["boss", "li1", "wangjl"]  # not the one who left
    assert await User.filter(tenant_id=tenant_id).count() == 0


async def test_sync_adds_maps_managers_changes_and_deactivates(client, admin_headers, services, sim) -> None:
    tenant_id, app_id = await _app(services, sim)
    await _sync(client, admin_headers, app_id, apply=True)
    users = await by_outside_id(tenant_id, "wecom_userid")
    assert set(users) == {"boss", "li1", "wangjl"}
    assert users["li1"].manager_id == users["wangjl"].id  # the department's leader
    assert users["wangjl"].manager_id == users["boss"].id  # a leader's manager: the leader above
    assert users["li1"].phone == "+8613900139001" and users["li1"].name == "李一"

    sim.people["li1"].name = "李一新"
    sim.people["wangjl"].status = 5  # left
    body = await _sync(client, admin_headers, app_id, apply=False)
    assert [(c["user_id"], c["fields"]["name"]["to"]) for c in body["changed"]] == [("li1", "李一新")]
    assert [c["user_id"] for c in body["deactivated"]] == ["wangjl"]
    assert (await User.get(id=users["li1"].id)).name == "李一"  # the dry run changed nothing
    await _sync(client, admin_headers, app_id, apply=True)
    assert (await User.get(id=users["li1"].id)).name == "李一新"
    assert (await User.get(id=users["wangjl"].id)).active is False

    del sim.people["boss"]  # gone from the directory altogether
    body = await _sync(client, admin_headers, app_id, apply=True)
    assert [c["user_id"] for c in body["deactivated"]] == ["boss"]
    assert (await User.get(id=users["boss"].id)).active is False


async def test_a_field_set_by_hand_is_kept_and_reported(client, admin_headers, services, sim) -> None:
    tenant_id, app_id = await _app(services, sim)
    await _sync(client, admin_headers, app_id, apply=True)
    li = await user_by(tenant_id, wecom_userid="li1")
    r = await client.patch(f"/admin/users/{li.id}", headers=admin_headers, json={"name": "小李"})
    assert r.status == 200
    sim.people["li1"].name = "李一新"
    body = await _sync(client, admin_headers, app_id, apply=True)
    assert body["changed"] == [] and body["skipped"][0]["user_id"] == "li1"
    assert body["skipped"][0]["skipped"] == ["name"]
    assert (await User.get(id=li.id)).name == "小李"


async def test_a_user_added_by_hand_outside_the_directory_is_not_deactivated(client, admin_headers, services,
                                                                             sim) -> None:
    tenant_id, app_id = await _app(services, sim)
    await make_user(tenant_id=tenant_id, name="外包", wecom_userid="contractor")
    body = await _sync(client, admin_headers, app_id, apply=True)
    assert body["deactivated"] == []
    assert (await user_by(wecom_userid="contractor")).active is True


async def test_directory_refused_is_a_424_naming_the_code(client, admin_headers, services, sim) -> None:
    _, app_id = await _app(services, sim)
    sim.apps[AGENT_ID].contacts_readable = False
    r = await client.post(f"/admin/apps/{app_id}/directory/sync", headers=admin_headers, json={})
    assert r.status == 424 and "48002" in (await r.json())["message"]


async def test_an_import_naming_a_user_id_twice_imports_nothing(client, admin_headers) -> None:
    tenant = await Tenant.create(name="导入")
    csv = "name,role,wecom_userid\n张三,rep,zs\n李四,rep,ls\n张三丰,rep,zs\n"
    r = await client.post(f"/admin/tenants/{tenant.id}/users/import", headers=admin_headers, data=csv.encode())
    body = await r.json()
    assert body["created"] == 0 and body["errors"][0]["row"] == 4 and body["errors"][0]["field"] == "wecom_userid"
    assert await User.filter(tenant_id=tenant.id).count() == 0


async def test_the_cli_import_dry_run_stores_nothing_and_sync_dry_runs(services, sim, tmp_path) -> None:
    tenant_id, app_id = await _app(services, sim)
    path = tmp_path / "users.csv"
    path.write_text("name,role,wecom_userid\n张三,rep,zs\n", encoding="utf-8")
    code, out, err = await _leadbot(services.settings, "users", "import", str(path), "--tenant", str(tenant_id),
                                    "--dry-run")
    assert code == 0, err
    assert "dry run" in out and "created 1" in out
    assert await User.filter(tenant_id=tenant_id).count() == 0
    path.write_text("name,role,wecom_userid\n张三,rep,zs\n张三丰,rep,zs\n", encoding="utf-8")
    code, out, err = await _leadbot(services.settings, "users", "import", str(path), "--tenant", str(tenant_id))
    assert code == 1 and "line 3" in err
    code, out, err = await _leadbot(services.settings, "directory", "sync", str(app_id))
    assert code == 0, err
    assert '"dry_run": true' in out and "wangjl" in out
    assert await User.filter(tenant_id=tenant_id).count() == 0
    code, out, err = await _leadbot(services.settings, "tenants", "tokens", str(tenant_id))
    assert code == 0 and out.strip() == "[]"


async def test_the_scheduled_sync_runs_only_at_its_hour_and_is_off_by_default(services, sim) -> None:
    import dataclasses
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.jobs.directory import sync_directories

    tenant_id, _ = await _app(services, sim)
    assert services.settings.directory_sync_hour is None
    await sync_directories.coroutine({"services": services})
    assert await User.filter(tenant_id=tenant_id).count() == 0  # off by default

    hour = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).hour
    other = dataclasses.replace(services, settings=services.settings.model_copy(
        update={"directory_sync_hour": (hour + 12) % 24}))
    await sync_directories.coroutine({"services": other})
    assert await User.filter(tenant_id=tenant_id).count() == 0  # not its hour

    due = dataclasses.replace(services, settings=services.settings.model_copy(update={"directory_sync_hour": hour}))
    await sync_directories.coroutine({"services": due})
    assert await User.filter(tenant_id=tenant_id).count() == 3


async def test_a_user_an_admin_disabled_is_not_switched_back_on(client, admin_headers, services, sim) -> None:
    tenant_id, app_id = await _app(services, sim)
    await _sync(client, admin_headers, app_id, apply=True)
    li = await user_by(tenant_id, wecom_userid="li1")
    r = await client.post(f"/admin/users/{li.id}/disable", headers=admin_headers, json={})
    assert r.status == 200
    body = await _sync(client, admin_headers, app_id, apply=True)
    assert (await User.get(id=li.id)).active is False
    assert [c["skipped"] for c in body["skipped"] if c["user_id"] == "li1"] == [["active"]]
