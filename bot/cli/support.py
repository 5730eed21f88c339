"""What every `leadbot` command shares: settings from the environment, logging, error reporting, the database."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import click
from pydantic import ValidationError

from bot.errors import ConfigError, LeadbotError
from bot.runtime import eventloop
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.config import Settings
from bot.runtime.logs import setup_logging
from storage.db import DatabaseUnreachable

# The clock of the commands that open no `Services` (a test may put a `ManualClock` here).
CLOCK: Clock = SystemClock()


def settings_from_env() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except ConfigError as e:
        click.echo(f"leadbot: {e}", err=True)
        sys.exit(2)


def run_command(coro_fn: Callable[[Settings], Awaitable[Any]]) -> Any:
    from bot.runtime import wiring  # imported here: `leadbot --help` and `extract` need none of it

    settings = settings_from_env()
    setup_logging(settings.log_level, settings.log_format)
    wiring.install()  # a lead changed from the command line has the same follow-ups and hooks as one changed by API
    try:
        return eventloop.run(coro_fn(settings), settings.event_loop)
    except ConfigError as e:
        click.echo(f"leadbot: {e}", err=True)
        sys.exit(2)
    except ValidationError as e:
        err = e.errors()[0]
        click.echo(f"leadbot: {'.'.join(map(str, err['loc']))}: {err['msg']}", err=True)
        sys.exit(2)
    except LeadbotError as e:
        field = getattr(e, "field", None)
        click.echo(f"leadbot: {field + ': ' if field else ''}{e}", err=True)
        sys.exit(1)
    except DatabaseUnreachable as e:
        click.echo(f"leadbot: {e}", err=True)
        sys.exit(1)


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Any]:
    """The database and the secret box, without Redis: enough for admin commands."""
    from bot.runtime.services import load_master_key
    from storage import db
    from storage.secrets import SecretBox

    box = SecretBox(load_master_key(settings))
    await db.open_db(settings)
    try:
        yield box
    finally:
        await db.close_db()


async def tenant_changed(settings: Settings, tenant_id: int) -> None:
    """A command changed (and committed) a tenant's tokens, the tenant, its routing rules or its webhook
    subscriptions: running processes keep those rows while the tenant's version in Redis stays the same
    (`bot.runtime.tenant_cache`), so it is changed, in the configured Redis or the embedded one (started for this,
    if it is not running: it keeps its data, and a server started later must not give back the version before)."""
    from bot.runtime import tenant_cache
    from storage.redis import connect, start_embedded

    embedded = None if settings.redis_url else await start_embedded(settings.data_dir)
    redis = connect(settings.redis_url or embedded.url)  # type: ignore[union-attr]
    try:
        await tenant_cache.changed(redis, tenant_id)
    finally:
        await redis.aclose()
        if embedded is not None:
            await embedded.release()


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


