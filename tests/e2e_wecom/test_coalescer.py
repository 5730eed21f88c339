"""The callback route's queueing: concurrent deliveries share Redis round trips and keep enqueue_once's promises."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence

import pytest
from arq.connections import ArqRedis
from redis.exceptions import ConnectionError as RedisConnectionError

from bot.platforms.base import CardClick, Inbound, InboundKind
from bot.runtime.queue import Coalescer, OnceCall, Queue
from storage.redis import connect


class RecordingQueue(Queue):
    """A real queue that also notes how many calls each round trip carried."""

    def __init__(self, redis: ArqRedis) -> None:
        super().__init__(redis)
        self.batches: list[int] = []

    async def enqueue_once_many(self, calls: Sequence[OnceCall]) -> list[bool | Exception]:
        self.batches.append(len(calls))
        return await super().enqueue_once_many(calls)


def key(n: int) -> str:
    return f"leadbot:dedup:wecom:1:msg:{n}"


async def test_concurrent_calls_share_round_trips_and_each_gets_its_answer(services) -> None:
    queue = RecordingQueue(services.redis)
    coalescer = Coalescer(queue)
    # 40 deliveries of 20 messages (each twice), all arriving at once, as under load.
    keys = [key(n % 20) for n in range(40)]
    results = await asyncio.gather(*(coalescer.enqueue_once(k, 60, "handle_inbound", app_id=1, n=i)
                                     for i, k in enumerate(keys)))
    assert results == [True] * 20 + [False] * 20
    assert await services.queue.depth() == 20
    assert sum(queue.batches) == 40 and len(queue.batches) < 40


async def test_a_key_remembered_by_the_plain_call_is_a_duplicate_here_and_back(services) -> None:
    coalescer = Coalescer(services.queue)
    assert await services.queue.enqueue_once(key(1), 60, "handle_inbound", app_id=1) is True
    assert await coalescer.enqueue_once(key(1), 60, "handle_inbound", app_id=1) is False
    assert await coalescer.enqueue_once(key(2), 60, "handle_inbound", app_id=1) is True
    assert await services.queue.enqueue_once(key(2), 60, "handle_inbound", app_id=1) is False
    assert await services.queue.depth() == 2


async def test_a_flushed_script_cache_is_reloaded(services) -> None:
    coalescer = Coalescer(services.queue)
    assert await coalescer.enqueue_once(key(1), 60, "handle_inbound", app_id=1) is True
    await services.redis.script_flush()  # as after a Redis restart
    assert await asyncio.gather(*(coalescer.enqueue_once(key(n), 60, "f", a=n) for n in (1, 2, 3))) == [
        False, True, True]
    assert await services.queue.depth() == 3


async def test_redis_unreachable_fails_every_caller_of_the_batch(tmp_path) -> None:
    redis = connect(f"unix://{tmp_path}/no-such.sock", ArqRedis)
    try:
        coalescer = Coalescer(Queue(redis))
        results = await asyncio.gather(*(coalescer.enqueue_once(key(n), 60, "f") for n in range(5)),
                                       return_exceptions=True)
        assert len(results) == 5 and all(isinstance(r, RedisConnectionError) for r in results)
        # and the next call is tried afresh, not stuck behind the failed batch
        with pytest.raises(RedisConnectionError):
            await coalescer.enqueue_once(key(9), 60, "f")
    finally:
        await redis.aclose()


async def test_a_caller_that_stops_waiting_does_not_disturb_the_others(services) -> None:
    coalescer = Coalescer(services.queue)
    waiting = [asyncio.create_task(coalescer.enqueue_once(key(n), 60, "f")) for n in range(3)]
    waiting[1].cancel()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert results[0] is True and results[2] is True and isinstance(results[1], asyncio.CancelledError)
    # What was already handed over may have been queued: a retry of it is then a duplicate, never lost.
    assert await coalescer.enqueue_once(key(1), 60, "f") in (True, False)
    assert await coalescer.enqueue_once(key(1), 60, "f") is False


INBOUNDS = [
    Inbound(platform="wecom", kind=InboundKind.TEXT, sender="rep1", created_at=1.7e9, dedup_key="msg:1", msg_id="1",
            text="明天拜访"),
    Inbound(platform="wecom", kind=InboundKind.VOICE, sender="rep1", created_at=1.7e9, dedup_key="msg:2",
            media_ref="m1", media_format="amr", duration_s=12.5, recognition="预算八十万"),
    Inbound(platform="wecom", kind=InboundKind.CARD_CLICK, sender="rep1", created_at=1.7e9, dedup_key="event:x",
            event="template_card_event", card=CardClick("task-1", "lb1:adv:1:1:contacted",
                                                       {"selected": {"q1": ["a", "b"]}}, "rc-1", "vote_interaction")),
    Inbound(platform="dingtalk", kind=InboundKind.TEXT, sender="staff1", created_at=1.7e9, dedup_key="m",
            conversation_id="cid", reply_url="https://oapi.dingtalk.com/robot/sendBySession?x=1",
            reply_url_expires_at=1.7e9 + 5400),
]


@pytest.mark.parametrize("inbound", INBOUNDS, ids=lambda i: f"{i.platform}-{i.kind}")
def test_inbound_to_dict_is_plain_data_equal_to_the_dataclass(inbound: Inbound) -> None:
    d = inbound.to_dict()
    expected = dataclasses.asdict(inbound) | {"kind": str(inbound.kind)}
    assert d == expected
    assert json.loads(json.dumps(d)) == d  # builtins only
    assert Inbound.from_dict(d) == inbound
    if inbound.card is not None:
        d["card"]["params"]["selected"]["q1"].append("c")  # the job's copy is its own
        assert inbound.card.params == {"selected": {"q1": ["a", "b"]}}


async def test_wait_sent_returns_once_every_handed_over_call_has_its_answer(services) -> None:
    coalescer = Coalescer(services.queue)
    calls = [asyncio.create_task(coalescer.enqueue_once(key(n), 60, "f")) for n in range(10)]
    await asyncio.sleep(0)  # the calls are handed over
    await coalescer.wait_sent()
    assert all(c.done() for c in calls) and [c.result() for c in calls] == [True] * 10
    await coalescer.wait_sent()  # nothing in flight: returns at once
