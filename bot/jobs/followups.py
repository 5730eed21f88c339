"""Jobs that carry out outbox rows: the queued path (web handlers) and the sweeper for rows a crash left behind."""

from __future__ import annotations

import logging
from typing import Any

from arq import cron

from bot.jobs import SHORT_RESULT_S, job, services
from bot.runtime import outbox

log = logging.getLogger(__name__)


@job(keep_result_s=SHORT_RESULT_S)
async def process_outbox(ctx: dict[str, Any], ids: list[int]) -> None:
    await outbox.run(services(ctx), ids)


@job(quiet=True)
async def sweep_outbox(ctx: dict[str, Any]) -> None:
    """Queue the follow-ups still pending after their grace period (their committer died, or they failed)."""
    s = services(ctx)
    ids = await outbox.pending_due(s.clock.now())
    for row_id in ids:
        await s.queue.enqueue("process_outbox", job_id=f"outbox-sweep:{row_id}", ids=[row_id])
    if ids:
        log.info("outbox sweep queued %d pending row(s)", len(ids))


FUNCTIONS = [process_outbox]
CRON_JOBS = [cron(sweep_outbox.coroutine, name="sweep_outbox", second={5, 20, 35, 50}, run_at_startup=True,
                  unique=True, timeout=60)]
