"""A tenant row's settings are validated once per row as read (`TenantSettings.of_row`), and never go stale on it:
settings assigned to the row, or the row read again, are what the next reader sees."""

from __future__ import annotations

from bot.admin.tenant_settings import TenantSettings
from storage.models import Tenant


def test_settings_of_a_row_follow_what_is_assigned_to_it() -> None:
    tenant = Tenant(id=1, name="t", settings={"workflow": {"gate_demo_needs_evidence": False}})
    first = TenantSettings.of_row(tenant)
    assert first.workflow.gate_demo_needs_evidence is False
    assert TenantSettings.of_row(tenant) is first  # the same row: validated once
    tenant.settings = {"workflow": {"gate_demo_needs_evidence": True}}
    assert TenantSettings.of_row(tenant).workflow.gate_demo_needs_evidence is True
    again = Tenant(id=1, name="t", settings={"workflow": {"gate_demo_needs_evidence": False}})  # read again
    assert TenantSettings.of_row(again).workflow.gate_demo_needs_evidence is False
