"""Feishu / Lark (飞书): a custom app (企业自建应用) with the bot ability, receiving events and card actions over
HTTP pushes or a long connection, sending messages and JSON 2.0 cards. `PLATFORM` is everything the rest of the
service knows of it."""

from __future__ import annotations

from typing import Any

import click

from bot.platforms.base import Adapter
from bot.platforms.feishu import console
from bot.platforms.feishu.config import NAME, FeishuCredentials
from bot.platforms.plugin import PlatformPlugin
from cards import feishu as feishu_cards


def build_adapter(services: Any, app: Any, on_error: Any) -> Adapter:
    from bot.platforms.feishu.adapter import FeishuAdapter

    return FeishuAdapter(app.id, app.credentials, session=services.http, tokens=services.broker,
                         redis=services.redis, api_base=app.api_base, on_error=on_error)


def running_longconns(services: Any) -> Any:
    from bot.platforms.feishu.supervisor import running_longconn_supervisor

    return running_longconn_supervisor(services)


def diagnosis() -> Any:
    from bot.platforms.feishu import diagnose

    return diagnose


def _cli_add() -> click.Command:
    @click.command(NAME)
    @click.option("--app-id", required=True, help="The App ID (cli_...).")
    @click.option("--app-secret", prompt=True, hide_input=True, help="The App Secret (prompted when omitted).")
    @click.option("--verification-token", prompt=True, hide_input=True,
                  help="事件与回调 → 加密策略: the Verification Token (prompted when omitted).")
    @click.option("--encrypt-key", default=None, help="事件与回调 → 加密策略: the Encrypt Key (strongly advised).")
    @click.option("--mode", type=click.Choice(["http", "ws"]), default="http", show_default=True,
                  help="ws: a long connection (no public URL needed).")
    @click.option("--lark", is_flag=True, default=False, help="A Lark (international, open.larksuite.com) app.")
    @click.option("--receive-id-type", type=click.Choice(["open_id", "user_id"]), default="open_id",
                  show_default=True, help="How people's ids are given: open_id (per app) or user_id (per tenant).")
    def add(**credentials: Any) -> dict[str, Any]:
        """Register a Feishu / Lark custom app with a bot (App ID, App Secret, Verification Token, Encrypt Key)."""
        return {k: v for k, v in credentials.items() if v is not None}

    return add


PLATFORM = PlatformPlugin(
    name=NAME,
    title="Feishu",
    title_zh="飞书",
    credentials_model=FeishuCredentials,
    secret_field="app_secret",
    # A person as the app addresses them: their open_id (ou_..., per app) by default, their user_id with an app's
    # receive_id_type user_id; events name the sender by the same id.
    user_id_field="feishu_open_id",
    build_adapter=build_adapter,
    callback_urls=console.callback_urls,
    checklist=console.checklist,
    diagnosis=diagnosis,
    render=feishu_cards.render,
    # An update either spends a click's token or PATCHes the sent message (its id kept by the adapter), so a card
    # is always updatable without a code of ours.
    card_update_needs_code=False,
    stream_runner=running_longconns,
    cli_add=_cli_add(),
)
