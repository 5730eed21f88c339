"""What an admin gives us to register a DingTalk enterprise-internal app with a robot, validated before storing."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME = "dingtalk"  # apps' `platform` field, the callback URLs' first segment
DEFAULT_API_BASE = "https://api.dingtalk.com"
DEFAULT_OAPI_BASE = "https://oapi.dingtalk.com"
_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")


class DingTalkCredentials(BaseModel):
    """Console fields: AppKey (Client ID), AppSecret (Client Secret), RobotCode, and optionally the event
    subscription's token and aes_key (事件订阅: 加密 aes_key + 签名 token)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("app_secret", "event_token", "event_aes_key")
    # Sent to `api_base` (accessToken, the Stream gateway's connections/open): a new api_base needs it again.
    HOST_SECRETS: ClassVar[tuple[str, ...]] = ("app_secret",)

    app_key: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
    app_secret: Annotated[str, Field(min_length=1, max_length=256)]
    robot_code: Annotated[str | None, Field(default=None, max_length=64)] = None
    corp_id: Annotated[str | None, Field(default=None, max_length=64)] = None
    event_token: Annotated[str | None, Field(default=None, max_length=128)] = None
    event_aes_key: Annotated[str | None, Field(default=None)] = None
    # Stream mode: the app keeps a WebSocket open to DingTalk instead of exposing a public URL.
    mode: Literal["http", "stream"] = "http"
    card_template_id: Annotated[str | None, Field(default=None, max_length=128)] = None
    # HTTP-mode card callbacks: the route key registered with /v1.0/card/callbacks/register (default derived).
    card_callback_route_key: Annotated[str | None, Field(default=None, max_length=64)] = None
    # Work notices (工作通知, old API asyncsend_v2) need the app's AgentId; only alerts use them.
    agent_id: Annotated[int | None, Field(default=None, ge=0)] = None

    @field_validator("event_aes_key")
    @classmethod
    def _aes_key(cls, v: str | None) -> str | None:
        if v is not None and not _AES_KEY.match(v):
            raise ValueError("aes_key must be exactly 43 letters and digits")
        return v

    @model_validator(mode="after")
    def _event_pair(self) -> DingTalkCredentials:
        if (self.event_token is None) != (self.event_aes_key is None):
            raise ValueError("event_token and event_aes_key go together: give both or neither")
        if self.robot_code is None:
            # For enterprise-internal apps the robot code is the AppKey unless the console says otherwise.
            self.robot_code = self.app_key
        return self

    def identity(self) -> str:
        return f"{NAME}:{self.app_key}"

    def route_key(self) -> str:
        """The card callback route key: the configured one, else one derived from the AppKey."""
        return self.card_callback_route_key or f"leadbot_{self.app_key}"
