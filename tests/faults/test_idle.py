"""An idle service is quiet (issue 23): with the production topology (one `serve --no-worker`, two `worker`s) and
nothing to do, no job is "taken back" and the log holds no per-run lines of arq or of the maintenance crons."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.faults.support import Fleet

pytestmark = pytest.mark.slow
IDLE_S = 20  # every maintenance cron runs at least once on each worker (the outbox sweep every 15 s)


async def test_an_idle_service_logs_nothing_after_it_started(services, fleet: Fleet) -> None:
    # `services` empties the database first: on PostgreSQL the session's database keeps an earlier test's tenant,
    # whose manager would get a morning digest when the suite runs in working hours (not idle, and not this test's).
    serve = await fleet.serve()
    workers = [await fleet.worker("worker-a"), await fleet.worker("worker-b")]
    starts = {p.name: len(p.log()) for p in (serve, *workers)}
    await asyncio.sleep(IDLE_S)
    after = {p.name: p.log()[starts[p.name]:] for p in (serve, *workers)}
    lines = [f"{name}: {line}" for name, text in after.items() for line in text.splitlines() if line.strip()]
    assert not [line for line in lines if "took back" in line], lines
    assert not [line for line in lines if re.search(r" arq[.:]", line)], lines  # arq's "→ cron:…" / "←" lines
    assert lines == [], "\n".join(lines)
