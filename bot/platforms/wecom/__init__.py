"""WeCom (企业微信): a self-built app (自建应用) receiving callbacks over HTTP and sending app messages and template
cards. `PLATFORM` is everything the rest of the service knows of it."""

from __future__ import annotations

from typing import Any

import click

from bot.platforms.base import Adapter
from bot.platforms.plugin import PlatformPlugin
from bot.platforms.wecom import console
from bot.platforms.wecom.config import NAME, WeComCredentials
from cards import wecom as wecom_cards


def build_adapter(services: Any, app: Any, on_error: Any) -> Adapter:
    from bot.platforms.wecom.adapter import WeComAdapter

    return WeComAdapter(app.id, app.credentials, session=services.http, broker=services.broker,
                        redis=services.redis, api_base=app.api_base, on_error=on_error)


def diagnosis() -> Any:
    from bot.platforms.wecom import diagnose

    return diagnose


def _cli_add() -> click.Command:
    @click.command(NAME)
    @click.option("--corp-id", required=True)
    @click.option("--agent-id", type=int, required=True)
    @click.option("--secret", prompt=True, hide_input=True, help="The app's Secret (prompted when omitted).")
    @click.option("--token", prompt=True, hide_input=True, help="The callback Token (prompted when omitted).")
    @click.option("--aes-key", "encoding_aes_key", prompt=True, hide_input=True,
                  help="The 43-character EncodingAESKey.")
    def add(**credentials: Any) -> dict[str, Any]:
        """Register a WeCom self-built app (企业ID, AgentId, Secret, Token, EncodingAESKey)."""
        return credentials

    return add


PLATFORM = PlatformPlugin(
    name=NAME,
    title="WeCom",
    title_zh="企业微信",
    credentials_model=WeComCredentials,
    secret_field="secret",
    user_id_field="wecom_userid",
    build_adapter=build_adapter,
    callback_urls=console.callback_urls,
    checklist=console.checklist,
    diagnosis=diagnosis,
    render=wecom_cards.render,
    render_update=wecom_cards.render_update,
    # Each update spends a single-use ResponseCode, given with the send and with every click.
    card_update_needs_code=True,
    cli_add=_cli_add(),
)
