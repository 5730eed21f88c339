"""Cards in chat: send one to a person, keep it on record, and keep every live card of a lead current.

Platform-neutral: which app reaches a person, which renderer draws for that platform, and the adapter behind the
`Adapter` protocol. On a platform whose updates spend a single-use response code (`card_update_needs_code`: one from
the send, one from each click), when none is left, or whenever the platform says the card can no longer be updated,
the person gets a fresh card instead and the old one is retired.

Across a crash the update stays exactly-once: the code is recorded as spent, with the version it carries, in the
same write that takes it, before the call. A worker killed after the platform took the update but before we
recorded it leaves `spent_version` above `version`; the next update of that card tries the spent code again, and
the platform's "code used" answer then means the card already shows that version: no second card, no error.
"""

from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise import connections

from bot.admin import platform_ids
from bot.admin.apps import LoadedApp
from bot.admin.tenant_settings import TenantSettings
from bot.errors import CardExpired
from bot.leads import store as leadstore
from bot.leads import types as lt
from bot.leads.service import actor_for
from bot.platforms import registry
from bot.runtime import outbox
from bot.runtime.services import Services
from cards.model import Card, CardKind, lead_card
from storage import db
from storage.models import App, AppStatus, CardInstance, Deadline, Tenant, User

log = logging.getLogger(__name__)

# How long a platform's update code is trusted (the one platform that spends codes documents 72 h in one place
# and 24 h in others: trust the shorter).
RESPONSE_CODE_TTL = timedelta(hours=24)


def new_card_id(kind: CardKind | str, subject_id: int) -> str:
    """Our id for a card (the platform's task or track id): unique, never reused, [0-9A-Za-z_-] only."""
    return f"lb{str(kind)[:2]}{subject_id}-{time.time_ns() // 1_000_000:x}-{secrets.token_hex(6)}"


async def reach(services: Services, user: User) -> tuple[LoadedApp, str] | None:
    """The app (of the user's tenant) that can reach the user, with their id on that platform."""
    ids = await platform_ids.ids_of(user)
    if not ids:
        return None
    rows = await App.filter(tenant_id=user.tenant_id, status=AppStatus.ACTIVE, platform__in=list(ids)).order_by(
        "id").values("id", "platform")
    for row in rows:
        if ident := ids.get(row["platform"]):
            app = await services.apps.get(row["id"])
            if app is not None and app.active:
                return app, ident
    return None


def render(platform: str, card: Card, card_id: str, *, update: bool = False) -> dict[str, Any]:
    return registry.get(platform).render_card(card, card_id, update=update)


async def send_card(services: Services, user: User, card: Card, *, kind: CardKind, subject_id: int,
                    version: int, via: tuple[LoadedApp, str] | None = None) -> CardInstance | None:
    """Send `card` to `user` on the platform that reaches them (or `via` that app and platform id, e.g. the chat
    the user just wrote in); None when no app reaches them."""
    target = via or await reach(services, user)
    if target is None:
        log.warning("user %d has no chat account on an active app: card not sent", user.id)
        return None
    app, recipient = target
    card_id = new_card_id(kind, subject_id)
    result = await services.adapters.get(services, app).send_card(recipient, card_id, render(app.platform, card,
                                                                                              card_id))
    expires = services.clock.now() + RESPONSE_CODE_TTL if result.response_code else None
    return await CardInstance.create(
        tenant_id=user.tenant_id, app_id=app.id, user_id=user.id, kind=str(kind), subject_id=subject_id,
        card_id=card_id, recipient=recipient, version=version, response_code=result.response_code,
        code_expires_at=expires,
    )


# The statements every card redraw runs (a click's card update among them), parameterised (`storage.db`): through
# the ORM's query builder they cost more CPU than the database spent on them.
_TAKE_SQL = ('UPDATE "card_instances" SET "response_code" = NULL, "spent_code" = ?, "spent_version" = ? '
             'WHERE "id" = ? AND "response_code" = ?')
_SHOWN_SQL = 'UPDATE "card_instances" SET "version" = ?, "spent_version" = ? WHERE "id" = ? AND "spent_code" = ?'
_VERSION_SQL = 'UPDATE "card_instances" SET "version" = ? WHERE "id" = ?'
_LIVE_SQL = 'SELECT * FROM "card_instances" WHERE "kind" = ? AND "subject_id" = ? AND "live" ORDER BY "id"'
_LOCK_DUE_SQL = ('SELECT "due_at" FROM "deadlines" WHERE "lead_id" = ? AND "kind" = \'response_lock\' '
                 'AND "state" = \'pending\'')


async def _take_code(instance: CardInstance, version: int, now: datetime) -> str | None:
    """Claim the card's unused response code (single use: two updates must not both try it), recording it as spent
    on an update to `version` before the call is made."""
    code = instance.response_code
    if not code or (instance.code_expires_at and instance.code_expires_at <= now):
        return None
    taken = await db.changed(_TAKE_SQL, [code, version, instance.id, code])
    return code if taken else None


async def _update_with_code(adapter: Any, app: LoadedApp, instance: CardInstance, card: Card, version: int,
                        now: datetime, taken: str | None = None) -> bool:
    """Update the card in place with a fresh code, or learn what a crashed update did; False: send a fresh card.
    `taken`: the card's code, already taken for this update (`live_cards_taking`)."""
    code = taken or await _take_code(instance, version, now)
    retried = code is None and instance.spent_code is not None and (instance.spent_version or 0) > instance.version
    if retried:
        code = instance.spent_code  # ours, spent on an update whose answer we never recorded
    if code is None:
        return False
    try:
        await adapter.update_card(instance.recipient, instance.card_id,
                                  render(app.platform, card, instance.card_id, update=True), code)
    except CardExpired as e:
        if not retried:
            log.info("card %s can no longer be updated (%s): sending a fresh one", instance.card_id, e.errcode)
            return False
        shown = int(instance.spent_version or 0)
        log.info("card %s: the update to version %d went through before a crash (code spent, %s)", instance.card_id,
                 shown, e.errcode)
        await _shown(instance, shown, code)
        return shown >= version
    await _shown(instance, version, code)
    return True


async def _shown(instance: CardInstance, version: int, code: str) -> None:
    """Record that the card shows `version` (the update that spent `code` is confirmed): one write while the card
    still holds `code` as spent (nearly always), the version alone otherwise. In a follow-up, the write goes with its
    outbox row's done mark (`outbox.write_with_done_mark`): until then the card reads as an update spent but not
    confirmed, which a run again after a crash resolves with the spent code, as it does after a crash before this
    write."""
    card_id = instance.id

    async def version_alone() -> None:
        await db.changed(_VERSION_SQL, [version, card_id])

    await outbox.write_with_done_mark(_SHOWN_SQL, [version, version, card_id, code], version_alone)
    instance.version = version


async def update_card(services: Services, instance: CardInstance, card: Card, version: int,
                      taken: str | None = None) -> CardInstance | None:
    """Replace a sent card in place, or send its holder a fresh one when it can no longer be updated. `taken`: the
    card's code, already taken (recorded as spent) for this update."""
    app = await services.apps.get(instance.app_id)
    if app is not None and app.active:
        adapter = services.adapters.get(services, app)
        if registry.get(app.platform).card_update_needs_code:
            if await _update_with_code(adapter, app, instance, card, version, services.clock.now(), taken):
                return instance
        else:
            try:
                await adapter.update_card(instance.recipient, instance.card_id,
                                          render(app.platform, card, instance.card_id, update=True), None)
                await outbox.write_with_done_mark(_VERSION_SQL, [version, instance.id])
                instance.version = version
                return instance
            except CardExpired as e:
                log.info("card %s can no longer be updated (%s): sending a fresh one", instance.card_id, e.errcode)
    await CardInstance.filter(id=instance.id).update(live=False)
    user = await User.get(id=instance.user_id)
    return await send_card(services, user, card, kind=CardKind(instance.kind), subject_id=instance.subject_id,
                           version=version)


async def lead_card_for(lead: lt.Lead, user: User, *, now: datetime, notice: str = "",
                        tenant: Tenant | None = None) -> Card:
    """`tenant`: the lead's tenant row, when the caller holds it."""
    tenant = tenant or await Tenant.get(id=lead.tenant_id)
    settings = TenantSettings.of_row(tenant)
    # The card shows the response deadline only while the lead is 已分配 (`cards.model`): not read otherwise.
    deadline = await _lock_due(lead.id) if lead.status is lt.Status.ASSIGNED else None
    return lead_card(lead, actor_for(user), settings=settings.workflow.to_value(), deadline=deadline, now=now,
                     notice=notice, tz=ZoneInfo(tenant.timezone))


async def _lock_due(lead_id: int) -> datetime | None:
    """When the lead's pending response lock runs out, if it has one (one a lead: unique by lead and kind)."""
    _, rows = await connections.get("default").execute_query(db.numbered(_LOCK_DUE_SQL), [lead_id])
    return Deadline._meta.fields_map["due_at"].to_python_value(rows[0]["due_at"]) if rows else None


async def live_cards(kind: CardKind, subject_id: int) -> list[CardInstance]:
    return await db.fetch(CardInstance, _LIVE_SQL, [str(kind), subject_id])


# `_LIVE_SQL` with `_take_code` of every live card behind `version` that holds an unexpired code, in one statement
# (PostgreSQL: an UPDATE in WITH), so that a redraw takes its cards' codes without a statement and a commit of its
# own. The rows are read as they were before the take (every part of the statement sees the table as it was): the
# code is still on the row read, and "taken" says that it is now recorded as spent on an update to `version`.
_LIVE_TAKING_SQL = (
    'WITH taken AS (UPDATE "card_instances" SET "response_code" = NULL, "spent_code" = "response_code", '
    '"spent_version" = ? WHERE "kind" = ? AND "subject_id" = ? AND "live" AND "version" < ? '
    'AND "response_code" IS NOT NULL AND ("code_expires_at" IS NULL OR "code_expires_at" > ?) RETURNING "id") '
    'SELECT c.*, c."id" IN (SELECT "id" FROM taken) AS "taken" FROM "card_instances" c '
    'WHERE c."kind" = ? AND c."subject_id" = ? AND c."live" ORDER BY c."id"'
)


async def live_cards_taking(kind: CardKind, subject_id: int, version: int,
                            now: datetime) -> list[tuple[CardInstance, str | None]]:
    """The live cards, each with its code when it was taken here for an update to `version` (as `_take_code` takes
    it: recorded as spent first). On SQLite none is taken here: `update_card` takes each as it goes."""
    if db.dialect() != "postgres":
        return [(c, None) for c in await live_cards(kind, subject_id)]
    rows = await connections.get("default").execute_query_dict(db.numbered(_LIVE_TAKING_SQL), [
        version, str(kind), subject_id, version, db.db_value(CardInstance, "code_expires_at", now), str(kind),
        subject_id])
    out = []
    for row in rows:
        taken = row.pop("taken")
        instance = CardInstance._init_from_db(**row)
        code = instance.response_code if taken else None
        if code is not None:  # the row as it is now
            instance.response_code, instance.spent_code, instance.spent_version = None, code, version
        out.append((instance, code))
    return out


async def send_lead_card(services: Services, row) -> None:
    p = outbox.payload(row)
    user = await User.get_or_none(id=p["user_id"])
    if user is None or not user.active:
        return
    # A retried row must not send a second card: a live card of this lead is kept current by render_cards.
    if await CardInstance.filter(kind=str(CardKind.LEAD), subject_id=p["lead_id"], user_id=user.id,
                                 live=True).exists():
        return
    lead = await leadstore.load(p["lead_id"])
    card = await lead_card_for(lead, user, now=services.clock.now())
    await send_card(services, user, card, kind=CardKind.LEAD, subject_id=lead.id, version=lead.version)


async def render_cards(services: Services, row) -> None:
    """Every live card of the lead, for everyone who holds one, redrawn at the lead's current version (or at the
    version this row was written for, when the job that wrote it holds the lead as stored: a newer version has its
    own row)."""
    p = outbox.payload(row)
    known = outbox.known() or outbox.Known()
    lead = known.lead(p["lead_id"], p.get("version")) or await leadstore.load(p["lead_id"])
    tenant = None
    for instance, taken in await live_cards_taking(CardKind.LEAD, lead.id, lead.version, services.clock.now()):
        if instance.version >= lead.version:
            continue
        user = known.users.get(instance.user_id) or await User.get(id=instance.user_id)
        tenant = tenant or known.tenants.get(lead.tenant_id) or await Tenant.get(id=lead.tenant_id)
        card = await lead_card_for(lead, user, now=services.clock.now(), tenant=tenant)
        await update_card(services, instance, card, lead.version, taken)
