"""Remember-and-queue is one step: a platform's retries never become a second job, and a queued job runs."""

from __future__ import annotations

import asyncio

from bot.jobs import inbound
from bot.platforms.base import Inbound, InboundKind
from bot.runtime.worker import drain


async def test_enqueue_once_dedups_across_clients(services) -> None:
    from arq.connections import ArqRedis

    from bot.runtime.queue import Queue
    from storage.redis import connect

    other = Queue(connect(services.settings.redis_url, ArqRedis))  # a second process
    results = await asyncio.gather(
        services.queue.enqueue_once("leadbot:dedup:t:1", 60, "handle_inbound", app_id=1, inbound={}),
        other.enqueue_once("leadbot:dedup:t:1", 60, "handle_inbound", app_id=1, inbound={}),
        services.queue.enqueue_once("leadbot:dedup:t:1", 60, "handle_inbound", app_id=1, inbound={}),
    )
    assert sorted(results) == [False, False, True]
    assert await services.queue.depth() == 1
    await other.redis.aclose()


async def test_queued_inbound_reaches_its_handler_once(services) -> None:
    seen: list[Inbound] = []

    async def record(ctx, app_id, message):
        seen.append(message)

    from bot.admin.apps import register_app
    from bot.admin.schemas import AppIn
    from storage.models import Tenant

    tenant = await Tenant.create(name="T")
    app = await register_app(services.box, services.settings, tenant.id, AppIn.model_validate({
        "platform": "dingtalk", "name": "d", "credentials": {"app_key": "k1", "app_secret": "s" * 10}}).root)
    message = Inbound(platform="dingtalk", kind=InboundKind.TEXT, sender="u1", created_at=1.0, dedup_key="m1",
                      text="你好")
    old = inbound.HANDLERS.get(InboundKind.TEXT)
    inbound.HANDLERS[InboundKind.TEXT] = record
    try:
        for _ in range(3):
            await services.queue.enqueue_once("leadbot:dedup:dingtalk:m1", 60, "handle_inbound",
                                              app_id=app.id, inbound=message.to_dict())
        await drain(services)
    finally:
        if old is None:
            inbound.HANDLERS.pop(InboundKind.TEXT)
        else:
            inbound.HANDLERS[InboundKind.TEXT] = old
    assert seen == [message]


async def test_a_job_id_is_queued_once_while_its_job_or_result_exists(services) -> None:
    """`Queue.enqueue` of a job to run now (one script) keeps arq's `enqueue_job` rule: an id whose job is queued, or
    whose result is kept, is not queued again; the job is stored as arq would and runs."""
    from arq.constants import job_key_prefix, result_key_prefix
    from arq.jobs import Job, JobStatus

    queue = services.queue
    assert await queue.enqueue("process_outbox", job_id="t-once", ids=[]) is True
    assert await queue.enqueue("process_outbox", job_id="t-once", ids=[]) is False
    assert await queue.depth() == 1
    job = Job("t-once", services.redis, _queue_name=queue.queue_name)
    info = await job.info()
    assert (info.function, info.kwargs, await job.status()) == ("process_outbox", {"ids": []}, JobStatus.queued)
    assert 0 < await services.redis.pttl(job_key_prefix + "t-once") <= services.redis.expires_extra_ms
    await services.redis.delete(job_key_prefix + "t-once")
    await services.redis.set(result_key_prefix + "t-once", b"kept")
    assert await queue.enqueue("process_outbox", job_id="t-once", ids=[]) is False
    # Without an id, each call is its own job.
    assert await queue.enqueue("process_outbox", ids=[]) and await queue.enqueue("process_outbox", ids=[])
