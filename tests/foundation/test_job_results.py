"""What a finished job leaves in Redis: the jobs every click makes keep their result two minutes, not the hour the
timers' jobs keep theirs (a kept result is what stops a timer that ran from being queued again)."""

from __future__ import annotations

from arq.constants import result_key_prefix

from bot.jobs import SHORT_RESULT_S
from bot.runtime.worker import drain


async def test_a_click_jobs_result_goes_after_two_minutes_a_timers_after_an_hour(services) -> None:
    await services.queue.enqueue("process_outbox", job_id="outbox:test", ids=[])
    await services.queue.enqueue("fire_deadline", job_id="deadline:test", deadline_id=999_999, fence=1, step=0)
    assert await drain(services) == 2

    outbox_ttl = await services.redis.ttl(result_key_prefix + "outbox:test")
    timer_ttl = await services.redis.ttl(result_key_prefix + "deadline:test")
    assert 0 < outbox_ttl <= SHORT_RESULT_S
    assert timer_ttl > 3000
