"""Stream mode in every process: the shared connection supervisor (`bot.platforms.connections`) with DingTalk's
runner, one per active stream-mode app; off where LEADBOT_DINGTALK_STREAM says so."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from bot.platforms.connections import POLL_S, ConnectedApp, ConnectionSupervisor, OnInbound, supervising
from bot.platforms.dingtalk.config import NAME, DingTalkCredentials
from bot.platforms.dingtalk.stream import StreamRunner

if TYPE_CHECKING:
    from bot.runtime.services import Services

log = logging.getLogger(__name__)


def connects(credentials: BaseModel) -> bool:
    return isinstance(credentials, DingTalkCredentials) and credentials.mode == "stream"


class StreamSupervisor(ConnectionSupervisor):
    def __init__(self, services: Services, *, poll_s: float = POLL_S, gateway_base: str | None = None,
                 runner_options: dict[str, Any] | None = None) -> None:
        options = dict(runner_options or {})

        def make_runner(app: ConnectedApp, on_inbound: OnInbound) -> StreamRunner:
            assert isinstance(app.credentials, DingTalkCredentials)
            # Normally each app's api_base (or DingTalk's host) serves connections/open; tests may point elsewhere.
            return StreamRunner(app.app_id, app.credentials, services.redis, on_inbound,
                                gateway_base=gateway_base or app.api_base, session=services.http,
                                allow_private=services.settings.allow_private_urls, clock=services.clock, **options)

        super().__init__(services, platform=NAME, connects=connects, make_runner=make_runner,
                         poll_s=poll_s)


@contextlib.asynccontextmanager
async def running_stream_supervisor(services: Services, **options: Any) -> AsyncIterator[StreamSupervisor | None]:
    """Run a supervisor for the duration of the block, unless LEADBOT_DINGTALK_STREAM turns it off."""
    if not services.settings.dingtalk_stream:
        log.info("dingtalk stream supervision is off in this process")
        yield None
        return
    async with supervising(StreamSupervisor(services, **options)) as supervisor:
        assert isinstance(supervisor, StreamSupervisor)
        yield supervisor
