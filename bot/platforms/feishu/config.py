"""What an admin gives us to register a Feishu / Lark custom app (企业自建应用) with a bot, validated before storing.

Feishu (open.feishu.cn) and Lark (open.larksuite.com) are one platform on two hosts: `lark: true` picks Lark's
host, and an app's `api_base` still overrides either (private deployments, the simulator).
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

NAME = "feishu"  # apps' `platform` field, the callback URLs' first segment
FEISHU_API_BASE = "https://open.feishu.cn"
LARK_API_BASE = "https://open.larksuite.com"


class FeishuCredentials(BaseModel):
    """Console fields: 凭证与基础信息 (App ID `cli_…`, App Secret) and 事件与回调 → 加密策略 (Encrypt Key, Verification
    Token). Without an Encrypt Key Feishu neither encrypts nor signs its pushes; the token in the body is then the
    only proof, so the console checklist asks for one."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("app_secret", "verification_token", "encrypt_key")
    # Sent to `api_base` (tenant_access_token/internal, the long connection's endpoint request).
    HOST_SECRETS: ClassVar[tuple[str, ...]] = ("app_secret",)

    app_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
    app_secret: Annotated[str, Field(min_length=1, max_length=256)]
    verification_token: Annotated[str, Field(min_length=1, max_length=256)]
    encrypt_key: Annotated[str | None, Field(default=None, min_length=1, max_length=256)] = None
    # ws: the app keeps a long connection open to Feishu (no public URL needed) instead of receiving HTTP pushes.
    mode: Literal["http", "ws"] = "http"
    lark: bool = False  # the international platform: API host open.larksuite.com
    # How recipients are addressed in im/v1/messages: the user's open_id (per app) or user_id (per tenant).
    receive_id_type: Literal["open_id", "user_id"] = "open_id"

    def identity(self) -> str:
        return f"feishu:{self.app_id}"

    def default_api_base(self) -> str:
        return LARK_API_BASE if self.lark else FEISHU_API_BASE
