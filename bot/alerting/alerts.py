"""Alerts to people: raised once, delivered down the channel chain, acknowledged, every attempt on record.

    raise_alert(spec)          an `Alert` row, unique by its dedup key, and a timer for its first attempt
    advance(alert_id, index)   attempt channel `index` (then the next ones while they fail); after a success,
                               wait for an ack until the channel's timeout (`bot.alerting.notify.chain` decides)
    ack(alert_id, via=...)     stop the chain: the card's 知道了 / 我来处理, or the e-mail's ack link

`channel_index` is the fencing token of a run: a run whose index no longer matches (a duplicate, a late timer)
does nothing, and each attempt is claimed by a conditional update before it starts. A claimed attempt holds a lease
(`next_at`) so that a run that died mid-send is taken over by the auditor once the lease has run out.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot import webhooks
from bot.admin.tenant_settings import NotifySection, TenantSettings
from bot.alerting.ladder import CHAT_ACTIONS, HEADLINES, OPEN_DEAL, AlertSpec, Timer, alert_timer
from bot.alerting.notify.base import Alert as Message
from bot.alerting.notify.base import Channel, DeliveryOutcome, DeliveryResult, HttpChannel, Recipient
from bot.alerting.notify.chain import (
    NO_ADDRESS,
    NOT_CONFIGURED,
    OPEN_STATES,
    AlertState,
    ChainPlan,
    Move,
    after_attempt,
    fallback_reason,
    open_email,
    skipped,
)
from bot.alerting.notify.chat import CardSent, ChatChannel, platform_key
from bot.alerting.notify.providers import open_tenant_sms
from bot.chat import cards as cardsvc
from bot.chat import clicks
from bot.leads import store as leadstore
from bot.leads.service import actor_for
from bot.leads.types import Lead, Status
from bot.platforms import registry
from bot.platforms.base import SendResult
from bot.runtime import metrics
from bot.runtime.services import Services
from bot.webhooks import EventType
from cards.model import Card, CardKind, Tone, alert_card, lead_title, notice_card
from storage.models import Alert, CardInstance, Deadline, Delivery, Tenant, User
from storage.models import Lead as LeadRow
from storage.secrets import SecretError

log = logging.getLogger(__name__)

ACK_PURPOSE = "alert.ack"
# Alert kinds that draw their own chat card (the board digest): kind -> builder(services, alert, user).
CardBuilder = Callable[[Services, Alert, User], Awaitable[Card]]
CARD_BUILDERS: dict[str, CardBuilder] = {}
# How long a claimed attempt is held: longer than the advance job's timeout (bot.jobs.timers), after which arq has
# cancelled the run, so a lapsed lease means its holder is gone and another run may take the attempt over.
ATTEMPT_LEASE_S = 120.0


# --- raising ----------------------------------------------------------------------------------------------------


async def raise_alert(tenant_id: int, spec: AlertSpec, *, now: datetime) -> list[Timer]:
    """Raise `spec` unless its dedup key was raised before; returns the timer of its first attempt."""
    if await Alert.exists(dedup_key=spec.dedup_key):
        return []
    tenant = await Tenant.get(id=tenant_id)
    try:
        alert = await create_alert(tenant, TenantSettings.of(tenant.settings), spec, now)
    except IntegrityError:  # raised concurrently by a duplicate run
        return []
    return [alert_timer(alert.id, 0, alert.next_at)] if alert is not None and alert.next_at else []


async def create_alert(tenant: Tenant, settings: TenantSettings, spec: AlertSpec, at: datetime) -> Alert | None:
    """The alert row, with its chain frozen on; None when the person is gone. Safe inside a transaction whose
    own fence makes `spec.dedup_key` unique (a duplicate key raises IntegrityError)."""
    if not await User.exists(id=spec.user_id, tenant_id=tenant.id, active=True):
        log.warning("alert %s not raised: user %s is gone or inactive", spec.dedup_key, spec.user_id)
        return None
    plan = {"chain": settings.notify.chain_plan(spec.kind).to_json(), "headline": spec.headline,
            "moot": dict(spec.moot)}
    if spec.extra:
        plan["extra"] = dict(spec.extra)
    alert = await Alert.create(
        tenant_id=tenant.id, lead_id=spec.lead_id, user_id=spec.user_id, kind=spec.kind, text=spec.text,
        dedup_key=spec.dedup_key, state=AlertState.PENDING, plan=plan, next_at=at, ack_token=secrets.token_hex(16),
        created_at=at,  # the board counts alerts by when they were raised, on the services' clock
    )
    log.info("alert %d raised: %s for user %d (lead %s)", alert.id, spec.kind, spec.user_id, spec.lead_id)
    return alert


def notify_spec(outbox_id: int, payload: Mapping[str, Any]) -> AlertSpec:
    """The workflow's `Notify` follow-up as an alert, keyed by its outbox row so a rerun raises it once."""
    kind = str(payload["kind"])
    return AlertSpec(int(payload["user_id"]), kind, HEADLINES.get(kind, "提醒"), str(payload["text"]),
                     payload.get("lead_id"), f"notify:{outbox_id}")


async def open_timers(page: int = 5000) -> AsyncIterator[list[Timer]]:
    """The next timer of every open alert (first attempt, ack timeout, lease end), a page at a time (re-arming)."""
    last = 0
    while True:
        rows = await Alert.filter(state__in=list(OPEN_STATES), id__gt=last).order_by("id").limit(page).values(
            "id", "channel_index", "next_at")
        if not rows:
            return
        yield [alert_timer(r["id"], r["channel_index"], r["next_at"]) for r in rows if r["next_at"]]
        last = rows[-1]["id"]


async def overdue_timers(before: datetime, limit: int = 1000) -> list[Timer]:
    """Open alerts whose next move is overdue: never started, an ack timeout passed, a send's lease ran out."""
    rows = await Alert.filter(state__in=list(OPEN_STATES), next_at__lt=before).order_by("next_at").limit(
        limit).values("id", "channel_index", "next_at")
    return [alert_timer(r["id"], r["channel_index"], r["next_at"]) for r in rows]


# --- the chain ----------------------------------------------------------------------------------------------------


async def advance(services: Services, alert_id: int, index: int, *, now: datetime | None = None,
                  retried: bool = False) -> list[Timer]:
    """Run the chain from channel `index`; returns the timer of the next step (an ack timeout), if any.

    `retried`: this is a later try of the job that claimed the attempt (one job id per alert and index, which arq
    never runs twice at once), so the claim's holder is dead and its lease need not be waited out.
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else services.clock.now
    alert = await Alert.filter(id=alert_id).select_related("user").first()
    if alert is None or alert.channel_index != index or alert.state not in OPEN_STATES:
        return []  # a duplicate or late run: another run moved on, or the alert was acked or finished
    if alert.state == AlertState.SENDING and alert.next_at is not None and alert.next_at > clock() and not retried:
        return []  # an attempt is under way elsewhere and its lease holds
    plan = ChainPlan.from_json(alert.plan["chain"])
    if alert.state == AlertState.WAITING and index > 0:
        metrics.ALERT_FALLBACKS.labels(plan.channels[index - 1], "no_ack").inc()
    reached = index > 0 and await Delivery.exists(alert_id=alert.id, outcome=str(DeliveryOutcome.OK))
    for i in range(index, len(plan.channels)):
        if await is_moot(alert):
            await Alert.filter(id=alert.id, channel_index=i, state__in=list(OPEN_STATES)).update(
                state=AlertState.MOOT, next_at=None)
            log.info("alert %d is moot (the lead moved on): chain stopped", alert.id)
            return []
        if not await _claim(alert.id, i, clock(), take_over=retried and i == index):
            return []
        result = await _attempt(services, alert, plan.channels[i])
        await _record(alert, result)
        move = after_attempt(plan, i, result.ok, clock(), reached_before=reached)
        reached = reached or result.ok
        if not result.ok:
            metrics.ALERT_FALLBACKS.labels(result.channel, fallback_reason(result)).inc()
        state = {Move.NEXT: AlertState.PENDING, Move.WAIT: AlertState.WAITING}.get(move.move, move.state)
        async with in_transaction():
            if not await _settle(alert.id, i, state, move.at if move.move is Move.WAIT else None, clock()):
                return []  # acked while we were sending
            if move.move is Move.DONE and move.state is AlertState.FAILED:
                await _emit_failed(alert, clock())
        if move.move is Move.DONE and move.state is AlertState.FAILED:
            webhooks.wake()
        if move.move is Move.WAIT:
            assert move.at is not None
            return [alert_timer(alert.id, i + 1, move.at)]
        if move.move is Move.DONE:
            if move.state is AlertState.FAILED:
                log.error("alert %d reached nobody: every channel failed", alert.id)
            return []
    return []


async def _emit_failed(alert: Alert, now: datetime) -> None:
    """`alert.delivery_failed` for the tenant's CRM: every channel of the chain failed for this person."""
    tried = await Delivery.filter(alert_id=alert.id).order_by("id").values_list("channel", "outcome", "code")
    data = {"alert_id": alert.id, "kind": alert.kind, "user_id": alert.user_id,
            "attempts": [{"channel": c, "outcome": o, "code": code} for c, o, code in tried]}
    await webhooks.emit(alert.tenant_id, EventType.ALERT_DELIVERY_FAILED, data, now=now, lead_id=alert.lead_id)


async def _claim(alert_id: int, index: int, now: datetime, *, take_over: bool = False) -> bool:
    lease = now + timedelta(seconds=ATTEMPT_LEASE_S)
    # A lease before `now` has lapsed; taking over (see `advance`), any lease is the dead try's and is void.
    held_until = lease if take_over else now
    open_or_lapsed = Q(state__in=[AlertState.PENDING, AlertState.WAITING]) | Q(state=AlertState.SENDING,
                                                                               next_at__lt=held_until)
    claimed = await Alert.filter(Q(id=alert_id, channel_index=index) & open_or_lapsed).update(
        state=AlertState.SENDING, next_at=lease)
    return claimed == 1


async def _settle(alert_id: int, index: int, state: AlertState | None, next_at: datetime | None,
                  now: datetime) -> bool:
    done = await Alert.filter(id=alert_id, channel_index=index, state=AlertState.SENDING).update(
        channel_index=index + 1, state=state, next_at=next_at if state != AlertState.PENDING else now)
    return done == 1


async def is_moot(alert: Alert) -> bool:
    """What the alert asks for no longer applies: the lock it reports was met, the quiet deal saw activity."""
    moot = alert.plan.get("moot") or {}
    if not moot or alert.lead_id is None:
        return False
    lead = await LeadRow.get_or_none(id=alert.lead_id)
    if lead is None:
        return True
    if "assignee_id" in moot:
        return lead.status != Status.ASSIGNED or lead.assignee_id != moot["assignee_id"]
    if "last_activity" in moot:
        seen = datetime.fromisoformat(moot["last_activity"])
        newer = lead.last_activity_at is not None and lead.last_activity_at > seen + timedelta(seconds=1)
        return newer or Status(lead.status) not in OPEN_DEAL
    return False


async def _attempt(services: Services, alert: Alert, channel_name: str) -> DeliveryResult:
    """One attempt, whatever happens: a bug on one channel's path must not keep the alert from the next one."""
    try:
        return await _try(services, alert, channel_name)
    except Exception as e:
        log.exception("alert %d: attempt on %s failed unexpectedly", alert.id, channel_name)
        return skipped(channel_name, "error", f"{type(e).__name__}: {e}"[:500])


async def _try(services: Services, alert: Alert, channel_name: str) -> DeliveryResult:
    user = alert.user
    tenant = await Tenant.get(id=alert.tenant_id)
    settings = TenantSettings.of(tenant.settings)
    opened = await _open(services, channel_name, alert, user, tenant, settings)
    if isinstance(opened, DeliveryResult):
        return opened  # not configured, or no address on this channel
    channel, recipient, lead = opened
    message = _message(services, alert, settings.notify, lead)
    try:
        return await channel.send(message, recipient)
    finally:
        if isinstance(channel, HttpChannel):
            await channel.aclose()


async def _record(alert: Alert, result: DeliveryResult) -> None:
    await Delivery.create(
        tenant_id=alert.tenant_id, alert_id=alert.id, lead_id=alert.lead_id, user_id=alert.user_id,
        channel=result.channel, provider=result.provider, address=result.address[:128],
        request_id=str(result.request_id)[:128] if result.request_id else None,
        code=result.code[:64] if result.code else None, detail=result.detail[:2000], latency_ms=result.latency_ms,
        outcome=str(result.outcome),
    )


# --- channels -----------------------------------------------------------------------------------------------------


def _recipient(user: User, platform_ids: dict[str, str]) -> Recipient:
    return Recipient(name=user.name, phone=user.phone, email=user.email, platform_ids=platform_ids)


Opened = tuple[Channel, Recipient, Lead | None]


async def _lead_of(alert: Alert) -> Lead | None:
    return await leadstore.load(alert.lead_id) if alert.lead_id is not None else None


async def _open(services: Services, name: str, alert: Alert, user: User, tenant: Tenant,
                settings: TenantSettings) -> Opened | DeliveryResult:
    """The channel `name` ready to reach `user`, or the record of why it cannot be tried."""
    if name == "chat":
        return await _open_chat(services, alert, user, tenant, settings)
    try:
        if name == "sms":
            channel = open_tenant_sms(services.box, services.http, settings.notify, services.clock)
        else:
            channel = open_email(services.settings, services.clock)
    except SecretError:
        log.error("tenant %d: the SMS secret cannot be opened (master key changed?)", tenant.id)
        return skipped(name, NOT_CONFIGURED, "stored credentials cannot be opened")
    if channel is None:
        return skipped(name, NOT_CONFIGURED, f"no {name} provider configured")
    return channel, _recipient(user, {}), await _lead_of(alert)


async def _open_chat(services: Services, alert: Alert, user: User, tenant: Tenant,
                     settings: TenantSettings) -> Opened | DeliveryResult:
    target = await cardsvc.reach(services, user)
    if target is None:
        return skipped("chat", NO_ADDRESS, "no active app of the tenant reaches this person")
    app, ident = target
    lead = await _lead_of(alert)
    builder = CARD_BUILDERS.get(alert.kind)
    card = await builder(services, alert, user) if builder else await _card(alert, user, tenant, settings, lead)
    # Where the app cannot show a card (the platform says from its credentials), markdown with the ack link goes
    # instead; a platform with its own alert channel (`alert_channel`) decides for itself.
    cards_ok = registry.get(app.platform).cards_supported(app.credentials)
    channel = ChatChannel.of(services.adapters.get(services, app), app_id=app.id, card=card,
                             cards_supported=cards_ok, on_card_sent=_keeper(services, alert, user, app.id, card),
                             timeout_s=settings.notify.chat_timeout_s)
    return channel, _recipient(user, {platform_key(app.platform, app.id): ident}), lead


# --- what the person sees ---------------------------------------------------------------------------------------


async def _card(alert: Alert, user: User, tenant: Tenant, settings: TenantSettings, lead: Lead | None) -> Card:
    """The alert card of the alert's lead as `user` may act on it (我来处理 for a manager), or a notice."""
    headline = alert.plan.get("headline", "提醒")
    if lead is None:
        return notice_card(headline, alert.text, ref_id=alert.id, tone=Tone.WARNING)
    deadline = await Deadline.filter(lead_id=lead.id, kind="response_lock", state="pending").first()
    card = alert_card(lead, actor_for(user), alert_id=alert.id, headline=headline,
                      settings=settings.workflow.to_value(), deadline=deadline.due_at if deadline else None,
                      tz=ZoneInfo(tenant.timezone))
    action = CHAT_ACTIONS.get(alert.kind)
    return replace(card, body=f"{alert.text}{action}" if action else alert.text)


def _keeper(services: Services, alert: Alert, user: User, app_id: int, card: Card) -> CardSent:
    """Keep a sent alert card on record, so a click on it finds its alert (and the platform's update code)."""

    async def keep(card_id: str, recipient: str, result: SendResult) -> None:
        expires = services.clock.now() + cardsvc.RESPONSE_CODE_TTL if result.response_code else None
        await CardInstance.create(
            tenant_id=alert.tenant_id, app_id=app_id, user_id=user.id, kind=str(card.kind), subject_id=alert.id,
            card_id=card_id, recipient=recipient, version=0, response_code=result.response_code,
            code_expires_at=expires,
        )

    return keep


def _message(services: Services, alert: Alert, notify: NotifySection, lead: Lead | None) -> Message:
    headline = alert.plan.get("headline", "提醒")
    base = services.settings.base_url()
    subject, link, values = headline, None, {"title": headline}
    if lead is not None:
        subject = f"{headline}：{lead_title(lead)}"
        link = notify.lead_link(lead.id) or f"{base}/api/leads/{lead.id}"
        values.update(lead=lead_title(lead), rep=lead.assignee_name or "-")
    names = list(notify.sms.params) if notify.sms is not None else ["title", "lead"]
    return Message(
        id=str(alert.id), kind=alert.kind, subject=subject, text=alert.text, link=link,
        ack_link=f"{base}/ack/{ack_token(services, alert)}", sms_params={n: values.get(n, "-") for n in names},
    )


# --- acknowledging ------------------------------------------------------------------------------------------------


async def ack(alert_id: int, *, via: str, now: datetime, by_user_id: int | None = None) -> bool:
    """Stop the alert's chain; True when this call acknowledged it (False: it already was)."""
    done = await Alert.filter(id=alert_id).exclude(state=AlertState.ACKED).update(
        state=AlertState.ACKED, acked_at=now, acked_by=by_user_id, ack_via=via, next_at=None)
    if done:
        log.info("alert %d acknowledged via %s", alert_id, via)
    return bool(done)


def ack_token(services: Services, alert: Alert) -> str:
    """The e-mail link's token: the alert id and its salt, sealed (authenticated) under the master key."""
    sealed = services.box.seal(f"{alert.id}:{alert.ack_token}", ACK_PURPOSE)
    return base64.urlsafe_b64encode(base64.b64decode(sealed.removeprefix("v1:"))).decode().rstrip("=")


async def alert_for_token(services: Services, token: str) -> Alert | None:
    """The alert a link's token names, or None for anything forged, truncated or no longer valid."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        alert_id, _, salt = services.box.open("v1:" + base64.b64encode(raw).decode(), ACK_PURPOSE).partition(":")
        alert = await Alert.get_or_none(id=int(alert_id))
    except (SecretError, binascii.Error, ValueError):
        return None
    if alert is None or not alert.ack_token or not secrets.compare_digest(alert.ack_token, salt):
        return None
    return alert


async def on_ack(click: clicks.Click) -> None:
    alert = await Alert.get_or_none(id=click.key.target, tenant_id=click.clicker.tenant_id)
    if alert is None:
        log.info("知道了 on something that is not an alert of this tenant (target %d)", click.key.target)
        return
    if alert.user_id != click.clicker.id:
        if to := clicks.recipient_of(click):
            await click.services.adapters.get(click.services, click.app).send_text(to, "这条提醒不是发给您的。")
        return
    await ack(alert.id, via="card", by_user_id=click.clicker.id, now=click.at)
    if click.card is not None and click.card.user_id == click.clicker.id:
        tenant = await Tenant.get(id=alert.tenant_id)
        card = await _card(alert, click.clicker, tenant, TenantSettings.of(tenant.settings), await _lead_of(alert))
        await cardsvc.update_card(click.services, click.card, replace(card, notice="已确认收到"), click.card.version)


async def on_claim(click: clicks.Click) -> None:
    """我来处理 on an alert card answers the alert as well as taking the lead."""
    if click.card is not None and click.card.kind == CardKind.DIGEST:
        # 接手 on the board digest: the digest is not the lead's card, so a refusal is told, not drawn over it.
        click = replace(click, card=None)
    if click.card is not None and click.card.kind == CardKind.ALERT:
        alert = await Alert.get_or_none(id=click.card.subject_id, tenant_id=click.clicker.tenant_id)
        if alert is not None and alert.user_id == click.clicker.id:
            await ack(alert.id, via="claim", by_user_id=click.clicker.id, now=click.at)
    await clicks.on_lead_button(click)


# --- the record ---------------------------------------------------------------------------------------------------


async def deliveries_of(lead_id: int) -> list[dict[str, Any]]:
    """Every delivery attempt for the lead's alerts, oldest first, with the alert's kind and the person's name."""
    rows = await Delivery.filter(lead_id=lead_id).order_by("id").values()
    kinds = dict(await Alert.filter(id__in={r["alert_id"] for r in rows if r["alert_id"]}).values_list("id", "kind"))
    names = dict(await User.filter(id__in={r["user_id"] for r in rows if r["user_id"]}).values_list("id", "name"))
    return [{**r, "alert_kind": kinds.get(r["alert_id"]), "user_name": names.get(r["user_id"])} for r in rows]
