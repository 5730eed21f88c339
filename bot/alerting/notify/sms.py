"""What an SMS provider's module declares, so that the rest of the service never names a provider.

Each provider is one module (`sms_aliyun`, `sms_tencent`) holding its channel, its settings section as stored (the
secret sealed), the form the admin API takes (the secret in plain text, write-only) and a `PROVIDER` built from
them. `bot.alerting.notify.providers` lists the modules; the tenant settings, the settings API and the alert chain read
that list. A new provider is one module here and its simulator in tests/sim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from bot.alerting.notify.base import Channel

# The purpose a provider's secret is sealed under (storage.secrets binds a sealed value to its purpose).
SMS_SECRET_PURPOSE = "tenant.sms"

SmsParam = Literal["title", "lead", "rep"]
Text64 = Annotated[str, Field(min_length=1, max_length=64)]
# A provider's secret as the API takes it: write-only, sealed at rest, left out of a change to keep the stored one.
SecretIn = Annotated[
    Annotated[str, Field(min_length=1, max_length=256)] | None,
    Field(description="Stored encrypted; leave out to keep the stored one"),
]


def _default_params() -> list[SmsParam]:
    return ["title", "lead"]


class SmsSection(BaseModel):
    """The part of every provider's stored section that is the same for all: the sign, the endpoint override and
    the template's variables in the template's order (Tencent's {1}, {2}... are positional; Aliyun's named)."""

    model_config = ConfigDict(extra="forbid")
    sign_name: Annotated[str, Field(min_length=1, max_length=32)]
    api_base: Annotated[str, Field(max_length=512)] | None = None
    params: list[SmsParam] = Field(default_factory=_default_params, min_length=1, max_length=3)


class SmsForm(BaseModel):
    """The part of every provider's admin form that is the same for all. Loose on purpose: the form describes the
    patch for the API's schema; the merged, stored section is what is validated strictly."""

    model_config = ConfigDict(extra="forbid")
    sign_name: str
    api_base: str | None = None
    params: list[str] | None = None


@dataclass(frozen=True, slots=True)
class Common:
    """What every provider's channel is opened with besides its own section and secret."""

    session: aiohttp.ClientSession
    timeout_s: float
    clock: Callable[[], float]


@dataclass(frozen=True, slots=True)
class SmsProvider:
    name: str  # the `provider` value in settings
    section: type[SmsSection]  # stored: holds `<secret_field>_sealed`
    form: type[SmsForm]  # the admin API's: holds `<secret_field>` in plain text
    secret_field: str
    # The fields naming the account the secret belongs to: change one (or `api_base`) and the secret must be given
    # again, or a stored secret would be sent with another key id, or to another host.
    key_fields: tuple[str, ...]
    default_api_base: str
    # (section, the opened secret, common) -> the channel
    open: Callable[[Any, str, Common], Channel]

    @property
    def sealed_field(self) -> str:
        return f"{self.secret_field}_sealed"
