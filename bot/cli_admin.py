"""`leadbot tenants|apps|users …`: the admin API's operations from the shell, on the database directly."""

from __future__ import annotations

import secrets as _random
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from bot import apps as app_ops
from bot import users as user_ops
from bot.cli_support import database, echo_json, run_command
from bot.config import Settings
from bot.errors import NotFound
from bot.schemas import (
    AppIn,
    ImportReport,
    TenantIn,
    TenantOut,
    TokenCreated,
    TokenOut,
    UserIn,
    UserOut,
    VerifyOut,
)
from handlers.auth import token_digest
from storage.models import ApiToken, App, AppStatus, Tenant, TokenScope, User


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json")


# tenants


@click.group()
def tenants() -> None:
    """Companies served by this installation, and their API tokens."""


@tenants.command("add")
@click.argument("name")
@click.option("--timezone", default="Asia/Shanghai", show_default=True)
def tenants_add(name: str, timezone: str) -> None:
    async def run(settings: Settings) -> None:
        data = TenantIn(name=name, timezone=timezone)
        async with database(settings):
            tenant = await Tenant.create(**data.model_dump())
            echo_json(_dump(TenantOut.model_validate(tenant)))

    run_command(run)


@tenants.command("list")
def tenants_list() -> None:
    async def run(settings: Settings) -> None:
        async with database(settings):
            echo_json([_dump(TenantOut.model_validate(t)) for t in await Tenant.all().order_by("id")])

    run_command(run)


@tenants.command("token")
@click.argument("tenant_id", type=int)
@click.option("--name", required=True)
@click.option("--scope", type=click.Choice([s.value for s in TokenScope]), default="api", show_default=True)
def tenants_token(tenant_id: int, name: str, scope: str) -> None:
    """Create a bearer token for a tenant; it is printed once and only its hash is kept."""

    async def run(settings: Settings) -> None:
        async with database(settings):
            tenant = await Tenant.get_or_none(id=tenant_id)
            if tenant is None:
                raise NotFound(f"tenant {tenant_id} not found")
            token = "lbt_" + _random.token_urlsafe(32)
            row = await ApiToken.create(tenant=tenant, name=name, scope=TokenScope(scope),
                                        token_sha256=token_digest(token))
            out = TokenCreated.model_validate({**TokenOut.model_validate(row).model_dump(), "token": token})
            echo_json(_dump(out))

    run_command(run)


# apps


@click.group()
def apps() -> None:
    """Bot apps: register, list, show, verify, enable, disable."""


@apps.group("add")
def apps_add() -> None:
    """Register an app; prints its id and the callback URLs to paste into the platform console."""


def _register_app(payload: dict[str, Any]) -> None:
    async def run(settings: Settings) -> None:
        data = AppIn.model_validate(payload).root
        async with database(settings) as box:
            app = await app_ops.register_app(box, settings, data.tenant_id, data)
            echo_json(_dump(app_ops.app_out(app, settings.base_url(), checklist=True)))

    run_command(run)


def _common_app_options(fn):
    for option in reversed([
        click.option("--tenant", "tenant_id", type=int, required=True, help="Tenant id."),
        click.option("--name", required=True, help="A name for admins."),
        click.option("--api-base", default=None, help="Replace the platform's API host."),
    ]):
        fn = option(fn)
    return fn


@apps_add.command("wecom")
@_common_app_options
@click.option("--corp-id", required=True)
@click.option("--agent-id", type=int, required=True)
@click.option("--secret", prompt=True, hide_input=True, help="The app's Secret (prompted when omitted).")
@click.option("--token", prompt=True, hide_input=True, help="The callback Token (prompted when omitted).")
@click.option("--aes-key", "encoding_aes_key", prompt=True, hide_input=True, help="The 43-character EncodingAESKey.")
def apps_add_wecom(tenant_id: int, name: str, api_base: str | None, **credentials: Any) -> None:
    _register_app({"platform": "wecom", "tenant_id": tenant_id, "name": name, "api_base": api_base,
                         "credentials": credentials})


@apps_add.command("dingtalk")
@_common_app_options
@click.option("--app-key", required=True)
@click.option("--app-secret", prompt=True, hide_input=True, help="The AppSecret (prompted when omitted).")
@click.option("--robot-code", default=None)
@click.option("--corp-id", default=None)
@click.option("--event-token", default=None)
@click.option("--event-aes-key", default=None)
@click.option("--mode", type=click.Choice(["http", "stream"]), default="http", show_default=True)
@click.option("--card-template-id", default=None)
def apps_add_dingtalk(tenant_id: int, name: str, api_base: str | None, **credentials: Any) -> None:
    creds = {k: v for k, v in credentials.items() if v is not None}
    _register_app({"platform": "dingtalk", "tenant_id": tenant_id, "name": name, "api_base": api_base,
                         "credentials": creds})


@apps.command("list")
@click.option("--tenant", "tenant_id", type=int, default=None)
def apps_list(tenant_id: int | None) -> None:
    async def run(settings: Settings) -> None:
        async with database(settings):
            qs = App.all().order_by("id")
            if tenant_id:
                qs = qs.filter(tenant_id=tenant_id)
            echo_json([_dump(app_ops.app_out(a, settings.base_url())) for a in await qs])

    run_command(run)


async def _get_app(app_id: int) -> App:
    app = await App.get_or_none(id=app_id)
    if app is None:
        raise NotFound(f"app {app_id} not found")
    return app


@apps.command("show")
@click.argument("app_id", type=int)
def apps_show(app_id: int) -> None:
    async def run(settings: Settings) -> None:
        async with database(settings):
            echo_json(_dump(app_ops.app_out(await _get_app(app_id), settings.base_url())))

    run_command(run)


def _status_command(status: AppStatus):
    def command(app_id: int) -> None:
        async def run(settings: Settings) -> None:
            async with database(settings):
                app = await app_ops.set_status(await _get_app(app_id), status)
                echo_json(_dump(app_ops.app_out(app, settings.base_url())))

        run_command(run)

    return command


@apps.command("verify")
@click.argument("app_id", type=int)
def apps_verify(app_id: int) -> None:
    """Check an app's credentials with its platform (fetches an access token); exit status 1 if refused."""

    async def run(settings: Settings) -> VerifyOut:
        from bot.app_verify import verify_app
        from bot.services import open_services

        async with open_services(settings) as services:
            return await verify_app(services, app_id)

    out = run_command(run)
    echo_json(_dump(out))
    if not out.ok:
        raise SystemExit(1)


@apps.command("test")
@click.argument("app_id", type=int)
@click.option("--to", "to", required=True, help="The person's platform user id (WeCom userid, DingTalk userid).")
@click.option("--wait", "wait_s", type=float, default=120.0, show_default=True,
              help="Seconds to wait for the click (0: do not wait). Needs a running leadbot serve/worker.")
def apps_test(app_id: int, to: str, wait_s: float) -> None:
    """Send a test card to a mapped person and wait for their click: "card delivered, click received 4.2 s later".
    Exit status 1 when the card was not delivered or no click came within --wait."""

    async def run(settings: Settings) -> dict:
        import asyncio

        from bot import testcard
        from bot.services import open_services

        async with open_services(settings) as services:
            out = await testcard.send(services, app_id, to)
            click.echo(out["summary"], err=True)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + wait_s
            while out["delivered"] and not out["clicked"] and loop.time() < deadline:
                await asyncio.sleep(0.5)
                out = await testcard.status(services, app_id, out["test_id"])
            return out

    out = run_command(run)
    echo_json(out)
    if not out["delivered"] or (wait_s > 0 and not out["clicked"]):
        raise SystemExit(1)


apps.command("disable", help="Disable an app: its callbacks are refused.")(
    click.argument("app_id", type=int)(_status_command(AppStatus.DISABLED)))
apps.command("enable", help="Enable a disabled app.")(
    click.argument("app_id", type=int)(_status_command(AppStatus.ACTIVE)))


# users


@click.group()
def users() -> None:
    """Reps, managers and admins of a tenant."""


@users.command("add")
@click.option("--tenant", "tenant_id", type=int, required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["rep", "manager", "admin"]), default="rep", show_default=True)
@click.option("--manager-id", type=int, default=None)
@click.option("--wecom-userid", default=None)
@click.option("--dingtalk-staff-id", default=None)
@click.option("--phone", default=None)
@click.option("--email", default=None)
@click.option("--region", default=None)
@click.option("--industry", "industries", multiple=True, help="Repeat for several.")
def users_add(tenant_id: int, **fields: Any) -> None:
    async def run(settings: Settings) -> None:
        data = UserIn.model_validate({k: v for k, v in fields.items() if v not in (None, ())} |
                                     {"industries": list(fields["industries"])})
        async with database(settings):
            user = await user_ops.create_user(tenant_id, data)
            echo_json(_dump(UserOut.model_validate(user)))

    run_command(run)


@users.command("list")
@click.option("--tenant", "tenant_id", type=int, default=None)
@click.option("--role", type=click.Choice(["rep", "manager", "admin"]), default=None)
def users_list(tenant_id: int | None, role: str | None) -> None:
    async def run(settings: Settings) -> None:
        async with database(settings):
            qs = User.all().order_by("id")
            if tenant_id:
                qs = qs.filter(tenant_id=tenant_id)
            if role:
                qs = qs.filter(role=role)
            echo_json([_dump(UserOut.model_validate(u)) for u in await qs])

    run_command(run)


@users.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "tenant_id", type=int, required=True)
@click.option("--dry-run", is_flag=True, help="Check every row and report what would change; store nothing.")
def users_import(file: Path, tenant_id: int, dry_run: bool) -> None:
    """Import users from a UTF-8 CSV (columns: name, role, manager, wecom_userid, dingtalk_staff_id, phone, email,
    region, industries). Existing users (same WeCom userid or DingTalk staffId) are updated; a file naming the same
    user id twice is refused whole."""

    async def run(settings: Settings) -> ImportReport:
        rows = user_ops.read_csv(file.read_text(encoding="utf-8"))
        async with database(settings):
            if not await Tenant.exists(id=tenant_id):
                raise NotFound(f"tenant {tenant_id} not found")
            progress = tqdm(rows, desc="importing users", unit="row", file=click.get_text_stream("stderr"))
            return await user_ops.import_rows(tenant_id, progress, ImportReport(), dry_run=dry_run)

    report = run_command(run)
    if dry_run:
        click.echo("dry run: nothing stored")
    click.echo(f"created {report.created}, updated {report.updated}, {len(report.errors)} error(s)")
    for err in report.errors:
        click.echo(f"  line {err.row}: {err.field + ': ' if err.field else ''}{err.reason}", err=True)
    if report.errors:
        raise SystemExit(1)


# deliveries


@click.command()
@click.option("--lead", "lead_id", type=int, required=True, help="Lead id.")
def deliveries(lead_id: int) -> None:
    """Every attempt to deliver the lead's alerts (chat, SMS, e-mail), oldest first; addresses are masked."""
    from bot.alerts import deliveries_of
    from storage.models import Lead

    async def run(settings: Settings) -> None:
        async with database(settings):
            if not await Lead.exists(id=lead_id):
                raise NotFound(f"lead {lead_id} not found")
            echo_json(await deliveries_of(lead_id))

    run_command(run)


# tokens


@tenants.command("tokens")
@click.argument("tenant_id", type=int)
def tenants_tokens(tenant_id: int) -> None:
    """List a tenant's API tokens (names, scopes, revocation; never the tokens)."""

    async def run(settings: Settings) -> None:
        async with database(settings):
            if not await Tenant.exists(id=tenant_id):
                raise NotFound(f"tenant {tenant_id} not found")
            rows = await ApiToken.filter(tenant_id=tenant_id).order_by("id")
            echo_json([_dump(TokenOut.model_validate(r)) for r in rows])

    run_command(run)


@tenants.command("revoke-token")
@click.argument("token_id", type=int)
def tenants_revoke_token(token_id: int) -> None:
    """Revoke an API token by its id: it is refused from now on."""

    async def run(settings: Settings) -> None:
        from bot.app_health import now_utc

        async with database(settings):
            row = await ApiToken.get_or_none(id=token_id)
            if row is None:
                raise NotFound(f"token {token_id} not found")
            if row.revoked_at is None:
                row.revoked_at = now_utc()
                await row.save(update_fields=["revoked_at", "updated_at"])
            echo_json(_dump(TokenOut.model_validate(row)))

    run_command(run)


# directory sync


@click.group()
def directory() -> None:
    """Sync reps and managers from the platform's directory (WeCom, DingTalk)."""


@directory.command("sync")
@click.argument("app_id", type=int)
@click.option("--apply", "apply_", is_flag=True, help="Make the changes (without it: a dry run that shows them).")
def directory_sync(app_id: int, apply_: bool) -> None:
    """Match people by platform user id; names, mobiles and department leaders as managers. Fields set by hand are
    left alone and listed as skipped; people sync brought in who left the directory are deactivated."""

    async def run(settings: Settings) -> dict:
        from bot import directory as sync_ops
        from bot.app_health import now_utc
        from bot.services import open_services

        async with open_services(settings) as services:
            app = await services.apps.require(app_id)
            report = await sync_ops.sync(services, app, dry_run=not apply_, now=now_utc())
            return report.as_dict()

    echo_json(run_command(run))


COMMANDS = [tenants, apps, users, deliveries, directory]
