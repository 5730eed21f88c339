"""`/admin/tenants/{id}/settings`: a tenant's settings, section by section (`bot.admin.tenant_settings`).

A PATCH is a JSON Merge Patch (RFC 7396) of the stored settings: objects are merged key by key, `null` removes a key
(it falls back to its default), anything else (a list, a number, a string) replaces the stored value. So switching
the SMS provider leaves `lead_url` and `ack_timeout_s` alone. One exception, because two providers' fields cannot
mix: an `sms` object naming another provider than the stored one replaces the stored `sms` whole. The result is
validated as a whole before it is stored. SMS credentials arrive in plain text, are sealed before they are stored
and are never shown again (`secret_set` says one is stored).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from bot.admin.tenant_settings import (
    BoardSection,
    CalendarSection,
    EscalationSection,
    NotifySection,
    TenantSettings,
    WorkflowSection,
    seal_notify,
)
from bot.alerting.notify.providers import SMS_PROVIDERS, SmsSettingsForm, secret_field_of
from bot.errors import ConfigError, InvalidField, LeadbotError
from bot.runtime.appkeys import SERVICES
from bot.runtime.urlguard import check_literal
from handlers.admin import _id
from handlers.admin import api as admin_api
from handlers.auth import Principal, authenticate
from handlers.http import HttpProblem, json_out, read_json
from storage.models import Tenant, TokenScope

SECTIONS = ("workflow", "escalation", "calendar", "notify", "board")


class NotifyIn(NotifySection):
    sms: SmsSettingsForm | None = None  # type: ignore[assignment]


class SettingsPatch(BaseModel):
    """A JSON Merge Patch (RFC 7396) of the settings: objects merge key by key, `null` removes a key (back to its
    default), other values replace; an `sms` naming another provider replaces the stored one whole. The merged
    settings are validated as a whole; sections left out are kept."""

    model_config = {"extra": "forbid"}
    workflow: WorkflowSection | None = None
    escalation: EscalationSection | None = None
    calendar: CalendarSection | None = None
    notify: NotifyIn | None = None
    board: BoardSection | None = None


class SettingsOut(BaseModel):
    workflow: dict[str, Any]
    board: dict[str, Any]
    escalation: dict[str, Any]
    calendar: dict[str, Any]
    notify: dict[str, Any] = Field(description="SMS secrets are never shown: `secret_set` says one is stored")


def _shown(settings: TenantSettings) -> SettingsOut:
    dumped = settings.model_dump(mode="json", include=set(SECTIONS))
    sms = dumped["notify"].get("sms")
    if sms:
        sealed = [k for k in sms if k.endswith("_sealed")]
        dumped["notify"]["sms"] = {k: v for k, v in sms.items() if k not in sealed} | {"secret_set": bool(sealed)}
    return SettingsOut(**dumped)


async def _tenant(request: web.Request) -> tuple[Principal, Tenant]:
    principal = await authenticate(request, need=TokenScope.ADMIN)
    tenant_id = _id(request)
    principal.check_tenant(tenant_id, "tenant")
    tenant = await Tenant.get_or_none(id=tenant_id)
    if tenant is None:
        raise HttpProblem(404, "not_found", f"tenant {tenant_id} not found")
    return principal, tenant


@admin_api.route("GET", "/admin/tenants/{id}/settings", summary="Show a tenant's settings "
                 "(workflow, escalation, calendar, notify, board)", tags=("tenants",), response=SettingsOut)
async def show_settings(request: web.Request) -> web.Response:
    _, tenant = await _tenant(request)
    return json_out(_shown(TenantSettings.of(tenant.settings)))


@admin_api.route("PATCH", "/admin/tenants/{id}/settings", summary="Change a tenant's settings (a JSON Merge "
                 "Patch, RFC 7396; the merged whole is validated)", tags=("tenants",), body=SettingsPatch,
                 response=SettingsOut)
async def update_settings(request: web.Request) -> web.Response:
    _, tenant = await _tenant(request)
    patch = await read_json(request)
    if not isinstance(patch, dict):
        raise HttpProblem(400, "invalid", "the body must be a JSON object of settings sections")
    for name, section in patch.items():
        if name not in SECTIONS:
            raise HttpProblem(400, "invalid", "not a settings section", field=name)
        if section is not None and not isinstance(section, dict):
            raise HttpProblem(400, "invalid", "a section is a JSON object (or null to reset it)", field=name)
    services = request.app[SERVICES]
    stored = dict(tenant.settings or {})
    for name, section in patch.items():
        if name == "notify":
            merged = _merged_notify(stored.get("notify"), section, services.box)
        else:
            merged = merge_patch(stored.get(name), section)
        if merged is None:
            stored.pop(name, None)
        else:
            stored[name] = merged
    settings = _validated(stored, tenant.timezone, services.settings.allow_private_urls)
    tenant.settings = stored
    await tenant.save(update_fields=["settings", "updated_at"])
    return json_out(_shown(settings))


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


def _merged_notify(stored: dict[str, Any] | None, section: dict[str, Any] | None, box: Any) -> dict[str, Any] | None:
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


def _validated(stored: dict[str, Any], timezone: str, allow_private: bool) -> TenantSettings:
    try:
        # Strict, unlike `TenantSettings.of`, which tolerates a bad template stored before templates were checked.
        settings = TenantSettings.model_validate(stored)
        settings.calendar_for(timezone)  # hours in order, not overlapping
    except ValidationError as e:
        err = e.errors()[0]
        raise HttpProblem(400, "invalid", err["msg"], field=".".join(str(p) for p in err["loc"])) from None
    except ConfigError as e:
        raise InvalidField("calendar.hours", str(e)) from None
    sms = settings.notify.sms
    if sms is not None and sms.api_base:
        try:
            check_literal(sms.api_base, allow_private)
        except LeadbotError as e:
            raise InvalidField("notify.sms.api_base", str(e)) from None
    return settings
