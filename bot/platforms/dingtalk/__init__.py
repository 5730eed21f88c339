"""DingTalk (钉钉): an enterprise-internal app with a robot, over HTTP callbacks or a Stream-mode connection, sending
interactive cards and work notices. `PLATFORM` is everything the rest of the service knows of it."""

from __future__ import annotations

from typing import Any

import click
from pydantic import BaseModel

from bot.platforms.base import Adapter
from bot.platforms.dingtalk import console
from bot.platforms.dingtalk.config import NAME, DingTalkCredentials
from bot.platforms.plugin import PlatformPlugin
from cards import dingtalk as dingtalk_cards


def build_adapter(services: Any, app: Any, on_error: Any) -> Adapter:
    from bot.platforms.dingtalk.adapter import DingTalkAdapter

    return DingTalkAdapter(app.id, app.credentials, session=services.http, tokens=services.broker,
                           redis=services.redis, api_base=app.api_base, public_url=services.settings.public_url,
                           on_error=on_error, clock=services.clock)


def cards_supported(credentials: BaseModel) -> bool:
    # A card needs the app's card template; without one (and without a work notice's AgentId) markdown goes.
    return bool(getattr(credentials, "card_template_id", None))


def running_streams(services: Any) -> Any:
    from bot.platforms.dingtalk.supervisor import running_stream_supervisor

    return running_stream_supervisor(services)


def diagnosis() -> Any:
    from bot.platforms.dingtalk import diagnose

    return diagnose


def _cli_add() -> click.Command:
    @click.command(NAME)
    @click.option("--app-key", required=True)
    @click.option("--app-secret", prompt=True, hide_input=True, help="The AppSecret (prompted when omitted).")
    @click.option("--robot-code", default=None)
    @click.option("--corp-id", default=None)
    @click.option("--event-token", default=None)
    @click.option("--event-aes-key", default=None)
    @click.option("--mode", type=click.Choice(["http", "stream"]), default="http", show_default=True)
    @click.option("--card-template-id", default=None)
    def add(**credentials: Any) -> dict[str, Any]:
        """Register a DingTalk enterprise-internal app with a robot (AppKey, AppSecret...)."""
        return {k: v for k, v in credentials.items() if v is not None}

    return add


def _alert_channel() -> type:
    from bot.platforms.dingtalk.notice import WorkNoticeChat

    return WorkNoticeChat


PLATFORM = PlatformPlugin(
    name=NAME,
    title="DingTalk",
    title_zh="钉钉",
    credentials_model=DingTalkCredentials,
    secret_field="app_secret",
    user_id_field="dingtalk_staff_id",
    build_adapter=build_adapter,
    callback_urls=console.callback_urls,
    checklist=console.checklist,
    diagnosis=diagnosis,
    render=dingtalk_cards.render,
    cards_supported=cards_supported,
    alert_channel=_alert_channel,
    stream_runner=running_streams,
    cli_add=_cli_add(),
)
