"""`leadbot tenants|apps|users …`: the admin API's operations from the shell, on the database directly."""

from __future__ import annotations

import json
import secrets as _random
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from bot.admin import app_health
from bot.admin import apps as app_ops
from bot.admin import rules as rule_ops
from bot.admin import users as user_ops
from bot.admin.platform_ids import EXTERNAL_FIELDS
from bot.admin.schemas import (
    AppIn,
    AppPatch,
    ImportReport,
    TenantIn,
    TenantOut,
    TokenCreated,
    TokenOut,
    UserIn,
    VerifyOut,
)
from bot.cli import support as cli_support
from bot.cli.support import database, echo_json, run_command
from bot.errors import InvalidField, NotFound
from bot.leads.schemas import RuleIn, RuleOut
from bot.platforms import registry
from bot.platforms.plugin import PlatformPlugin
from bot.runtime.config import Settings
from handlers.auth import token_digest
from storage.models import ApiToken, App, AppState, AppStatus, RoutingRule, Tenant, TokenScope, User


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
    """Create a tenant (one company); prints its id."""

    async def run(settings: Settings) -> None:
        data = TenantIn(name=name, timezone=timezone)
        async with database(settings):
            tenant = await Tenant.create(**data.model_dump())
            echo_json(_dump(TenantOut.model_validate(tenant)))

    run_command(run)


@tenants.command("list")
def tenants_list() -> None:
    """List every tenant."""

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
    """Bot apps: register, list, show, update, rotate a secret, verify, test, enable, disable."""


class _AddCommands(click.Group):
    """One `leadbot apps add <platform>` per platform of the wiring's table, read when asked for (so `leadbot --help`
    and `leadbot extract` import none of the service)."""

    @staticmethod
    def _platforms() -> dict[str, PlatformPlugin]:
        from bot.runtime import wiring

        return {p.name: p for p in wiring.PLATFORMS if p.cli_add is not None}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self._platforms())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        platform = self._platforms().get(cmd_name)
        return _add_command(platform) if platform is not None else None


@apps.group("add", cls=_AddCommands)
def apps_add() -> None:
    """Register an app; prints its id and the callback URLs to paste into the platform console."""


def _register_app(payload: dict[str, Any]) -> None:
    async def run(settings: Settings) -> None:
        data = AppIn.model_validate(payload).root
        async with database(settings) as box:
            app = await app_ops.register_app(box, settings, data.tenant_id, data)
            echo_json(_dump(app_ops.app_out(app, settings.base_url(), checklist=True)))

    run_command(run)


# Every app has these; each platform's `leadbot apps add <name>` adds its credentials' options (its `cli_add`).
_COMMON_APP_OPTIONS = (
    click.Option(["--tenant", "tenant_id"], type=int, required=True, help="Tenant id."),
    click.Option(["--name"], required=True, help="A name for admins."),
    click.Option(["--api-base"], default=None, help="Replace the platform's API host."),
)


def _add_command(platform: PlatformPlugin) -> click.Command:
    """`leadbot apps add <platform>`: the common options, then the platform's credentials."""
    assert platform.cli_add is not None
    credentials_of = platform.cli_add.callback
    assert credentials_of is not None

    def add(tenant_id: int, name: str, api_base: str | None, **credentials: Any) -> None:
        _register_app({"platform": platform.name, "tenant_id": tenant_id, "name": name, "api_base": api_base,
                       "credentials": credentials_of(**credentials)})

    return click.Command(platform.name, callback=add, help=platform.cli_add.help,
                         params=[*_COMMON_APP_OPTIONS, *platform.cli_add.params])


@apps.command("list")
@click.option("--tenant", "tenant_id", type=int, default=None)
def apps_list(tenant_id: int | None) -> None:
    """List apps (of one tenant with --tenant), with their state."""

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
    """Show an app: public credential fields, state, callback URLs (never secrets)."""

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
        from bot.admin.app_verify import verify_app
        from bot.runtime.services import open_services

        async with open_services(settings) as services:
            return await verify_app(services, app_id)

    out = run_command(run)
    echo_json(_dump(out))
    if not out.ok:
        raise SystemExit(1)


POLL_S = 0.5


@apps.command("test")
@click.argument("app_id", type=int)
@click.option("--to", "to", required=True, help="The person's user id on the app's platform.")
@click.option("--wait", "wait_s", type=float, default=120.0, show_default=True,
              help="Seconds to wait for the click (0: do not wait). Needs a running leadbot serve/worker.")
def apps_test(app_id: int, to: str, wait_s: float) -> None:
    """Send a test card to a mapped person and wait for their click: "card delivered, click received 4.2 s later".
    Exit status 1 when the card was not delivered or no click came within --wait."""

    async def run(settings: Settings) -> dict:
        import asyncio

        from bot.chat import testcard
        from bot.runtime.services import open_services

        async with open_services(settings) as services:
            out = await testcard.send(services, app_id, to)
            click.echo(out["summary"], err=True)
            for _ in range(int(wait_s / POLL_S)):  # counted polls: no clock read needed for the timeout
                if not out["delivered"] or out["clicked"]:
                    break
                await asyncio.sleep(POLL_S)
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


def _platforms_installed() -> None:
    """The wiring's platform table in the registries, and so each platform's outside id field in
    `bot.admin.platform_ids.EXTERNAL_FIELDS`: asked for when a command needs them to parse or to show its help, so
    importing the CLI (`leadbot --help`, `leadbot extract`) imports none of the service."""
    from bot.runtime import wiring

    wiring.install()


class _WithPlatformIds(click.Command):
    """A command with a flag per platform for the person's id there (its outside field name with dashes, from
    `EXTERNAL_FIELDS`), right after `--manager-id`."""

    _platform_params: list[click.Parameter] | None = None

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if self._platform_params is None:
            _platforms_installed()
            self._platform_params = [click.Option(["--" + name.replace("_", "-"), name], default=None)
                                     for name in EXTERNAL_FIELDS.values()]
        params = super().get_params(ctx)
        at = next(i for i, p in enumerate(params) if p.name == "manager_id") + 1
        return [*params[:at], *self._platform_params, *params[at:]]


@users.command("add", cls=_WithPlatformIds)
@click.option("--tenant", "tenant_id", type=int, required=True)
@click.option("--name", required=True)
@click.option("--role", type=click.Choice(["rep", "manager", "admin"]), default="rep", show_default=True)
@click.option("--manager-id", type=int, default=None)
@click.option("--phone", default=None)
@click.option("--email", default=None)
@click.option("--region", default=None)
@click.option("--industry", "industries", multiple=True, help="Repeat for several.")
def users_add(tenant_id: int, **fields: Any) -> None:
    """Add a rep, manager or admin; the fields given are marked as set by hand."""

    async def run(settings: Settings) -> None:
        data = UserIn.model_validate({k: v for k, v in fields.items() if v not in (None, ())} |
                                     {"industries": list(fields["industries"])})
        async with database(settings):
            user = await user_ops.create_user(tenant_id, data)
            echo_json(_dump(await user_ops.user_out(user)))

    run_command(run)


@users.command("list")
@click.option("--tenant", "tenant_id", type=int, default=None)
@click.option("--role", type=click.Choice(["rep", "manager", "admin"]), default=None)
def users_list(tenant_id: int | None, role: str | None) -> None:
    """List users (of one tenant, of one role)."""

    async def run(settings: Settings) -> None:
        async with database(settings):
            qs = User.all().order_by("id")
            if tenant_id:
                qs = qs.filter(tenant_id=tenant_id)
            if role:
                qs = qs.filter(role=role)
            echo_json([_dump(u) for u in await user_ops.users_out(await qs)])

    run_command(run)


class _UsersImport(click.Command):
    """Its help names the CSV's columns, among them each platform's id."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        _platforms_installed()
        self.help = (f"Import users from a UTF-8 CSV (columns: {', '.join(user_ops.csv_columns())}). Existing "
                     f"users (the same id on a platform: {', '.join(EXTERNAL_FIELDS.values())}) are updated; a file "
                     "naming the same user id twice is refused whole.")
        super().format_help_text(ctx, formatter)


@users.command("import", cls=_UsersImport, short_help="Import users from a UTF-8 CSV.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tenant", "tenant_id", type=int, required=True)
@click.option("--dry-run", is_flag=True, help="Check every row and report what would change; store nothing.")
def users_import(file: Path, tenant_id: int, dry_run: bool) -> None:
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
    from bot.alerting.alerts import deliveries_of
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
        async with database(settings):
            row = await ApiToken.get_or_none(id=token_id)
            if row is None:
                raise NotFound(f"token {token_id} not found")
            if row.revoked_at is None:
                row.revoked_at = cli_support.CLOCK.now()
                await row.save(update_fields=["revoked_at", "updated_at"])
                await cli_support.tenant_changed(settings, row.tenant_id)  # refused by running processes too
            echo_json(_dump(TokenOut.model_validate(row)))

    run_command(run)


# directory sync


@click.group()
def directory() -> None:
    """Sync reps and managers from the app's platform directory."""


@directory.command("sync")
@click.argument("app_id", type=int)
@click.option("--apply", "apply_", is_flag=True, help="Make the changes (without it: a dry run that shows them).")
def directory_sync(app_id: int, apply_: bool) -> None:
    """Match people by platform user id; names, mobiles and department leaders as managers. Fields set by hand are
    left alone and listed as skipped; people sync brought in who left the directory are deactivated."""

    async def run(settings: Settings) -> dict:
        from bot.admin import directory as sync_ops
        from bot.runtime.services import open_services

        async with open_services(settings) as services:
            app = await services.apps.require(app_id)
            report = await sync_ops.sync(services, app, dry_run=not apply_, now=services.clock.now())
            return report.as_dict()

    echo_json(run_command(run))


COMMANDS = [tenants, apps, users, deliveries, directory]


# The rest of the admin API from the shell (issue 19): every admin operation has a command.


def _json_arg(value: str) -> Any:
    """A value as JSON when it parses (numbers, true, lists, objects), else the plain text."""
    try:
        return json.loads(value)
    except ValueError:
        return value


@apps.command("update")
@click.argument("app_id", type=int)
@click.option("--name", default=None, help="A new name for admins.")
@click.option("--api-base", default=None, help="A new API host (needs the secret again: --set secret=…).")
@click.option("--set", "assignments", multiple=True, metavar="FIELD=VALUE",
              help="A credential field to change (corp_id, agent_id, token, robot_code, mode, card_template_id…); "
                   "repeat for several.")
def apps_update(app_id: int, name: str | None, api_base: str | None, assignments: tuple[str, ...]) -> None:
    """Change an app's name, api_base or credential fields; the result is validated as a whole."""
    creds: dict[str, Any] = {}
    for item in assignments:
        field, sep, value = item.partition("=")
        if not sep or not field:
            raise click.BadParameter(f"{item!r} is not FIELD=VALUE", param_hint="--set")
        creds[field.strip()] = _json_arg(value) if field.strip() == "agent_id" else value
    payload: dict[str, Any] = {k: v for k, v in (("name", name), ("api_base", api_base)) if v is not None}
    if creds:
        payload["credentials"] = creds
    _update_app(app_id, AppPatch.model_validate(payload))


def _update_app(app_id: int, patch: AppPatch) -> None:
    async def run(settings: Settings) -> None:
        async with database(settings) as box:
            app = await app_ops.update_app(box, settings, await _get_app(app_id), patch)
            echo_json(_dump(app_ops.app_out(app, settings.base_url())))

    run_command(run)


@apps.command("rotate-secret")
@click.argument("app_id", type=int)
@click.option("--secret", prompt="New secret", hide_input=True, help="The new Secret / AppSecret (prompted).")
def apps_rotate_secret(app_id: int, secret: str) -> None:
    """Store a new app secret (the one the platform's console resets) after resetting it there; then run
    `leadbot apps verify` (which re-registers whatever the platform derives from it, such as a card callback)."""

    async def run(settings: Settings) -> None:
        async with database(settings) as box:
            app = await _get_app(app_id)
            field = registry.get(app.platform).secret_field
            app = await app_ops.update_app(box, settings, app, AppPatch(credentials={field: secret}))
            await app_health.set_state(app.id, AppState.UNVERIFIED, "secret rotated: verify again",
                                       now=cli_support.CLOCK.now())
            await app.refresh_from_db()
            echo_json(_dump(app_ops.app_out(app, settings.base_url())))

    run_command(run)


@users.command("disable")
@click.argument("user_id", type=int)
@click.option("--hand-over-to", "successor_id", type=int, default=None,
              help="Hand the user's open leads to this user (default: back to the pool).")
def users_disable(user_id: int, successor_id: int | None) -> None:
    """Deactivate a user: their open leads go to --hand-over-to (or the pool) and their manager is told."""

    async def run(settings: Settings) -> None:
        from bot.leads import service as leadservice
        from bot.runtime.services import open_services

        async with open_services(settings) as services:
            user = await User.get_or_none(id=user_id)
            if user is None:
                raise NotFound(f"user {user_id} not found")
            successor = None
            if successor_id is not None:
                successor = await User.get_or_none(id=successor_id, tenant_id=user.tenant_id, active=True)
                if successor is None or successor.id == user.id:
                    raise InvalidField("hand_over_to", "the successor must be another active user of this tenant")
            user = await user_ops.deactivate_user(user)
            moved = await leadservice.deactivate_rep(services, user, successor, inline=True)
            click.echo(f"{moved} open lead(s) handed over", err=True)
            echo_json(_dump(await user_ops.user_out(user)))

    run_command(run)


# routing rules


@click.group()
def rules() -> None:
    """A tenant's routing rules: which rep gets a new lead."""


@rules.command("list")
@click.argument("tenant_id", type=int)
def rules_list(tenant_id: int) -> None:
    """The tenant's rules in the order they are tried."""

    async def run(settings: Settings) -> None:
        async with database(settings):
            rows = await RoutingRule.filter(tenant_id=tenant_id).order_by("position", "id")
            echo_json([_dump(RuleOut.model_validate(r)) for r in rows])

    run_command(run)


@rules.command("add")
@click.argument("tenant_id", type=int)
@click.argument("rule_json")
def rules_add(tenant_id: int, rule_json: str) -> None:
    """Add a rule given as JSON, as the API takes it, e.g. '{"name": "华东", "regions": ["华东"],
    "strategy": "named", "named_rep_id": 7}'."""

    async def run(settings: Settings) -> None:
        data = RuleIn.model_validate_json(rule_json)
        async with database(settings):
            row = await rule_ops.create_rule(tenant_id, data)
            await cli_support.tenant_changed(settings, tenant_id)  # running processes read the rules again
            echo_json(_dump(RuleOut.model_validate(row)))

    run_command(run)


@rules.command("delete")
@click.argument("rule_id", type=int)
def rules_delete(rule_id: int) -> None:
    """Delete a rule by its id."""

    async def run(settings: Settings) -> None:
        async with database(settings):
            row = await RoutingRule.get_or_none(id=rule_id)
            if row is None:
                raise NotFound(f"rule {rule_id} not found")
            await row.delete()
            await cli_support.tenant_changed(settings, row.tenant_id)  # running processes read the rules again
            echo_json(_dump(RuleOut.model_validate(row)))

    run_command(run)


# tenant settings


@click.group("settings")
def tenant_settings_cli() -> None:
    """A tenant's settings: workflow, escalation, calendar, notify, board."""


@tenant_settings_cli.command("show")
@click.argument("tenant_id", type=int)
def settings_show(tenant_id: int) -> None:
    """The tenant's settings with defaults filled in (secrets shown only as set or not)."""

    async def run(settings: Settings) -> None:
        from bot.admin.settings_patch import shown
        from bot.admin.tenant_settings import TenantSettings

        async with database(settings):
            tenant = await Tenant.get_or_none(id=tenant_id)
            if tenant is None:
                raise NotFound(f"tenant {tenant_id} not found")
            echo_json(shown(TenantSettings.of(tenant.settings)))

    run_command(run)


@tenant_settings_cli.command("set")
@click.argument("tenant_id", type=int)
@click.argument("key")
@click.argument("value")
def settings_set(tenant_id: int, key: str, value: str) -> None:
    """Set one key, e.g. `escalation.stale_after_hours 48` or `board.digest_time 08:30` (VALUE as JSON when it
    parses, else text; `null` resets it to its default). The merged settings are validated as a whole."""

    async def run(settings: Settings) -> None:
        from bot.admin import settings_patch

        section, *path = key.split(".")
        if section not in settings_patch.SECTIONS or not path:
            raise InvalidField("key", f"SECTION.KEY with a section among {', '.join(settings_patch.SECTIONS)}")
        patch: Any = _json_arg(value)
        for part in reversed(path):
            patch = {part: patch}
        async with database(settings) as box:
            tenant = await Tenant.get_or_none(id=tenant_id)
            if tenant is None:
                raise NotFound(f"tenant {tenant_id} not found")
            applied = await settings_patch.apply(tenant, {section: patch}, box, settings.allow_private_urls)
            await cli_support.tenant_changed(settings, tenant_id)  # running processes read the tenant again
            shown = settings_patch.shown(applied)
            echo_json(shown)

    run_command(run)


# lexicon


@click.group()
def lexicon() -> None:
    """A tenant's voice lexicon: competitors and their spellings, products, titles, keywords, hot words."""


@lexicon.command("show")
@click.argument("tenant_id", type=int)
def lexicon_show(tenant_id: int) -> None:
    """The tenant's edits (what `lexicon set` takes)."""

    async def run(settings: Settings) -> None:
        from bot.voice import lexicons

        async with database(settings):
            echo_json((await lexicons.tenant_section(tenant_id)).model_dump(mode="json"))

    run_command(run)


@lexicon.command("set")
@click.argument("tenant_id", type=int)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def lexicon_set(tenant_id: int, file: Path) -> None:
    """Replace the tenant's edits with a JSON file of the shape `lexicon show` prints."""

    async def run(settings: Settings) -> None:
        from bot.admin.tenant_settings import LexiconSection
        from bot.voice import lexicons

        section = LexiconSection.model_validate_json(file.read_text(encoding="utf-8"))
        async with database(settings):
            await lexicons.tenant_section(tenant_id)  # NotFound for an unknown tenant
            await lexicons.store(tenant_id, section)
            await cli_support.tenant_changed(settings, tenant_id)  # running processes read the tenant again
            echo_json(section.model_dump(mode="json"))

    run_command(run)


COMMANDS += [rules, tenant_settings_cli, lexicon]


# Kept counts


@click.group("admin")
def admin() -> None:
    """Upkeep of what the service keeps beside the leads."""


@admin.command("recount")
@click.option("--check", is_flag=True, help="Only report the drift; change nothing (exit status 1 when any).")
def admin_recount(check: bool) -> None:
    """Rebuild each rep's open-lead count (routing's least-loaded choice) from the leads, printing what drifted."""

    async def run(settings: Settings) -> dict[int, tuple[int, int]]:
        from bot.leads import open_counts as openleads

        async with database(settings):
            return await (openleads.drift() if check else openleads.recount())

    drifted = run_command(run)
    echo_json({"drifted": [{"user_id": u, "kept": kept, "fresh": fresh}
                           for u, (kept, fresh) in sorted(drifted.items())], "repaired": not check})
    if check and drifted:
        raise SystemExit(1)


@admin.command("board-rebuild")
def admin_board_rebuild() -> None:
    """Rebuild the board's facts from the leads' events (e.g. after the tenant's working calendar was changed)."""

    async def run(settings: Settings) -> int:
        from bot.board import kept

        async with database(settings):
            return await kept.rebuild()

    echo_json({"facts": run_command(run)})


COMMANDS += [admin]
