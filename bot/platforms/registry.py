"""The installed platforms, and one adapter per app per process built from them.

The wiring (`bot.runtime.wiring.install`) puts its platform table here; generic code asks `get(name)` for an app's
platform and `all()` to go over every one. Nothing here names a platform.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from functools import partial
from typing import Any, Protocol

import aiohttp
from redis.asyncio import Redis

from bot.errors import InvalidField
from bot.platforms.base import Adapter
from bot.platforms.plugin import PlatformPlugin
from bot.runtime.clock import Clock
from bot.runtime.config import Settings
from bot.runtime.tokens import TokenBroker

_PLATFORMS: dict[str, PlatformPlugin] = {}


def install(platforms: Iterable[PlatformPlugin]) -> None:
    """Make these the platforms every generic part of the service knows (the wiring's table, once per process)."""
    for platform in platforms:
        _PLATFORMS.setdefault(platform.name, platform)


def all() -> tuple[PlatformPlugin, ...]:  # noqa: A001 - read as `registry.all()`
    return tuple(_PLATFORMS.values())


def names() -> tuple[str, ...]:
    return tuple(_PLATFORMS)


def get(name: str) -> PlatformPlugin:
    """The platform of an app's `platform` field; a name no platform has is a programming or data mistake."""
    try:
        return _PLATFORMS[name]
    except KeyError:
        raise LookupError(f"no platform named {name!r} is installed (known: {', '.join(_PLATFORMS)})") from None


def check_name(field: str, name: str) -> str:
    """`name` when a platform has it, else the caller's input is refused naming `field`."""
    if name not in _PLATFORMS:
        raise InvalidField(field, f"unknown platform {name!r}: one of {', '.join(_PLATFORMS)}")
    return name


@contextlib.asynccontextmanager
async def running_streams(services: Any) -> AsyncIterator[None]:
    """Every platform's long connections for this process (those that have them), for as long as the block runs."""
    async with contextlib.AsyncExitStack() as stack:
        for platform in _PLATFORMS.values():
            if platform.stream_runner is not None:
                await stack.enter_async_context(platform.stream_runner(services))
        yield


class Resources(Protocol):
    """What an adapter is built from: the process's shared resources (`bot.runtime.services.Services` has them). A
    protocol, not the class, so the registry does not import the module that holds the registry's cache."""

    @property
    def settings(self) -> Settings: ...
    @property
    def redis(self) -> Redis: ...
    @property
    def broker(self) -> TokenBroker: ...
    @property
    def http(self) -> aiohttp.ClientSession: ...
    @property
    def clock(self) -> Clock: ...


def build_adapter(services: Resources, app: Any) -> Adapter:
    """`app`: a `bot.admin.apps.LoadedApp` (not imported: that module reads the registry)."""
    from bot.admin import app_health

    on_error = partial(app_health.platform_error, services.clock, app.id, app.platform)
    return get(app.platform).build_adapter(services, app, on_error)


class AdapterCache:
    """Adapters keyed by app id; rebuilt when the app's cached row is reloaded (credentials may have changed)."""

    def __init__(self) -> None:
        self._adapters: dict[int, tuple[float, Adapter]] = {}

    def get(self, services: Resources, app: Any) -> Adapter:
        cached = self._adapters.get(app.id)
        if cached is not None and cached[0] == app.loaded_at:
            return cached[1]
        adapter = build_adapter(services, app)
        self._adapters[app.id] = (app.loaded_at, adapter)
        return adapter
