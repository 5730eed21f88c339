"""What an admin gives us to register a WeCom self-built app (自建应用), validated before anything is stored."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME = "wecom"  # apps' `platform` field, the callback URLs' first segment
DEFAULT_API_BASE = "https://qyapi.weixin.qq.com"
_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")


class WeComCredentials(BaseModel):
    """Console fields: 企业ID (corp_id), AgentId, Secret, and the 接收消息 Token / EncodingAESKey pair."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # Sealed at rest, never returned by the API.
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("secret", "token", "encoding_aes_key")
    # Sent to `api_base` (gettoken's corpsecret): a new api_base needs it entered again, for that host.
    HOST_SECRETS: ClassVar[tuple[str, ...]] = ("secret",)

    corp_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
    agent_id: Annotated[int, Field(ge=0, le=2**31 - 1)]
    secret: Annotated[str, Field(min_length=1, max_length=256)]
    token: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9]+$")]
    encoding_aes_key: Annotated[str, Field(min_length=43, max_length=43)]

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key(cls, v: str) -> str:
        # 43 base64 characters without padding decode to the 32-byte AES-256 key; anything else can never decrypt.
        if not _AES_KEY.match(v):
            raise ValueError("EncodingAESKey must be exactly 43 letters and digits")
        return v

    def identity(self) -> str:
        """What makes two registrations the same app (a second one is a 409)."""
        return f"{NAME}:{self.corp_id}:{self.agent_id}"
