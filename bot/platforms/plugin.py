"""A chat platform as one object: everything the rest of the service needs to know of it.

Each platform package `bot/platforms/<name>/` exports `PLATFORM = PlatformPlugin(...)` built from its own modules;
the wiring (`bot.runtime.wiring.PLATFORMS`) adds the HTTP routes (`handlers/<name>.py`, which `bot` may not import)
and installs the table in `bot.platforms.registry`, which generic code reads. Generic code asks the object, never
compares a platform's name: a third platform is its packages plus one line in the wiring.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from bot.platforms.base import Adapter

if TYPE_CHECKING:
    import click
    from aiohttp import web

    from cards.model import Card

# Records a platform's refusal on the app's health (`bot.admin.app_health.platform_error`, bound to the app).
OnError = Callable[..., Any]
Render = Callable[["Card", str], dict[str, Any]]


def _always(credentials: BaseModel) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class PlatformPlugin:
    """One chat platform.

    `name` is the value of an app's `platform` field, the first segment of its callback URLs and the name of its
    `leadbot apps add` command; `title` names it in schema names (`<title>AppIn`) and in English text, `title_zh`
    in Chinese text shown to people.

    `credentials_model` validates what an admin registers (a pydantic model with `SECRET_FIELDS`, `HOST_SECRETS`
    and `identity()`); `secret_field` is the credential `leadbot apps rotate-secret` replaces. `build_adapter`
    makes the app's `Adapter`. `callback_urls(base_url, app_id)` are the URLs to paste into the platform's console,
    and `checklist(app, urls)` the console steps as (zh, en) pairs, in order.

    `render(card, card_id)` draws a card (`cards.<name>`), `render_update` an in-place update of one (defaults to
    `render`). `card_update_needs_code`: an update spends a single-use code the platform gave with the send or a
    click (kept on the card instance's `response_code`); without one the holder gets a fresh card.
    `cards_supported(credentials)`: whether the app can show an interactive card at all (else markdown goes).

    `alert_channel()`: the alert channel class for this platform's apps (a subclass of
    `bot.alerting.notify.chat.ChatChannel`), when it is not the plain one (a function: that module imports the
    registry). `stream_runner(services)`: an async context manager keeping this process's long connections to the
    platform (for apps without a public URL), or None. `cli_add`: the `leadbot apps add <name>` command's credential
    options; its callback returns the credentials (the CLI adds the options every app has).
    `diagnosis()`: the platform's checks, for `leadbot apps verify` and directory sync: an object (its `diagnose`
    module) with `TOKEN_STEP` (zh, en), `async app_checks(adapter, context) -> list[Check]` and
    `async directory(adapter) -> list[DirectoryPerson]` (a function, so the adapter is imported when needed).
    `user_id_field`: the name a person's id on this platform has outside (the admin API's user JSON, the CSV
    column, the console's form field; the `leadbot users add` flag is it with dashes): "<name>_<its kind of id>".
    `routes(app)` mounts the HTTP callback routes: set by the wiring.
    """

    name: str
    title: str
    title_zh: str
    credentials_model: type[BaseModel]
    secret_field: str
    # (the process's resources (`registry.Resources`), the app (`bot.admin.apps.LoadedApp`), on_error)
    build_adapter: Callable[[Any, Any, OnError], Adapter]
    callback_urls: Callable[[str, int], dict[str, str]]
    checklist: Callable[[Any, Mapping[str, str]], list[tuple[str, str]]]
    render: Render
    diagnosis: Callable[[], Any]
    user_id_field: str
    render_update: Render | None = None
    card_update_needs_code: bool = False
    cards_supported: Callable[[BaseModel], bool] = _always
    alert_channel: Callable[[], type] | None = None
    stream_runner: Callable[[Any], AbstractAsyncContextManager[Any]] | None = None
    cli_add: click.Command | None = None
    routes: Callable[[web.Application], None] | None = None

    def with_routes(self, routes: Callable[[web.Application], None]) -> PlatformPlugin:
        """This platform with its HTTP routes, as the wiring joins them (`handlers/<name>.py`)."""
        return replace(self, routes=routes)

    def render_card(self, card: Card, card_id: str, *, update: bool = False) -> dict[str, Any]:
        if update and self.render_update is not None:
            return self.render_update(card, card_id)
        return self.render(card, card_id)
