"""A person's user id on each chat platform: rows of `user_platform_ids` (person, platform, id).

A platform is named by its string, the app's `platform`, so generic code passes what the app
says and never names a platform. An id is unique per tenant and platform, and a person has at most one id per
platform: the table's constraints keep both, as the columns per platform did before (issue #20).

Outside, each platform's id has a field name of its own (the admin API's user JSON, the CSV columns, the CLI flags,
the console's forms): `EXTERNAL_FIELDS` is that one mapping, made from each platform's `user_id_field` when the
wiring installs its table (`bind_platforms`), so a third platform changes nothing here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tortoise.queryset import QuerySet

from storage import db
from storage.models import Tenant, User, UserPlatformId

if TYPE_CHECKING:
    from bot.platforms.plugin import PlatformPlugin

ID_MAX = UserPlatformId._meta.fields_map["platform_user_id"].max_length

# platform -> the name of its id field outside (JSON, CSV column, form field; the CLI flag is this with dashes), in
# the order of the wiring's table; filled by `bind_platforms`.
EXTERNAL_FIELDS: dict[str, str] = {}


def bind_platforms(platforms: Iterable[PlatformPlugin]) -> None:
    """Name each platform's id outside as the platform says (the wiring's table, at install)."""
    EXTERNAL_FIELDS.clear()
    EXTERNAL_FIELDS.update({p.name: p.user_id_field for p in platforms})


def holding(tenant_id: int, platform: str, platform_user_id: str) -> QuerySet[User]:
    """The tenant's people whose id on `platform` is `platform_user_id` (one at most): a join, so one query."""
    return User.filter(tenant_id=tenant_id, platform_ids__platform=platform,
                       platform_ids__platform_user_id=platform_user_id)


# `holding` as parameterised SQL: every click and chat message looks its sender up, and the ORM's join cost more CPU
# than the database spent on it. At most one row: an id is unique per tenant and platform.
_USER_OF_SQL = ('SELECT u.* FROM "users" u JOIN "user_platform_ids" p ON p."user_id" = u."id" '
                'WHERE u."tenant_id" = ? AND p."platform" = ? AND p."platform_user_id" = ?')


async def user_of(tenant_id: int, platform: str, platform_user_id: str, *, active_only: bool = False) -> User | None:
    """The person of the tenant with this id on `platform`, if any (only an active one with `active_only`)."""
    # An id longer than the column holds is nobody's: asking for it would fail the ORM's validation instead, and a
    # callback's sender is whatever the platform (or a forger who passed the signature) put there.
    if not platform_user_id or len(platform_user_id) > ID_MAX:
        return None
    found = await db.fetch(User, _USER_OF_SQL + (' AND u."active"' if active_only else ""),
                           [tenant_id, platform, platform_user_id])
    return found[0] if found else None


@functools.cache
def _with_tenant_sql() -> str:
    return (f'SELECT u.*, {db.columns_of(Tenant, "t")} FROM "users" u '
            'JOIN "user_platform_ids" p ON p."user_id" = u."id" JOIN "tenants" t ON t."id" = u."tenant_id" '
            'WHERE u."tenant_id" = ? AND p."platform" = ? AND p."platform_user_id" = ? AND u."active"')


async def active_user_and_tenant(tenant_id: int, platform: str,
                                 platform_user_id: str) -> tuple[User, Tenant] | None:
    """`user_of` (active only), with the tenant's row read in the same statement: a card click needs both."""
    if not platform_user_id or len(platform_user_id) > ID_MAX:
        return None
    found = await db.fetch_two(User, Tenant, "t", _with_tenant_sql(), [tenant_id, platform, platform_user_id])
    return found[0] if found else None


async def ids_of(user: User) -> dict[str, str]:
    """The person's id on each platform they have one on (platform -> id): the rows loaded with the user when the
    query asked for them (`.prefetch_related("platform_ids")`), else one query."""
    rows = user.platform_ids
    if rows._fetched:
        return {r.platform: r.platform_user_id for r in rows}
    return dict(await UserPlatformId.filter(user_id=user.id).values_list("platform", "platform_user_id"))


async def id_of(user: User, platform: str) -> str | None:
    """The person's id on `platform`, or None."""
    return (await ids_of(user)).get(platform)


async def ids_of_users(user_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """Each person's ids (user id -> platform -> id), in one query; a person without any is left out."""
    out: dict[int, dict[str, str]] = {}
    rows = await UserPlatformId.filter(user_id__in=list(user_ids)).values_list("user_id", "platform",
                                                                               "platform_user_id")
    for user_id, platform, platform_user_id in rows:
        out.setdefault(user_id, {})[platform] = platform_user_id
    return out


async def ids_on(tenant_id: int, platform: str, *, active_only: bool = False) -> dict[str, int]:
    """Every id on `platform` in the tenant, with its person (id -> user id)."""
    rows = UserPlatformId.filter(tenant_id=tenant_id, platform=platform)
    if active_only:
        rows = rows.filter(user__active=True)
    return dict(await rows.values_list("platform_user_id", "user_id"))


async def people_on(tenant_id: int, platform: str) -> dict[str, User]:
    """Every person of the tenant with an id on `platform`, by that id (one query)."""
    rows = await UserPlatformId.filter(tenant_id=tenant_id, platform=platform).select_related("user")
    return {r.platform_user_id: r.user for r in rows}


async def taken(tenant_id: int, platform: str, platform_user_id: str, *, by_other_than: int | None = None) -> bool:
    """Someone of the tenant (other than user `by_other_than`) has this id on `platform`."""
    return await UserPlatformId.filter(tenant_id=tenant_id, platform=platform, platform_user_id=platform_user_id) \
        .exclude(user_id=by_other_than or 0).exists()


async def set_id(user: User, platform: str, platform_user_id: str | None) -> None:
    """Give the person this id on `platform`, replacing theirs; None or "" removes it. The database refuses an id
    another person of the tenant holds (`IntegrityError`): call inside a transaction to keep a refusal whole."""
    mine = UserPlatformId.filter(user_id=user.id, platform=platform)
    if not platform_user_id:
        await mine.delete()
    elif not await mine.update(platform_user_id=platform_user_id):
        await UserPlatformId.create(tenant_id=user.tenant_id, user_id=user.id, platform=platform,
                                    platform_user_id=platform_user_id)


async def set_ids(user: User, ids: Mapping[str, str | None]) -> None:
    """`set_id` for each platform in `ids` (platform -> id or None); platforms not named are left alone."""
    for platform, platform_user_id in ids.items():
        await set_id(user, platform, platform_user_id)


def take_external(fields: dict[str, Any]) -> dict[str, str | None]:
    """Remove the outside id fields from `fields` (as a schema or a CSV row gives them) and return them as
    platform -> id, for the platforms named there only."""
    return {platform: fields.pop(name) for platform, name in EXTERNAL_FIELDS.items() if name in fields}


def external(ids: Mapping[str, str]) -> dict[str, str | None]:
    """A person's ids as the outside names them: every platform's field, None where they have no id."""
    return {name: ids.get(platform) for platform, name in EXTERNAL_FIELDS.items()}
