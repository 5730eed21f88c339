"""The one way a verified delivery of a platform with per-delivery callbacks becomes work, shared by its HTTP routes
and its long-connection runners.

Remembering the delivery (its dedup key: a message, event or frame id) and queueing `handle_inbound` happen in one
Redis script (`Queue.enqueue_once`), so a redelivery is recognised and a crash between the two cannot lose it.
Errors are not caught here: an HTTP route answers 503 and the platform sends the callback again; a long connection
leaves the frame unacknowledged and the gateway redelivers it. Either way nothing is acknowledged that is not safely
queued.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.platforms.base import Inbound
from bot.runtime.queue import AppIngest
from storage import redis_keys

if TYPE_CHECKING:
    from bot.runtime.services import Services

# The platforms wait 1.5 s (the quickest, for an event push) to 3 s for an answer: a Redis that hangs must fail
# the request well before that.
QUEUE_TIMEOUT_S = 1.0
JOB = "handle_inbound"


async def queue_inbound(services: Services, platform: str, app_id: int, inbound: Inbound, *,
                        timeout_s: float = QUEUE_TIMEOUT_S) -> bool:
    """Queue `inbound` for `app_id` unless this delivery was seen before. True when newly queued.

    Raises (Redis errors, `TimeoutError`, `QuotaExceeded` for an app over its callback rate) when it could not be
    queued.
    """
    key = redis_keys.dedup(platform, app_id, inbound.dedup_key)
    app = AppIngest.of(services.settings, platform, app_id)
    async with asyncio.timeout(timeout_s):
        return await services.queue.enqueue_once(key, services.settings.dedup_ttl_s, JOB, _app=app, app_id=app_id,
                                                 inbound=inbound.to_dict())
