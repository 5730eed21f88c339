"""`leadbot webhooks …` and `leadbot leads export`: what flows out of the service, from the shell.

They work on the database directly, like the other admin commands (no server needed). `--tenant` scopes a command
to one tenant: another tenant's subscription is then "not found", exactly as through a tenant's admin token.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from bot.cli import support as cli_support
from bot.cli.support import database, echo_json, run_command
from bot.errors import NotFound
from bot.leads import exports
from bot.leads.types import Status
from bot.runtime.config import Settings
from bot.webhooks import subscriptions as ops
from bot.webhooks.payloads import SUBSCRIBABLE
from bot.webhooks.schemas import RedeliverIn, SubscriptionCreated, SubscriptionIn, SubscriptionOut
from storage.models import DeliveryState, Tenant
from storage.models import WebhookSubscription as Subscription

_TENANT = click.option("--tenant", "tenant_id", type=int, default=None, help="Only this tenant's subscriptions.")


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json")


def _created(sub: Subscription, secret: str) -> dict[str, Any]:
    return _dump(SubscriptionCreated.model_validate({**SubscriptionOut.model_validate(sub).model_dump(),
                                                     "secret": secret}))


@click.group()
def webhooks() -> None:
    """Signed webhooks to a tenant's CRM: subscriptions, tests, attempts, replays."""


@webhooks.command("add")
@click.option("--tenant", "tenant_id", type=int, required=True)
@click.option("--url", required=True, help="The receiver's http(s) URL.")
@click.option("--events", required=True,
              help=f"Comma-separated event types ({', '.join(SUBSCRIBABLE)}) or '*' for all.")
@click.option("--description", default="")
@click.option("--disabled", is_flag=True, help="Create it disabled (enable it once the receiver is ready).")
def webhooks_add(tenant_id: int, url: str, events: str, description: str, disabled: bool) -> None:
    """Subscribe a URL; prints the subscription with its signing secret, which is shown this once only."""

    async def run(settings: Settings) -> None:
        data = SubscriptionIn(tenant_id=tenant_id, url=url, description=description, enabled=not disabled,
                              event_types=[e.strip() for e in events.split(",") if e.strip()])
        async with database(settings) as box:
            sub, secret = await ops.create(box, settings, tenant_id, data)
            await cli_support.tenant_changed(settings, tenant_id)  # running processes send the next events to it
            echo_json(_created(sub, secret))

    run_command(run)


@webhooks.command("list")
@_TENANT
def webhooks_list(tenant_id: int | None) -> None:
    """List subscriptions (with --tenant, only that tenant's)."""

    async def run(settings: Settings) -> None:
        async with database(settings):
            qs = Subscription.all().order_by("id")
            if tenant_id is not None:
                qs = qs.filter(tenant_id=tenant_id)
            echo_json([_dump(SubscriptionOut.model_validate(s)) for s in await qs])

    run_command(run)


def _one(action: str, help_text: str) -> Any:
    """A command taking a subscription id that sets enabled, or rotates the secret."""

    @webhooks.command(action, help=help_text)
    @click.argument("subscription_id", type=int)
    @_TENANT
    def command(subscription_id: int, tenant_id: int | None) -> None:
        async def run(settings: Settings) -> None:
            async with database(settings) as box:
                sub = await ops.get(subscription_id, tenant_id)
                if action == "rotate-secret":
                    echo_json(_created(sub, await ops.rotate_secret(box, sub)))
                    return
                if action == "show":
                    echo_json(_dump(SubscriptionOut.model_validate(sub)))
                    return
                sub = await ops.set_enabled(sub, action == "enable", cli_support.CLOCK.now())
                await cli_support.tenant_changed(settings, sub.tenant_id)  # as running processes keep it
                echo_json(_dump(SubscriptionOut.model_validate(sub)))

        run_command(run)

    return command


_one("show", "Show a subscription (never its secret).")
_one("disable", "Stop sending to a subscription.")
_one("enable", "Send to a subscription again; what is pending gets a fresh 24-hour retry window.")
_one("rotate-secret", "Replace the signing secret; prints the new one, once.")


@webhooks.command("test")
@click.argument("subscription_id", type=int)
@_TENANT
def webhooks_test(subscription_id: int, tenant_id: int | None) -> None:
    """Send a webhook.test event now and print the receiver's answer (exit 1 if it was not a 2xx)."""

    async def run(settings: Settings) -> bool:
        async with database(settings) as box:
            sub = await ops.get(subscription_id, tenant_id)
            out = await ops.send_test(box, settings, sub, cli_support.CLOCK)
            echo_json(_dump(out))
            return out.ok

    if not run_command(run):
        raise SystemExit(1)


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo("Asia/Shanghai"))


@webhooks.command("redeliver")
@click.argument("subscription_id", type=int)
@click.option("--event", "event_id", default=None, help="Replay this event id (evt_…).")
@click.option("--since", default=None, help="Replay events from this time (ISO 8601; no offset means Beijing).")
@click.option("--until", default=None, help="… up to this time (default: now).")
@click.option("--dead-only", is_flag=True, help="Only events that were given up on.")
@_TENANT
def webhooks_redeliver(subscription_id: int, event_id: str | None, since: str | None, until: str | None,
                       dead_only: bool, tenant_id: int | None) -> None:
    """Queue one event, or a time range of events, to a subscription again; a running worker sends them."""
    start, end = _time(since), _time(until)

    async def run(settings: Settings) -> None:
        data = RedeliverIn(event_id=event_id, since=start, until=end, only_dead=dead_only)
        async with database(settings):
            sub = await ops.get(subscription_id, tenant_id)
            echo_json({"queued": await ops.redeliver(sub, data, cli_support.CLOCK.now())})

    run_command(run)


@webhooks.command("attempts")
@click.argument("subscription_id", type=int)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@_TENANT
def webhooks_attempts(subscription_id: int, limit: int, tenant_id: int | None) -> None:
    """The latest HTTP attempts to a subscription, newest first."""

    async def run(settings: Settings) -> None:
        async with database(settings):
            sub = await ops.get(subscription_id, tenant_id)
            echo_json([_dump(a) for a in await ops.attempts(sub, limit=limit)])

    run_command(run)


@webhooks.command("deliveries")
@click.argument("subscription_id", type=int)
@click.option("--state", type=click.Choice([s.value for s in DeliveryState]), default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@_TENANT
def webhooks_deliveries(subscription_id: int, state: str | None, limit: int, tenant_id: int | None) -> None:
    """Events on their way to a subscription (or given up on), newest first."""

    async def run(settings: Settings) -> None:
        async with database(settings):
            sub = await ops.get(subscription_id, tenant_id)
            rows = await ops.deliveries(sub, state=DeliveryState(state) if state else None, limit=limit)
            echo_json([_dump(d) for d in rows])

    run_command(run)


@click.command("export")
@click.option("--tenant", "tenant_id", type=int, required=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), default="csv", show_default=True)
@click.option("--status", type=click.Choice([s.value for s in Status]), default=None)
@click.option("--assignee", "assignee_id", type=int, default=None)
@click.option("--overdue/--not-overdue", default=None, help="Only leads past (or within) their response deadline.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here (CSV goes to standard output without it; XLSX needs it).")
def leads_export(tenant_id: int, fmt: str, status: str | None, assignee_id: int | None, overdue: bool | None,
                 output: Path | None) -> None:
    """Export a tenant's leads as CSV (UTF-8 with BOM, opens in Excel) or XLSX, filtered like GET /api/leads."""
    if fmt == "xlsx" and output is None:
        raise click.UsageError("XLSX needs --output FILE")

    async def run(settings: Settings) -> None:
        async with database(settings):
            tenant = await Tenant.get_or_none(id=tenant_id)
            if tenant is None:
                raise NotFound(f"tenant {tenant_id} not found")
            tz = ZoneInfo(tenant.timezone)
            rows = exports.chunks(tenant_id, exports.Filters(Status(status) if status else None, assignee_id,
                                                             overdue), now=cli_support.CLOCK.now())
            if fmt == "xlsx":
                assert output is not None
                await exports.write_xlsx(rows, output, tz)
                return
            sink = output.open("wb") if output else sys.stdout.buffer
            try:
                async for piece in exports.csv_bytes(rows, tz):
                    sink.write(piece)
            finally:
                if output:
                    sink.close()
                else:
                    sink.flush()

    run_command(run)


COMMANDS = [webhooks]
