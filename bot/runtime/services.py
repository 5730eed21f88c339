"""The resources one process holds: settings, database, Redis and queue, secret box, token broker, HTTP client.

`leadbot serve` (web, plus an in-process worker) and `leadbot worker` open one `Services` each; the tests do too.
`services.clock` is the one clock everything reads (`bot.runtime.clock`); a test passes its own to `open_services`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets as _random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from arq.connections import ArqRedis

from bot.admin.apps import AppCache
from bot.calendar import holidays
from bot.platforms.base import Adapter
from bot.platforms.registry import AdapterCache
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.config import Settings
from bot.runtime.logs import register_secret
from bot.runtime.outbound import guarded_session
from bot.runtime.queue import Queue
from bot.runtime.tenant_cache import TenantCache
from bot.runtime.tokens import TokenBroker
from storage import db
from storage.private import private_dir, tighten_tree
from storage.redis import EmbeddedRedis, connect, start_embedded
from storage.secrets import SecretBox, load_or_create_master_key, parse_master_key

log = logging.getLogger(__name__)

ADMIN_TOKEN_FILE = "admin.token"


@dataclass
class Services:
    settings: Settings
    redis: ArqRedis
    queue: Queue
    box: SecretBox
    broker: TokenBroker
    http: aiohttp.ClientSession
    admin_token: str
    apps: AppCache
    embedded: EmbeddedRedis | None = None
    adapters: AdapterCache = field(default_factory=AdapterCache)
    clock: Clock = field(default_factory=SystemClock)
    tenants: TenantCache = field(default_factory=TenantCache)  # rows every API request reads, kept per version

    def use_clock(self, clock: Clock) -> None:
        """Read time from `clock` from now on, here and in the parts that were given the clock at construction
        (for a test that gets services already open and then wants to decide the time)."""
        self.clock = clock
        self.queue.clock = clock
        self.broker.use_clock(clock.time)
        self.apps.clock = clock

    async def adapter(self, app_id: int) -> Adapter:
        """The adapter of an app (raises NotFound for an unknown app)."""
        return self.adapters.get(self, await self.apps.require(app_id))


def load_admin_token(settings: Settings) -> tuple[str, bool]:
    """The admin token from the environment, else from the data dir, else a new one. True when just created."""
    if settings.admin_token is not None:
        return settings.admin_token.get_secret_value(), False
    path = settings.data_dir / ADMIN_TOKEN_FILE
    if path.exists():
        return path.read_text().strip(), False
    private_dir(settings.data_dir)
    token = _random.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip(), False
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


def load_master_key(settings: Settings) -> bytes:
    if settings.master_key is not None:
        return parse_master_key(settings.master_key.get_secret_value())
    return load_or_create_master_key(Path(settings.data_dir))


@contextlib.asynccontextmanager
async def open_services(settings: Settings, *, migrate: bool = True,
                        clock: Clock | None = None) -> AsyncIterator[Services]:
    clock = clock or SystemClock()
    # The data dir holds the database, Redis's files and the keys: this user's alone (also one made before).
    tighten_tree(private_dir(settings.data_dir))
    key = load_master_key(settings)
    admin_token, _ = load_admin_token(settings)
    register_secret(admin_token)
    box = SecretBox(key)
    await db.open_db(settings, migrate=migrate)
    redis = embedded = http = watch = None
    try:
        await holidays.refresh()  # the official schedules an admin loaded, before the first deadline is counted
    except Exception as e:  # not migrated yet (`migrate=False`): the refresher reads them once it can
        log.warning("holiday schedules not read at start: %s", e)
    fresh = asyncio.create_task(holidays.keep_fresh())
    try:
        if settings.redis_url is None:
            embedded = await start_embedded(settings.data_dir)
            watch = asyncio.create_task(embedded.keep_running())
        url = settings.redis_url or embedded.url
        redis = connect(url, ArqRedis)
        http = guarded_session(allow_private=settings.allow_private_urls)
        yield Services(settings=settings, redis=redis, queue=Queue(redis, clock=clock), box=box,
                       broker=TokenBroker(redis, box, clock=clock.time), http=http, admin_token=admin_token,
                       apps=AppCache(box, clock=clock), embedded=embedded, clock=clock)
    finally:
        for task in (watch, fresh):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if http is not None:
            await http.close()
        if redis is not None:
            await redis.aclose()
        if embedded is not None:
            await embedded.release()
        await db.close_db()
