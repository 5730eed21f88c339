"""Changing a tenant's settings: a JSON Merge Patch (RFC 7396) of the stored sections, validated as a whole.

The one way settings change, for the admin API (`handlers/settings.py` documents the rules), the CLI and the
console: objects merge key by key, `null` removes a key (back to its default), other values replace; an `sms`
naming another provider replaces the stored one whole; SMS secrets arrive in plain text and are sealed here.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from bot.admin.tenant_settings import TenantSettings, seal_notify
from bot.alerting.notify.providers import SMS_PROVIDERS, secret_field_of
from bot.errors import ConfigError, InvalidField, LeadbotError
from bot.runtime.urlguard import check_literal
from storage.models import Tenant
from storage.secrets import SecretBox

SECTIONS = ("workflow", "escalation", "calendar", "notify", "board")


def shown(settings: TenantSettings) -> dict[str, Any]:
    """The sections as the API and the console show them: SMS secrets only as `secret_set`."""
    dumped = settings.model_dump(mode="json", include=set(SECTIONS))
    sms = dumped["notify"].get("sms")
    if sms:
        sealed = [k for k in sms if k.endswith("_sealed")]
        dumped["notify"]["sms"] = {k: v for k, v in sms.items() if k not in sealed} | {"secret_set": bool(sealed)}
    return dumped


async def apply(tenant: Tenant, patch: Any, box: SecretBox, allow_private: bool) -> TenantSettings:
    """Apply a merge patch of whole sections to the tenant's stored settings; stored only if the result is valid."""
    if not isinstance(patch, dict):
        raise InvalidField("body", "the body must be a JSON object of settings sections")
    for name, section in patch.items():
        if name not in SECTIONS:
            raise InvalidField(name, "not a settings section")
        if section is not None and not isinstance(section, dict):
            raise InvalidField(name, "a section is a JSON object (or null to reset it)")
    stored = dict(tenant.settings or {})
    for name, section in patch.items():
        merged = (merged_notify(stored.get("notify"), section, box) if name == "notify"
                  else merge_patch(stored.get(name), section))
        if merged is None:
            stored.pop(name, None)
        else:
            stored[name] = merged
    settings = validated(stored, tenant.timezone, allow_private)
    tenant.settings = stored
    await tenant.save(update_fields=["settings", "updated_at"])
    return settings


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: `patch` applied to `target` (neither is modified)."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def merged_notify(stored: dict[str, Any] | None, section: dict[str, Any] | None, box: Any) -> dict[str, Any] | None:
    """The stored `notify` section with the patch applied and the SMS secret sealed.

    The new sms object is the stored one merged with the patch's (or the patch's alone when it names another
    provider), without the stored sealed secret: `seal_notify` puts that back only for the same provider and key.
    """
    sms = (section or {}).get("sms")
    if not isinstance(sms, dict):
        return merge_patch(stored, section)
    if sealed := sorted(k for k in sms if k.endswith("_sealed")):
        raise InvalidField(f"notify.sms.{sealed[0]}", "not accepted: send the secret itself, it is sealed here")
    for plain in {p.secret_field for p in SMS_PROVIDERS.values()}:
        secret = sms.get(plain)
        if secret is not None and (not isinstance(secret, str) or not 1 <= len(secret) <= 256):
            raise InvalidField(f"notify.sms.{plain}", "a string of 1 to 256 characters")
    old = dict((stored or {}).get("sms") or {})
    same_provider = sms.get("provider", old.get("provider")) == old.get("provider")
    base = {k: v for k, v in old.items() if not k.endswith("_sealed")} if same_provider else {}
    sealed_sms = seal_notify({"sms": merge_patch(base, sms)}, box, stored)["sms"]
    _require_secret(sealed_sms)
    merged = merge_patch(stored, {**section, "sms": None})  # type: ignore[dict-item]
    return {**merged, "sms": sealed_sms}


def _require_secret(sms: dict[str, Any] | None) -> None:
    if sms and not any(k.endswith("_sealed") for k in sms):
        raise InvalidField(f"notify.sms.{secret_field_of(sms)}", "required: no secret is stored for this provider, "
                           "key and api_base yet (a stored secret is only sent to the endpoint it was entered for)")


def validated(stored: dict[str, Any], timezone: str, allow_private: bool) -> TenantSettings:
    try:
        # Strict, unlike `TenantSettings.of`, which tolerates a bad template stored before templates were checked.
        settings = TenantSettings.model_validate(stored)
        settings.calendar_for(timezone)  # hours in order, not overlapping
    except ValidationError as e:
        err = e.errors()[0]
        raise InvalidField(".".join(str(p) for p in err["loc"]), err["msg"]) from None
    except ConfigError as e:
        raise InvalidField("calendar.hours", str(e)) from None
    sms = settings.notify.sms
    if sms is not None and sms.api_base:
        try:
            check_literal(sms.api_base, allow_private)
        except LeadbotError as e:
            raise InvalidField("notify.sms.api_base", str(e)) from None
    return settings
