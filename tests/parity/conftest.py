"""A driver per platform (parametrized), the real app under the aiohttp test client, and a real worker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from arq import Worker

from bot.services import Services
from bot.worker import running_worker
from tests.parity.drivers import DRIVERS, PlatformDriver, RouteMissing


@pytest.fixture(params=sorted(DRIVERS))
async def driver(request, client, services: Services, admin_headers) -> AsyncIterator[PlatformDriver]:
    d = DRIVERS[request.param](client, services, admin_headers)
    try:
        await d.start()
    except RouteMissing as e:
        pytest.skip(f"{request.param}: {e}")
    try:
        yield d
    finally:
        await d.close()


@pytest.fixture
async def worker(services: Services) -> AsyncIterator[Worker]:
    async with running_worker(services) as w:
        yield w
