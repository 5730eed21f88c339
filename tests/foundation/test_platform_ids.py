"""Issue #20: platform user ids in a table of their own (person, platform, id), not a column per platform."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.admin import platform_ids
from bot.admin import users as user_ops
from bot.admin.schemas import UserIn, UserPatch
from bot.errors import Conflict
from storage.models import Tenant, User, UserPlatformId
from tests.foundation.test_migrations import _scratch_database


def test_the_migration_copies_each_persons_ids_and_keeps_everything_else(settings) -> None:
    """A database of the release before, with ids in both columns (one person with two, one with none, an empty
    one, the same id in two tenants), upgrades to head: the ids are rows of the new table, the people, their
    managers, their leads and alerts are all still there, and a new person does not reuse a deleted one's id."""
    script = Path(__file__).with_name("platform_ids_upgrade.py")
    out = subprocess.run([sys.executable, str(script), _scratch_database(settings, "pid") or ""],
                         capture_output=True, text=True, timeout=180, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["ids"] == [[1, 1, "dingtalk", "ding-wang"], [1, 1, "wecom", "wang"], [1, 2, "wecom", "zhang"],
                             [1, 3, "dingtalk", "ding-li"], [2, 6, "wecom", "zhang"]]
    kept = {"industries": ["制造"], "hand_set": ["name"], "phone": "+8613800138000"}
    assert result["users"] == {"王经理": {"manager_id": None, **kept}, "张三": {"manager_id": 1, **kept},
                               "李四": {"manager_id": 1, **kept}, "赵六": {"manager_id": 1, **kept},
                               "钱七": {"manager_id": 1, **kept}, "别家": {"manager_id": None, **kept}}
    assert (result["lead_assignee"], result["alert_user"]) == (2, 1)  # nothing cascaded away with the old table
    assert result["new_user_id"] == 8  # 7 was the deleted person's


@pytest.fixture
async def tenants(services) -> tuple[Tenant, Tenant]:
    return await Tenant.create(name="甲公司"), await Tenant.create(name="乙公司")


async def test_an_id_is_unique_per_tenant_and_platform(tenants) -> None:
    one, two = tenants
    zhang = await user_ops.create_user(one.id, UserIn(name="张三", wecom_userid="zhang"))
    with pytest.raises(Conflict, match="wecom_userid 'zhang' already belongs"):
        await user_ops.create_user(one.id, UserIn(name="另一个张三", wecom_userid="zhang"))
    li = await User.create(tenant=one, name="李四")
    with pytest.raises(IntegrityError):  # the database refuses it too, whoever writes
        async with in_transaction():
            await platform_ids.set_id(li, "wecom", "zhang")
    # The same id on another platform, or in another tenant, is someone else's to have.
    await platform_ids.set_id(li, "dingtalk", "zhang")
    other = await user_ops.create_user(two.id, UserIn(name="别家张三", wecom_userid="zhang"))
    assert (await platform_ids.user_of(one.id, "wecom", "zhang")).id == zhang.id
    assert (await platform_ids.user_of(one.id, "dingtalk", "zhang")).id == li.id
    assert (await platform_ids.user_of(two.id, "wecom", "zhang")).id == other.id
    assert await platform_ids.ids_of(li) == {"dingtalk": "zhang"}


async def test_a_person_with_ids_on_both_platforms(tenants) -> None:
    one, _ = tenants
    wang = await user_ops.create_user(one.id, UserIn(name="王经理", role="manager", wecom_userid="wang",
                                                     dingtalk_staff_id="0123"))
    assert (await platform_ids.user_of(one.id, "wecom", "wang")).id == wang.id
    assert (await platform_ids.user_of(one.id, "dingtalk", "0123")).id == wang.id
    shown = await user_ops.user_out(wang)
    assert (shown.wecom_userid, shown.dingtalk_staff_id) == ("wang", "0123")
    # One id per platform: a new one replaces the old, which is free again.
    await user_ops.update_user(wang, UserPatch(wecom_userid="wang2"))
    assert await platform_ids.ids_of(wang) == {"wecom": "wang2", "dingtalk": "0123"}
    assert await platform_ids.user_of(one.id, "wecom", "wang") is None
    assert await UserPlatformId.filter(user_id=wang.id).count() == 2


async def test_removing_an_id_leaves_the_others_and_frees_it(tenants) -> None:
    one, _ = tenants
    wang = await user_ops.create_user(one.id, UserIn(name="王经理", wecom_userid="wang", dingtalk_staff_id="0123"))
    await user_ops.update_user(wang, UserPatch(wecom_userid=None))
    assert await platform_ids.ids_of(wang) == {"dingtalk": "0123"}
    assert await platform_ids.user_of(one.id, "wecom", "wang") is None
    assert (await user_ops.user_out(wang)).wecom_userid is None
    newcomer = await user_ops.create_user(one.id, UserIn(name="新人", wecom_userid="wang"))
    assert (await platform_ids.user_of(one.id, "wecom", "wang")).id == newcomer.id


async def test_an_id_longer_than_any_stored_is_nobodys(tenants) -> None:
    """A callback's sender is what the platform sent: one longer than the column finds nobody (the click is then
    refused as from an unknown person) instead of failing the job on every retry."""
    one, _ = tenants
    await user_ops.create_user(one.id, UserIn(name="张三", wecom_userid="z" * 64))
    assert (await platform_ids.user_of(one.id, "wecom", "z" * 64)) is not None
    assert await platform_ids.user_of(one.id, "wecom", "z" * 65) is None
    assert await platform_ids.user_of(one.id, "wecom", "z" * 5000, active_only=True) is None


def test_every_platform_id_has_its_field_on_the_edges() -> None:
    """A platform in the mapping is a field of the API's user JSON (in, patch, out), a CSV column and a CLI flag."""
    from click.testing import CliRunner

    from bot.admin.schemas import UserOut
    from bot.cli.admin import users_add

    flags = CliRunner().invoke(users_add, ["--help"]).output
    for name in platform_ids.EXTERNAL_FIELDS.values():
        assert all(name in model.model_fields for model in (UserIn, UserPatch, UserOut))
        assert name in user_ops.csv_columns()
        assert "--" + name.replace("_", "-") in flags
