"""The SMS providers, listed once. Settings, the settings API and the alert chain read this table; nothing else
names a provider. Adding one: its module (see `bot.alerting.notify.sms`) here, and its simulator in tests/sim."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Union

from pydantic import Field

from bot.alerting.notify import sms_aliyun, sms_tencent
from bot.alerting.notify.base import Channel
from bot.alerting.notify.sms import SMS_SECRET_PURPOSE, Common, SmsProvider
from bot.runtime.logs import register_secret
from storage.secrets import SecretBox

SMS_PROVIDERS: Mapping[str, SmsProvider] = {p.name: p for p in (sms_aliyun.PROVIDER, sms_tencent.PROVIDER)}

# The stored `notify.sms` section and the admin API's form for it: one of the providers', told apart by `provider`.
# (Union over the table: a discriminated union needs the members as a Union, which the table builds.)
SmsSettings = Annotated[Union[tuple(p.section for p in SMS_PROVIDERS.values())],  # type: ignore[valid-type]  # noqa: UP007
                        Field(discriminator="provider")]
SmsSettingsForm = Annotated[Union[tuple(p.form for p in SMS_PROVIDERS.values())],  # type: ignore[valid-type]  # noqa: UP007
                            Field(discriminator="provider")]


def provider_of(sms: Mapping[str, Any]) -> SmsProvider | None:
    """The provider a raw `sms` object names, or None for a missing or unknown one (validation then says so)."""
    return SMS_PROVIDERS.get(str(sms.get("provider")))


def open_sms(box: SecretBox, sms: Any, common: Common) -> Channel | None:
    """The tenant's SMS channel with its secret opened, or None when the tenant has none. `sms` is a validated
    `SmsSettings` section (or None)."""
    if sms is None:
        return None
    provider = SMS_PROVIDERS[sms.provider]
    secret = box.open(getattr(sms, provider.sealed_field), SMS_SECRET_PURPOSE)
    register_secret(secret)
    return provider.open(sms, secret, common)


def open_tenant_sms(box: SecretBox, http: Any, notify: Any, clock: Any) -> Channel | None:
    """The SMS channel of a tenant's `notify` settings section, as the fallback chain and "send me a test" open it:
    with the tenant's timeout, over the service's guarded HTTP client, signing with the service's clock."""
    return open_sms(box, notify.sms, Common(http, notify.sms_timeout_s, clock.time))


def seal_sms(sms: dict[str, Any], box: SecretBox, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """An admin's raw `sms` object with its secret sealed. The secret may be left out when the provider, the key
    fields and the endpoint are unchanged: the stored one (`previous`) is kept, so an admin changing a sign name
    need not re-enter it. A new `api_base` or key needs the secret again: a stored secret is only used for the host
    and the account it was entered for."""
    provider = provider_of(sms)
    if provider is None:
        return sms  # validation names the unknown provider
    sms = dict(sms)
    plain, sealed = provider.secret_field, provider.sealed_field
    if sms.get(plain):
        sms[sealed] = box.seal(str(sms.pop(plain)), SMS_SECRET_PURPOSE)
        return sms
    sms.pop(plain, None)
    old = previous or {}
    same = old.get("provider") == provider.name and old.get("api_base") == sms.get("api_base") and all(
        old.get(k) == sms.get(k) for k in provider.key_fields if k in sms
    )
    if same and old.get(sealed):
        sms[sealed] = old[sealed]
    return sms


def secret_field_of(sms: Mapping[str, Any]) -> str:
    """The plain field the secret of the provider `sms` names is given in (for an error naming the field)."""
    provider = provider_of(sms)
    return provider.secret_field if provider else "provider"
