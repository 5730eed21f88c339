"""Steps every end-to-end scenario shares: a tenant, a routing rule, a lead, and waiting for the worker."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from aiohttp.test_utils import TestClient

from bot import leadservice
from bot import leadtypes as lt
from bot.services import Services
from storage.models import Lead, RoutingRule

T = TypeVar("T")
WAIT_S = 20.0


async def eventually(probe: Callable[[], T | Awaitable[T]], timeout_s: float = WAIT_S,
                     what: str = "condition") -> T:
    """Poll `probe` (a function or a coroutine function) until it gives something truthy (the worker runs in the
    background); that value."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                value = probe()
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return cast(T, value)
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def create_tenant(client: TestClient, admin_headers: dict[str, str], name: str = "Acme 销售部") -> int:
    r = await client.post("/admin/tenants", json={"name": name}, headers=admin_headers)
    assert r.status == 201, await r.text()
    return (await r.json())["id"]


async def route_everything_to(tenant_id: int, user_id: int) -> None:
    await RoutingRule.create(tenant_id=tenant_id, name="all to one rep",
                             spec={"strategy": "named", "named_rep_id": user_id})


async def new_lead(services: Services, tenant_id: int, **values: Any) -> Lead:
    """A lead from the intake side, routed by the tenant's rules; its follow-ups run on the worker."""
    values = {"company": "杭州云帆科技有限公司", "contact_name": "陈明", "source": "官网表单", **values}
    row, created = await leadservice.create_lead(services, tenant_id, values, lt.Actor.system(tenant_id))
    assert created
    return row
