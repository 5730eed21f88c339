"""The one way a verified Feishu delivery becomes work, shared by the HTTP routes and the long-connection runner.

Remembering the delivery (its event id) and queueing `handle_inbound` happen in one Redis script
(`Queue.enqueue_once`), so a redelivery is recognised and a crash between the two cannot lose the event. Errors are
not caught here: an HTTP route answers 503 and Feishu pushes again; the long connection answers the frame 500 and
Feishu redelivers it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.platforms.base import Inbound
from bot.platforms.feishu.config import NAME
from bot.runtime.queue import AppIngest
from storage import redis_keys

if TYPE_CHECKING:
    from bot.runtime.services import Services

PLATFORM = NAME
# Feishu waits 3 s for an answer; a Redis that hangs must fail the request well before that.
QUEUE_TIMEOUT_S = 1.0
JOB = "handle_inbound"


async def queue_inbound(services: Services, app_id: int, inbound: Inbound, *,
                        timeout_s: float = QUEUE_TIMEOUT_S) -> bool:
    """Queue `inbound` for `app_id` unless this delivery was seen before. True when newly queued."""
    key = redis_keys.dedup(PLATFORM, app_id, inbound.dedup_key)
    app = AppIngest.of(services.settings, PLATFORM, app_id)
    async with asyncio.timeout(timeout_s):
        return await services.queue.enqueue_once(key, services.settings.dedup_ttl_s, JOB, _app=app, app_id=app_id,
                                                 inbound=inbound.to_dict())
