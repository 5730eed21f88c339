"""People of a tenant: reps, managers, admins, and how they are reached on each platform.

Shared by the admin API and the CLI, including CSV import with a per-row report (a bad row never stops the rest).
An import is all or nothing otherwise: a file that cannot be read as CSV (a field over the csv module's 128 KiB
limit, a broken quote) is refused before any row is written, and the rows are written in one transaction, so an
import cut short by an outage leaves no half of it behind.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.admin import platform_ids
from bot.admin.platform_ids import EXTERNAL_FIELDS
from bot.admin.schemas import ImportReport, RowError, UserIn, UserOut, UserPatch
from bot.errors import Conflict, InvalidField, NotFound
from storage.models import Role, Tenant, User

if TYPE_CHECKING:
    from bot.runtime.services import Services

log = logging.getLogger(__name__)


def csv_columns() -> tuple[str, ...]:
    """The CSV's columns: a column per platform's id (`EXTERNAL_FIELDS`, known once the wiring is installed)."""
    return ("name", "role", "manager", *EXTERNAL_FIELDS.values(), "phone", "email", "region", "industries")


def csv_manager_platform() -> str:
    """The CSV's `manager` column names a manager by their id on the first platform of the mapping, else by name
    (the file format as published: `leadbot users import --help`, the console's import form)."""
    return next(iter(EXTERNAL_FIELDS))


async def _check_manager(tenant_id: int, manager_id: int | None, user_id: int | None = None) -> None:
    if manager_id is None:
        return
    manager = await User.get_or_none(id=manager_id, tenant_id=tenant_id)
    if manager is None:
        raise InvalidField("manager_id", f"no user {manager_id} in this tenant")
    if manager.role is Role.REP:
        raise InvalidField("manager_id", "a manager must have the manager or admin role")
    # Walk up the chain: making someone their own (indirect) manager would loop escalations forever.
    seen = {user_id} if user_id else set()
    current: User | None = manager
    while current is not None:
        if current.id in seen:
            raise InvalidField("manager_id", "this would make a management loop")
        seen.add(current.id)
        current = await User.get_or_none(id=current.manager_id) if current.manager_id else None


def _conflict() -> Conflict:
    return Conflict(f"a user with this {' or '.join(EXTERNAL_FIELDS.values())} already exists in this tenant")


async def _check_unique(tenant_id: int, ids: dict[str, str | None], user_id: int | None = None) -> None:
    for platform, value in ids.items():
        if value and await platform_ids.taken(tenant_id, platform, value, by_other_than=user_id):
            raise Conflict(f"{EXTERNAL_FIELDS[platform]} {value!r} already belongs to another user of this tenant")


async def user_out(user: User) -> UserOut:
    """The admin API's (and the CLI's) view of a person: their ids under each platform's field name."""
    return UserOut.model_validate({**_columns(user), **platform_ids.external(await platform_ids.ids_of(user))})


async def users_out(users: Iterable[User]) -> list[UserOut]:
    """`user_out` for many people, their ids read in one query."""
    users = list(users)
    ids = await platform_ids.ids_of_users(u.id for u in users)
    return [UserOut.model_validate({**_columns(u), **platform_ids.external(ids.get(u.id, {}))}) for u in users]


def _columns(user: User) -> dict[str, Any]:
    return {name: getattr(user, name) for name in UserOut.model_fields if name not in EXTERNAL_FIELDS.values()}


# The fields directory sync maintains, and an admin may set by hand instead.
HAND_FIELDS = frozenset({"name", "phone", "email", "manager_id", "active"})


async def create_user(tenant_id: int, data: UserIn) -> User:
    if not await Tenant.exists(id=tenant_id):
        raise NotFound(f"tenant {tenant_id} not found")
    await _check_manager(tenant_id, data.manager_id)
    fields = data.model_dump(exclude={"tenant_id"})
    ids = platform_ids.take_external(fields)
    await _check_unique(tenant_id, ids)
    # What an admin typed is theirs: directory sync leaves these fields alone (and says so).
    fields["hand_set"] = sorted(k for k in HAND_FIELDS if k in data.model_fields_set)
    try:
        async with in_transaction():  # the person and their ids, or neither
            user = await User.create(tenant_id=tenant_id, **fields)
            await platform_ids.set_ids(user, ids)
    except IntegrityError:
        raise _conflict() from None
    log.info("user created id=%d tenant=%d role=%s", user.id, tenant_id, user.role)
    return user


async def update_user(user: User, patch: UserPatch) -> User:
    changes = patch.model_dump(exclude_unset=True)
    if "manager_id" in changes:
        await _check_manager(user.tenant_id, changes["manager_id"], user.id)
    ids = platform_ids.take_external(changes)
    await _check_unique(user.tenant_id, ids, user.id)
    for k, v in changes.items():
        setattr(user, k, v)
    user.hand_set = sorted(set(user.hand_set or []) | (set(changes) & HAND_FIELDS))
    try:
        async with in_transaction():
            await user.save()
            await platform_ids.set_ids(user, ids)
    except IntegrityError:
        raise _conflict() from None
    return user


def split_list(value: str) -> list[str]:
    for sep in ("；", ";", "、", "|", "，"):
        value = value.replace(sep, ",")
    return [p.strip() for p in value.split(",") if p.strip()]


def refuse_nul_in_csv(text: str) -> None:
    """A CSV import holding U+0000 is refused before any row is used: PostgreSQL's text cannot hold it, and it is
    refused on SQLite alike so both backends answer the same. (The users' and the leads' imports.)"""
    if "\x00" in text:
        raise InvalidField("csv", "the file contains the NUL character (U+0000); nothing was imported")


def read_csv(text: str) -> list[tuple[int, dict[str, str]]]:
    """Every row as a dict with its line number (a UTF-8 BOM, Excel's habit, is dropped); `InvalidField` naming
    the line when the text is not readable CSV, before any row is used."""
    refuse_nul_in_csv(text)
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        missing = {"name"} - set(reader.fieldnames or ())
        if missing:
            raise InvalidField("csv", f"missing column(s): {', '.join(sorted(missing))}")
        return [(reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items() if k}) for row in reader]
    except csv.Error as e:  # e.g. "field larger than field limit (131072)"
        # line_num counts the lines consumed before the one that failed
        raise InvalidField("csv", f"line {reader.line_num + 1}: {e}; nothing was imported") from None


class _DryRun(Exception):
    """Raised at the end of a dry run's transaction to roll every row back."""


def duplicate_ids(rows: list[tuple[int, dict[str, str]]]) -> list[RowError]:
    """A platform user id on two rows: the second would silently rename the first's user, so the file is refused."""
    errors: list[RowError] = []
    for key in EXTERNAL_FIELDS.values():
        first: dict[str, int] = {}
        for line, row in rows:
            value = (row.get(key) or "").strip()
            if not value:
                continue
            if value in first:
                errors.append(RowError(row=line, field=key, reason=f"{value!r} is on line {first[value]} too"))
            else:
                first[value] = line
    return errors


async def import_rows(tenant_id: int, rows: Iterable[tuple[int, dict[str, str]]],
                      report: ImportReport, *, dry_run: bool = False) -> ImportReport:
    """`import_row` for each row, all in one transaction (each row in its own savepoint, so a row refused by
    the database leaves the others standing). A file naming a user id twice imports nothing; a dry run reports
    what would be created and updated, then rolls it all back."""
    rows = list(rows)
    if dups := duplicate_ids(rows):
        report.errors.extend(dups)
        return report
    try:
        async with in_transaction():
            for line, row in rows:
                await import_row(tenant_id, line, row, report)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return report


async def import_row(tenant_id: int, line: int, row: dict[str, str], report: ImportReport) -> None:
    """Create or update (matched on the id of the first platform in `EXTERNAL_FIELDS` the row has, then the next)
    one CSV row; errors go to the report."""
    columns = csv_columns()
    data: dict[str, Any] = {k: v for k, v in row.items() if k in columns and v != "" and k != "manager"}
    if "industries" in data:
        data["industries"] = split_list(data["industries"])
    try:
        if row.get("manager"):
            by_platform = csv_manager_platform()
            manager = await platform_ids.user_of(tenant_id, by_platform, row["manager"]) or \
                await User.filter(tenant_id=tenant_id, name=row["manager"]).first()
            if manager is None:
                raise InvalidField("manager", f"no user {row['manager']!r} "
                                   f"(by {EXTERNAL_FIELDS[by_platform]} or name)")
            data["manager_id"] = manager.id
        existing = None
        for platform, key in EXTERNAL_FIELDS.items():
            if data.get(key):
                existing = await platform_ids.user_of(tenant_id, platform, data[key])
                if existing:
                    break
        # A savepoint: on PostgreSQL a refused insert would otherwise abort the whole import's transaction.
        async with in_transaction():
            if existing is None:
                await create_user(tenant_id, UserIn(**data))
            else:
                await update_user(existing, UserPatch(**data))
        if existing is None:
            report.created += 1
        else:
            report.updated += 1
    except ValidationError as e:
        err = e.errors()[0]
        report.errors.append(RowError(row=line, field=".".join(map(str, err["loc"])) or None, reason=err["msg"]))
    except InvalidField as e:
        report.errors.append(RowError(row=line, field=e.field, reason=e.reason))
    except (Conflict, NotFound) as e:
        report.errors.append(RowError(row=line, field=None, reason=str(e)))


async def disable_with_handover(services: Services, user: User, successor_id: int | None) -> User:
    """Deactivate a user and hand their open leads to `successor_id` (another active user of the tenant) or back
    to the pool; their managers are told. What the admin API and the console both do."""
    from bot.leads import service as leadservice  # leads sit above people: imported only when someone leaves

    successor = None
    if successor_id is not None:
        successor = await User.get_or_none(id=successor_id, tenant_id=user.tenant_id, active=True)
        if successor is None or successor.id == user.id:
            raise InvalidField("successor_id", "the successor must be another active user of this tenant")
    user = await deactivate_user(user)
    await leadservice.deactivate_rep(services, user, successor)
    return user


async def deactivate_user(user: User) -> User:
    """Mark a user inactive: they are no longer routed leads or sent alerts. An admin's decision: directory sync
    will not switch them back on (`active` joins the hand-set fields)."""
    if user.active or "active" not in (user.hand_set or []):
        user.active = False
        user.hand_set = sorted(set(user.hand_set or []) | {"active"})
        await user.save(update_fields=["active", "hand_set", "updated_at"])
        log.info("user %d deactivated", user.id)
    return user
