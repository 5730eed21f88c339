"""`leadbot`: serve, worker, migrate, and the admin operations from the shell.

Every command reads the same `LEADBOT_*` settings as the service; a bad value ends the command with one line naming
the variable and exit status 2. Admin commands work on the database directly, so they need no running server.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from aiohttp import web

from bot.cli import admin as cli_admin
from bot.cli import holidays as cli_holidays
from bot.cli import leads as cli_leads
from bot.cli import webhooks as cli_webhooks
from bot.cli.support import run_command
from bot.runtime.config import Settings
from bot.runtime.stopping import until_signalled
from speech.cli import extract, transcribe

log = logging.getLogger("leadbot.cli")


@click.group()
@click.version_option(package_name="leadbot")
def main() -> None:
    """leadbot: a sales team's lead workflow inside WeCom and DingTalk."""


# serve / worker / migrate


@main.command()
@click.option("--host", default=None, help="Address to listen on (LEADBOT_HOST).")
@click.option("--port", type=int, default=None, help="Port to listen on (LEADBOT_PORT).")
@click.option("--no-worker", is_flag=True, help="Do not run jobs in this process (run `leadbot worker`s).")
def serve(host: str | None, port: int | None, no_worker: bool) -> None:
    """Run the web server (callbacks, admin API, health), with an in-process worker by default."""

    async def run(settings: Settings) -> None:
        from bot.platforms.dingtalk.supervisor import running_stream_supervisor
        from bot.platforms.feishu.supervisor import running_longconn_supervisor
        from bot.runtime.app import create_app, make_runner
        from bot.runtime.services import ADMIN_TOKEN_FILE, load_admin_token, open_services
        from bot.runtime.worker import running_worker

        settings = settings.model_copy(update={k: v for k, v in (("host", host), ("port", port)) if v})
        token, created = load_admin_token(settings)
        async with open_services(settings) as services:
            runner = make_runner(create_app(services), settings)
            await runner.setup()
            await web.TCPSite(runner, settings.host, settings.port).start()
            if created:
                _announce_admin_token(token, settings.data_dir / ADMIN_TOKEN_FILE)
            log.info("serving on http://%s:%d (database: %s, redis: %s)", settings.host, settings.port,
                     "sqlite" if settings.effective_database_url().startswith("sqlite") else "postgres",
                     "embedded" if settings.embedded_redis else "external")
            try:
                async with running_stream_supervisor(services), running_longconn_supervisor(services):
                    if no_worker:
                        await until_signalled()
                    else:
                        async with running_worker(services):
                            await until_signalled()
            finally:
                await runner.cleanup()

    run_command(run)


def _announce_admin_token(token: str, path: Path) -> None:
    """Show a generated admin token once, to the person at the terminal; never into the log stream.

    stderr is the log stream too; when it is a terminal a person reads it, else (systemd, docker, a file) the
    lines are kept and shipped: then only where the token is, never the token.
    """
    if sys.stderr.isatty():
        click.echo(f"Generated admin token (kept in {path}): {token}", err=True)
    else:
        log.warning("generated an admin token: it is in %s (readable by this user only)", path)


@main.command()
@click.option("--metrics-port", type=int, default=None, help="Serve this worker's /metrics on this port.")
def worker(metrics_port: int | None) -> None:
    """Run a job worker (scale out by running more)."""

    async def run(settings: Settings) -> None:
        from bot.platforms.dingtalk.supervisor import running_stream_supervisor
        from bot.platforms.feishu.supervisor import running_longconn_supervisor
        from bot.runtime.app import make_runner
        from bot.runtime.services import open_services
        from bot.runtime.worker import running_worker
        from handlers.health import metrics_view

        async with open_services(settings) as services:
            runner = None
            if metrics_port:
                from bot.runtime.appkeys import SERVICES

                app = web.Application()
                app[SERVICES] = services
                app.router.add_get("/metrics", metrics_view)
                runner = make_runner(app, settings)
                await runner.setup()
                await web.TCPSite(runner, settings.host, metrics_port).start()
            try:
                async with (running_stream_supervisor(services), running_longconn_supervisor(services),
                            running_worker(services)):
                    await until_signalled()
            finally:
                if runner:
                    await runner.cleanup()

    run_command(run)


@main.command()
def migrate() -> None:
    """Apply database migrations (serve and worker also do this at start)."""

    async def run(settings: Settings) -> None:
        from storage import db

        await db.open_db(settings, migrate=False)
        try:
            applied = await db.apply_migrations(settings)
        finally:
            await db.close_db()
        click.echo(f"applied: {', '.join(applied)}" if applied else "database is up to date")

    run_command(run)


for _command in (*cli_admin.COMMANDS, *cli_holidays.COMMANDS, *cli_leads.COMMANDS, *cli_webhooks.COMMANDS,
                 transcribe, extract):
    main.add_command(_command)
cli_leads.leads.add_command(cli_webhooks.leads_export)
