"""Directory sync: reps and managers from the platform's own directory instead of typed-in CSVs (issue 19).

People are matched by their platform user id within the app's tenant; each takes
its name, mobile (where the app may read it) and, as manager, the leader of their department. A dry run shows the
diff (added, changed, deactivated) and changes nothing; applying makes exactly that diff. A field an admin set by
hand (`User.hand_set`: through the API, the CLI or an import) is never overwritten: the diff lists it as skipped.
Only people sync brought in or matched before are deactivated when they leave the directory; someone added by hand
who was never in it stays.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from bot.admin import platform_ids
from bot.admin.apps import LoadedApp
from bot.alerting.notify.phone import InvalidPhone, normalize_mobile
from bot.platforms import registry
from bot.platforms.base import DirectoryPerson
from bot.runtime.services import Services
from storage.models import User

log = logging.getLogger(__name__)


@dataclass
class Change:
    user_id: str
    name: str
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field -> (now, from the directory)
    skipped: list[str] = field(default_factory=list)  # fields set by hand that the directory would change

    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "name": self.name, "skipped": self.skipped,
                "fields": {k: {"from": a, "to": b} for k, (a, b) in self.fields.items()}}


@dataclass
class SyncReport:
    dry_run: bool
    added: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    deactivated: list[Change] = field(default_factory=list)
    skipped: list[Change] = field(default_factory=list)  # people whose hand-set fields were left alone

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, **{k: [c.as_dict() for c in getattr(self, k)]
                                            for k in ("added", "changed", "deactivated", "skipped")}}


async def fetch_directory(services: Services, app: LoadedApp) -> list[DirectoryPerson]:
    # Each platform reads its directory in its own package (its plug-in's `diagnosis()`).
    diagnosis = registry.get(app.platform).diagnosis()
    return await diagnosis.directory(services.adapters.get(services, app))


def _mobile(person: DirectoryPerson) -> str | None:
    if not person.mobile:
        return None
    try:
        return normalize_mobile(person.mobile)
    except InvalidPhone:
        return None


def _wanted(person: DirectoryPerson, manager: User | None) -> dict[str, Any]:
    wanted: dict[str, Any] = {"name": person.name[:128], "active": person.active,
                              "manager_id": manager.id if manager else None}
    if (mobile := _mobile(person)) is not None:
        wanted["phone"] = mobile  # a mobile the app may not read is left as it is, not cleared
    return wanted


async def sync(services: Services, app: LoadedApp, *, dry_run: bool, now: datetime,
               people: list[DirectoryPerson] | None = None) -> SyncReport:
    """Sync the app's tenant with the platform directory; `dry_run` computes the diff and writes nothing."""
    people = people if people is not None else await fetch_directory(services, app)
    report = SyncReport(dry_run=dry_run)
    async with in_transaction():
        existing = await platform_ids.people_on(app.tenant_id, app.platform)
        # Add first (managers must exist to be pointed at), then update everyone, then deactivate the departed.
        for person in people:
            if person.user_id not in existing and person.active:
                report.added.append(Change(person.user_id, person.name, {k: (None, v) for k, v in (
                    ("name", person.name), ("phone", _mobile(person))) if v}))
                if not dry_run:
                    user = await User.create(tenant_id=app.tenant_id, name=person.name[:128],
                                             phone=_mobile(person), synced_at=now)
                    await platform_ids.set_id(user, app.platform, person.user_id)
                    existing[person.user_id] = user
        for person in people:
            user = existing.get(person.user_id)
            if user is None:
                continue  # a new person already gone from the directory, or a dry run's addition
            manager = existing.get(person.manager_user_id) if person.manager_user_id else None
            change = Change(person.user_id, person.name)
            for name, value in _wanted(person, manager).items():
                if getattr(user, name) == value:
                    continue
                if name in (user.hand_set or []):
                    change.skipped.append(name)
                    continue
                change.fields[name] = (getattr(user, name), value)
            if change.skipped:
                report.skipped.append(change)
            if change.fields:
                target = report.deactivated if change.fields.get("active", (None, True))[1] is False else \
                    report.changed
                if not any(c.user_id == person.user_id for c in report.added):
                    target.append(change)
                if not dry_run:
                    for name, (_, value) in change.fields.items():
                        setattr(user, name, value)
            if not dry_run:
                user.synced_at = now
                await user.save()
        in_directory = {p.user_id for p in people}
        for uid, user in existing.items():
            if uid in in_directory or not user.active or user.synced_at is None:
                continue
            change = Change(uid, user.name, {"active": (True, False)})
            if "active" in (user.hand_set or []):
                report.skipped.append(Change(uid, user.name, skipped=["active"]))
                continue
            report.deactivated.append(change)
            if not dry_run:
                user.active = False
                await user.save(update_fields=["active", "updated_at"])
    if not dry_run:
        from bot.leads import service as leadservice

        for change in report.deactivated:
            user = existing[change.user_id]
            await leadservice.deactivate_rep(services, user, None)  # their open leads go back to the pool
    log.info("directory sync app=%d dry_run=%s: %d added, %d changed, %d deactivated, %d with hand-set fields",
             app.id, dry_run, len(report.added), len(report.changed), len(report.deactivated), len(report.skipped))
    return report
