"""A driver per platform (parametrized), the real app under the aiohttp test client, and a real worker with the
session's speech model; e-mail goes to a real SMTP server (tests/support/alerting.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from arq import Worker

from bot.runtime.config import Settings
from bot.runtime.services import Services
from bot.runtime.worker import running_worker
from tests.notify.smtp_server import Recorder
from tests.parity.drivers import DRIVERS, PlatformDriver, RouteMissing
from tests.support.alerting import with_smtp
from tests.support.speech import with_model


@pytest.fixture
def settings(settings: Settings, smtp: Recorder, voice_model_dir: Path) -> Settings:
    return with_model(with_smtp(settings, smtp), voice_model_dir)


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
