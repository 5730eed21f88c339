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
from pydantic import BaseModel, Field

from bot.admin import settings_patch
from bot.admin.tenant_settings import (
    BoardSection,
    CalendarSection,
    EscalationSection,
    NotifySection,
    TenantSettings,
    WorkflowSection,
)
from bot.alerting.notify.providers import SmsSettingsForm
from bot.runtime import tenant_cache
from bot.runtime.appkeys import SERVICES
from handlers.admin import _id
from handlers.auth import Principal, authenticate
from handlers.http import HttpProblem, json_out, read_json
from handlers.openapi import ApiRoutes
from storage.models import Tenant, TokenScope

API = ApiRoutes()

SECTIONS = settings_patch.SECTIONS


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
    return SettingsOut(**settings_patch.shown(settings))


async def _tenant(request: web.Request) -> tuple[Principal, Tenant]:
    principal = await authenticate(request, need=TokenScope.ADMIN)
    tenant_id = _id(request)
    principal.check_tenant(tenant_id, "tenant")
    tenant = await Tenant.get_or_none(id=tenant_id)
    if tenant is None:
        raise HttpProblem(404, "not_found", f"tenant {tenant_id} not found")
    return principal, tenant


@API.route("GET", "/admin/tenants/{id}/settings", summary="Show a tenant's settings "
                 "(workflow, escalation, calendar, notify, board)", tags=("tenants",), response=SettingsOut)
async def show_settings(request: web.Request) -> web.Response:
    _, tenant = await _tenant(request)
    return json_out(_shown(TenantSettings.of(tenant.settings)))


@API.route("PATCH", "/admin/tenants/{id}/settings", summary="Change a tenant's settings (a JSON Merge "
                 "Patch, RFC 7396; the merged whole is validated)", tags=("tenants",), body=SettingsPatch,
                 response=SettingsOut)
async def update_settings(request: web.Request) -> web.Response:
    _, tenant = await _tenant(request)
    patch = await read_json(request)
    services = request.app[SERVICES]
    settings = await settings_patch.apply(tenant, patch, services.box, services.settings.allow_private_urls)
    await tenant_cache.changed(services.redis, tenant.id)  # the tenant as API requests keep it
    return json_out(_shown(settings))
