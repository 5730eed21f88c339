"""People with platform ids, for tests: a person's ids are rows of their own (`user_platform_ids`), so a test
that used to write `User.create(..., wecom_userid="zhang")` writes `make_user(..., wecom_userid="zhang")`."""

from __future__ import annotations

from typing import Any

from bot.admin import platform_ids
from storage.models import User


def platform_of(name: str) -> str:
    """The platform whose outside id field is `name` (the mapping is the installed wiring's)."""
    return next(platform for platform, field in platform_ids.EXTERNAL_FIELDS.items() if field == name)


async def make_user(**fields: Any) -> User:
    """`User.create(**fields)`, with each platform id given by its outside name (`wecom_userid`,
    `dingtalk_staff_id`) stored as the person's id on that platform."""
    ids = platform_ids.take_external(fields)
    user = await User.create(**fields)
    await platform_ids.set_ids(user, {p: v for p, v in ids.items() if v})
    return user


async def user_by(tenant_id: int | None = None, **outside_id: str) -> User:
    """The one person with this platform id, named by its outside field: `user_by(wecom_userid="li1")`."""
    ((name, value),) = outside_id.items()
    found = User.filter(platform_ids__platform=platform_of(name), platform_ids__platform_user_id=value)
    return await (found.filter(tenant_id=tenant_id) if tenant_id is not None else found).get()


async def user_exists(tenant_id: int, **outside_id: str) -> bool:
    ((name, value),) = outside_id.items()
    return await platform_ids.holding(tenant_id, platform_of(name), value).exists()


async def by_outside_id(tenant_id: int, name: str) -> dict[str | None, User]:
    """Every person of the tenant by their id on the platform whose outside field is `name` (None: no id there),
    as `{u.wecom_userid: u for u in User.filter(tenant_id=...)}` read when the id was a column."""
    users = await User.filter(tenant_id=tenant_id).prefetch_related("platform_ids")
    return {(await platform_ids.ids_of(u)).get(platform_of(name)): u for u in users}
