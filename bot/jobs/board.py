"""The board digest's cron: every minute, raise the digests whose time has come (`bot.board.digest`)."""

from __future__ import annotations

from typing import Any

from arq import cron

from bot.board import digest
from bot.jobs import job, services
from bot.jobs.timers import arm_on


@job(timeout_s=300, quiet=True)
async def send_digests(ctx: dict[str, Any]) -> None:
    s = services(ctx)
    # Every minute; whether it is a tenant's digest time is decided from the services' clock, not the cron's.
    await arm_on(s, await digest.send_due(s, s.clock.now()))


CRON_JOBS = [cron(send_digests.coroutine, name="send_board_digests", second=40, unique=True, timeout=300)]
