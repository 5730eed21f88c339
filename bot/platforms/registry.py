"""One adapter per app per process, built from the app's opened credentials and the process's shared resources."""

from __future__ import annotations

from functools import partial
from typing import Protocol

import aiohttp
from redis.asyncio import Redis

from bot.admin.apps import LoadedApp
from bot.platforms.base import Adapter, Platform
from bot.runtime.clock import Clock
from bot.runtime.config import Settings
from bot.runtime.tokens import TokenBroker


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


def build_adapter(services: Resources, app: LoadedApp) -> Adapter:
    from bot.admin import app_health

    if app.platform == Platform.WECOM:
        from bot.platforms.wecom.adapter import WeComAdapter

        return WeComAdapter(app.id, app.credentials, session=services.http, broker=services.broker,
                            redis=services.redis, api_base=app.api_base,
                            on_error=partial(app_health.platform_error, services.clock, app.id, app.platform))
    if app.platform == Platform.FEISHU:
        from bot.platforms.feishu.adapter import FeishuAdapter

        return FeishuAdapter(app.id, app.credentials, session=services.http, tokens=services.broker,
                             redis=services.redis, api_base=app.api_base,
                             on_error=partial(app_health.platform_error, services.clock, app.id, app.platform))
    from bot.platforms.dingtalk.adapter import DingTalkAdapter

    return DingTalkAdapter(app.id, app.credentials, session=services.http, tokens=services.broker,
                           redis=services.redis, api_base=app.api_base, public_url=services.settings.public_url,
                           on_error=partial(app_health.platform_error, services.clock, app.id, app.platform),
                           clock=services.clock)


class AdapterCache:
    """Adapters keyed by app id; rebuilt when the app's cached row is reloaded (credentials may have changed)."""

    def __init__(self) -> None:
        self._adapters: dict[int, tuple[float, Adapter]] = {}

    def get(self, services: Resources, app: LoadedApp) -> Adapter:
        cached = self._adapters.get(app.id)
        if cached is not None and cached[0] == app.loaded_at:
            return cached[1]
        adapter = build_adapter(services, app)
        self._adapters[app.id] = (app.loaded_at, adapter)
        return adapter
