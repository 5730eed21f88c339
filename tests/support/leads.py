"""A lead taken in through the core, as the lead API and the importers do it: the one `create_lead` call the suites'
`new_lead` helpers share (each adds its own defaults, actor and follow-up)."""

from __future__ import annotations

from typing import Any

from bot.leads import service as leadservice
from bot.leads import types as lt
from bot.runtime.services import Services
from storage.models import Lead

DEFAULTS = {"company": "杭州云帆科技有限公司", "contact_name": "陈明", "source": "官网表单"}


async def take_in(services: Services, tenant_id: int, values: dict[str, Any], actor: lt.Actor | None = None) -> Lead:
    """A new lead with `values` (DEFAULTS are there to merge in), routed by the tenant's rules; by the system
    unless `actor`. Fails if the core found it already there (an `external_id` reused by mistake)."""
    row, created = await leadservice.create_lead(services, tenant_id, values, actor or lt.Actor.system(tenant_id))
    assert created, values
    return row
