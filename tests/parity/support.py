"""Steps every end-to-end scenario shares: a tenant, a routing rule, a lead, and waiting for the worker."""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp.test_utils import TestClient

from bot.runtime.services import Services
from storage.models import Lead, RoutingRule
from tests.support.leads import DEFAULTS, take_in
from tests.support.waiting import eventually  # noqa: F401 - the suite's tests import it from here

T = TypeVar("T")
WAIT_S = 20.0


async def create_tenant(client: TestClient, admin_headers: dict[str, str], name: str = "Acme 销售部") -> int:
    r = await client.post("/admin/tenants", json={"name": name}, headers=admin_headers)
    assert r.status == 201, await r.text()
    return (await r.json())["id"]


async def route_everything_to(tenant_id: int, user_id: int) -> None:
    await RoutingRule.create(tenant_id=tenant_id, name="all to one rep",
                             spec={"strategy": "named", "named_rep_id": user_id})


async def new_lead(services: Services, tenant_id: int, **values: Any) -> Lead:
    """A lead from the intake side, routed by the tenant's rules; its follow-ups run on the worker."""
    return await take_in(services, tenant_id, {**DEFAULTS, **values})
