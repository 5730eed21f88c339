"""A button pressed on a card, on either platform: who pressed it, what it asks, and the answer on the card.

The button key names an action and a target; it grants nothing by itself (anyone can forge a callback body that
passes our platform checks only if they hold the app's keys, but a rep can still press a card forwarded to them).
The clicker is looked up in the app's tenant and the workflow decides whether they may act; a refusal changes
nothing and is shown on the card.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.admin import platform_ids
from bot.admin.apps import LoadedApp
from bot.chat import cards as cardsvc
from bot.errors import NotFound
from bot.jobs import services as services_of
from bot.leads import service as leadservice
from bot.leads import store as leadstore
from bot.leads import types as lt
from bot.leads.gates import Refusal, RefusalCode
from bot.platforms.base import Inbound
from bot.runtime import outbox
from bot.runtime.services import Services
from cards.keys import BadButtonKey, ButtonKey, KeyAction
from cards.model import lost_reason_card
from storage import db
from storage.models import CardInstance, LeadEvent, Role, Tenant, User
from storage.models import Lead as LeadRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Click:
    """Everything a click handler needs, resolved once."""

    services: Services
    app: LoadedApp
    clicker: User
    key: ButtonKey
    card: CardInstance | None  # None when the card is not ours on record (e.g. a markdown-fallback "click")
    at: datetime
    clicked_at: datetime | None = None  # when the platform says the click was made
    # The clicker's id on the app's platform: the click's sender, by which they were found.
    sender: str = ""

    @property
    def actor(self) -> lt.Actor:
        return leadservice.actor_for(self.clicker)


ClickHandler = Callable[[Click], Awaitable[None]]
# Non-lead buttons (voice-note confirm/correct, lead chooser, alert ack) are handled by their own modules, listed in
# `bot.runtime.wiring` (which fills this); every other button is a lead action (`on_lead_button`).
HANDLERS: dict[KeyAction, ClickHandler] = {}


async def find_user(app: LoadedApp, platform_user_id: str) -> User | None:
    """The active person of the app's tenant with this id on the app's platform (one query)."""
    return await platform_ids.user_of(app.tenant_id, app.platform, platform_user_id, active_only=True)


STRANGER = "你还不是本系统的用户，请联系管理员。"


async def stranger_text(app: LoadedApp, sender: str, first_line: str = STRANGER) -> str:
    """What an unknown sender is told: their own user id on this platform (what the admin needs to map them) and
    which admins to ask."""
    admins = await User.filter(tenant_id=app.tenant_id, active=True, role=Role.ADMIN).order_by("id").limit(3) \
        .values_list("name", flat=True)
    whom = "、".join(admins) if admins else "你们的线索助手管理员"
    return f"{first_line}\n你的账号 ID（UserID）是：{sender}\n请把它发给{whom}，开通后即可使用。"


# The clicked card and its fresh code: every click reads and writes them, so as parameterised SQL (`storage.db`).
_CARD_SQL = 'SELECT * FROM "card_instances" WHERE "app_id" = ? AND "card_id" = ?'
# The code kept in the same statement that reads the card back (RETURNING), when it is the recipient's and not the
# one we already spent. (NULL = code is not true in SQL: hence the IS NULL.)
_REMEMBER_SQL = ('UPDATE "card_instances" SET "response_code" = ?, "code_expires_at" = ? '
                 'WHERE "app_id" = ? AND "card_id" = ? AND "recipient" = ? '
                 'AND ("spent_code" IS NULL OR "spent_code" <> ?) RETURNING *')


async def _clicked_card(app_id: int, message: Inbound, now: datetime) -> CardInstance | None:
    """The clicked card, if it is ours on record. A click may bring a fresh single-use code for updating it: kept
    for the update, in the statement that reads the card (the card as returned carries it).

    Not when we already spent it: a click job run again after a crash carries the code its first run used.
    """
    assert message.card is not None
    code = message.card.response_code
    if code:
        expires = db.db_value(CardInstance, "code_expires_at", now + cardsvc.RESPONSE_CODE_TTL)
        kept = await db.fetch(CardInstance, _REMEMBER_SQL,
                              [code, expires, app_id, message.card.card_id, message.sender, code])
        if kept:
            return kept[0]
    found = await db.fetch(CardInstance, _CARD_SQL, [app_id, message.card.card_id])
    return found[0] if found else None


@functools.cache
def _read_ahead_sql(with_code: bool) -> str:
    """`_clicked_card` (`_REMEMBER_SQL` when the click brings a code, then `_CARD_SQL` when that kept nothing),
    `platform_ids.active_user_and_tenant` and the clicked lead's row (`leadstore.load_row`, in the clicker's
    tenant) as one statement (PostgreSQL: the UPDATE in WITH). The card is read as the UPDATE left it: its row
    from the UPDATE's RETURNING, else the table's (which every part of the statement sees as before the UPDATE)."""
    if with_code:
        card = (f'WITH kept AS ({_REMEMBER_SQL}), card AS (SELECT * FROM kept UNION ALL SELECT * FROM '
                f'"card_instances" WHERE "app_id" = ? AND "card_id" = ? AND NOT EXISTS (SELECT 1 FROM kept)) ')
    else:
        card = f'WITH card AS ({_CARD_SQL}) '
    return (card + f'SELECT u.*, {db.columns_of(Tenant, "t")}, {db.columns_of(CardInstance, "c")}, '
            f'{db.columns_of(LeadRow, "l")} FROM "users" u JOIN "user_platform_ids" p ON p."user_id" = u."id" '
            'JOIN "tenants" t ON t."id" = u."tenant_id" LEFT JOIN card c ON TRUE '
            'LEFT JOIN "leads" l ON l."id" = ? AND l."tenant_id" = u."tenant_id" '
            'WHERE u."tenant_id" = ? AND p."platform" = ? AND p."platform_user_id" = ? AND u."active"')


async def _read_click(app: LoadedApp, message: Inbound, lead_id: int | None,
                      now: datetime) -> tuple[CardInstance | None, tuple[User, Tenant] | None, LeadRow | None]:
    """What every click reads first: the clicked card (keeping the code it brings), the clicker with their tenant,
    and, for a lead's button (`lead_id`), the lead's row in the clicker's tenant. On PostgreSQL in one round trip
    (`_read_ahead_sql`); the lead's row is then read ahead, else (SQLite) left to the handler."""
    assert message.card is not None
    sender = message.sender
    if db.dialect() != "postgres" or not sender or len(sender) > platform_ids.ID_MAX:
        card = await _clicked_card(app.id, message, now)
        return card, await platform_ids.active_user_and_tenant(app.tenant_id, app.platform, sender), None
    code = message.card.response_code
    params: list[Any] = [app.id, message.card.card_id]
    if code:
        expires = db.db_value(CardInstance, "code_expires_at", now + cardsvc.RESPONSE_CODE_TTL)
        params = [code, expires, app.id, message.card.card_id, sender, code, *params]
    params += [lead_id or 0, app.tenant_id, app.platform, sender]  # no lead has id 0: no lead read
    found = await db.fetch_joined(User, [("t", Tenant), ("c", CardInstance), ("l", LeadRow)],
                                  _read_ahead_sql(bool(code)), params)
    if not found:  # nobody of the tenant: the card's code was kept all the same (the UPDATE runs regardless)
        return None, None, None
    clicker, tenant, card, lead = found[0]
    return card, (clicker, tenant), lead


async def handle_click(ctx: dict[str, Any], app_id: int, message: Inbound) -> None:
    services = services_of(ctx)
    app = await services.apps.require(app_id)
    assert message.card is not None
    try:
        key = ButtonKey.unpack(message.card.key)
    except BadButtonKey as e:
        await _clicked_card(app_id, message, services.clock.now())  # its code kept all the same, as for any click
        log.warning("click with a key that is not ours on app %d: %s", app_id, e)
        return
    handler = HANDLERS.get(key.action, on_lead_button)
    lead_id = key.target if handler is on_lead_button else None
    # The clicker with their tenant's row (a lead action reads the tenant's settings) and the lead they act on, in
    # the statement that reads the card.
    card, found, lead_row = await _read_click(app, message, lead_id, services.clock.now())
    if found is None:
        log.warning("click on app %d by an unknown or inactive user: refused", app_id)
        await _tell(services, app, message.sender, await stranger_text(app, message.sender))
        return
    clicker, tenant = found
    click = Click(services, app, clicker, key, card, services.clock.now(),
                  datetime.fromtimestamp(message.created_at, UTC) if message.created_at else None, message.sender)
    # The lead's load and the card redraws reuse the clicker's, tenant's and lead's rows.
    with outbox.knowing() as known, leadstore.read_ahead(lead_row):
        known.users[clicker.id] = clicker
        known.tenants[tenant.id] = tenant
        await handler(click)


async def _tell(services: Services, app: LoadedApp, recipient: str, text: str) -> None:
    await services.adapters.get(services, app).send_text(recipient, text)


async def redraw(click: Click, lead: lt.Lead, notice: str = "") -> None:
    """Redraw the clicked card for the clicker (with a notice), or message them if it is not their card."""
    if click.card is None or click.card.user_id != click.clicker.id:
        if notice:
            await _tell(click.services, click.app, _recipient(click), notice)
        return
    card = await cardsvc.lead_card_for(lead, click.clicker, now=click.at, notice=notice)
    await cardsvc.update_card(click.services, click.card, card, lead.version)


def recipient_of(click: Click) -> str:
    """The clicker's id on the clicked app's platform."""
    return _recipient(click)


def _recipient(click: Click) -> str:
    return click.sender


# The platform's click time and ours may disagree by a few seconds.
CLICK_CLOCK_SKEW = timedelta(minutes=1)


async def _went_through(click: Click, action: Any) -> bool:
    """The clicker already made this change on this lead from a card (the same action, to the same stage), since
    the click was made."""
    since = (click.clicked_at or click.at) - CLICK_CLOCK_SKEW
    events = await LeadEvent.filter(lead_id=click.key.target, tenant_id=click.clicker.tenant_id,
                                    actor_id=click.clicker.id, source=str(lt.EventSource.CARD), action=action.name,
                                    at__gte=since).values_list("after", flat=True)
    to = getattr(action, "to", None)
    return any(to is None or (after or {}).get("status") == str(to) for after in events)


async def on_refresh(click: Click) -> None:
    try:
        lead = await leadstore.load(click.key.target, click.clicker.tenant_id)
    except NotFound:
        log.warning("refresh of lead %d refused: not in the clicker's tenant", click.key.target)
        return
    await redraw(click, lead)


async def on_lead_button(click: Click) -> None:
    action = click.key.workflow_action()
    if action is None:
        log.info("no handler for button %s", click.key.action)
        return
    try:
        outcome = await leadservice.act(click.services, click.key.target, action, click.actor,
                                        source=lt.EventSource.CARD, seen_version=click.key.version)
    except NotFound:
        # Another tenant's lead id in a key: refused like any lead the clicker cannot see, and logged.
        log.warning("click by user %d on lead %d outside their tenant: refused", click.clicker.id, click.key.target)
        await _tell(click.services, click.app, _recipient(click), "找不到这条线索。")
        return
    if outcome.ok:
        return  # the follow-ups redraw every live card of the lead, the clicked one included
    refusal = outcome.decision
    assert isinstance(refusal, Refusal)
    if refusal.code is RefusalCode.STALE_CARD and await _went_through(click, action):
        # This very click, run again after a crash (or a double press): it did what it asked; the follow-ups of
        # that change redraw the card. "卡片已过期" would tell the rep it had not.
        log.info("click by user %d on lead %d already applied", click.clicker.id, click.key.target)
        return
    lead = await leadstore.load(click.key.target, click.clicker.tenant_id)
    log.info("click by user %d on lead %d refused: %s", click.clicker.id, lead.id, refusal.code)
    own_card = click.card is not None and click.card.user_id == click.clicker.id
    if refusal.code is RefusalCode.REASON_REQUIRED and own_card:
        await cardsvc.update_card(click.services, click.card, lost_reason_card(lead), lead.version)
        return
    await redraw(click, lead, refusal.message)
