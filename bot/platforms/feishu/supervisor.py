"""Long-connection mode in every process: the shared connection supervisor (`bot.platforms.connections`) with
Feishu's ws runner, one per active ws-mode app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from bot.platforms.connections import POLL_S, ConnectedApp, ConnectionSupervisor, OnInbound, supervising
from bot.platforms.feishu.config import NAME, FeishuCredentials
from bot.platforms.feishu.longconn import LongConnRunner

if TYPE_CHECKING:
    from bot.runtime.services import Services


def connects(credentials: BaseModel) -> bool:
    return isinstance(credentials, FeishuCredentials) and credentials.mode == "ws"


class LongConnSupervisor(ConnectionSupervisor):
    def __init__(self, services: Services, *, poll_s: float = POLL_S,
                 runner_options: dict[str, Any] | None = None) -> None:
        options = dict(runner_options or {})

        def make_runner(app: ConnectedApp, on_inbound: OnInbound) -> LongConnRunner:
            assert isinstance(app.credentials, FeishuCredentials)
            return LongConnRunner(app.app_id, app.credentials, services.redis, on_inbound, api_base=app.api_base,
                                  clock=services.clock, **options)

        super().__init__(services, platform=NAME, connects=connects, make_runner=make_runner,
                         poll_s=poll_s)


@asynccontextmanager
async def running_longconn_supervisor(services: Services, **options: Any) -> AsyncIterator[LongConnSupervisor]:
    async with supervising(LongConnSupervisor(services, **options)) as supervisor:
        assert isinstance(supervisor, LongConnSupervisor)
        yield supervisor
