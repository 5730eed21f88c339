"""The shared token broker: one refresh at a time across processes; a stale 'bad token' never drops a new one."""

from __future__ import annotations

import asyncio

from bot.runtime.tokens import TokenBroker
from storage.redis import connect


async def test_two_processes_refresh_once_and_invalidate_safely(services) -> None:
    a = services.broker
    b = TokenBroker(connect(services.settings.redis_url), services.box)  # as if in another worker
    calls = 0

    async def fetch():
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.1)
        return f"token-{calls}", 7200

    got = await asyncio.gather(*(broker.get("wecom", 1, fetch) for broker in (a, b) for _ in range(4)))
    assert set(got) == {"token-1"} and calls == 1

    await a.invalidate("wecom", 1, "token-1")  # the platform refused it
    got = await asyncio.gather(a.get("wecom", 1, fetch), b.get("wecom", 1, fetch))
    assert got[0] == "token-2" and calls == 2
    await b.invalidate("wecom", 1, "token-1")  # late report about the old token
    assert await b.get("wecom", 1, fetch) == "token-2" and calls == 2
    raw = await services.redis.get("leadbot:token:wecom:1")
    assert b"token-2" not in raw  # sealed at rest in Redis too
    await b._redis.aclose()


async def test_token_is_refreshed_ahead_of_expiry(services) -> None:
    now = [1000.0]
    broker = TokenBroker(services.redis, services.box, refresh_margin_s=300, clock=lambda: now[0])
    n = 0

    async def fetch():
        nonlocal n
        n += 1
        return f"t{n}", 7200

    assert await broker.get("dingtalk", 2, fetch) == "t1"
    now[0] += 7200 - 301
    assert await broker.get("dingtalk", 2, fetch) == "t1"
    now[0] += 2  # inside the margin: refresh before the platform expires it
    assert await broker.get("dingtalk", 2, fetch) == "t2"


async def test_each_refresh_counts_in_the_documented_metric(services) -> None:
    """README: leadbot_token_refreshes_total{platform} counts the tokens fetched from a platform (issue 23)."""
    from prometheus_client import REGISTRY

    def count() -> float:
        return REGISTRY.get_sample_value("leadbot_token_refreshes_total", {"platform": "wecom"}) or 0.0

    before = count()
    n = 0

    async def fetch():
        nonlocal n
        n += 1
        return f"m{n}", 7200

    assert await services.broker.get("wecom", 77, fetch) == "m1"
    assert await services.broker.get("wecom", 77, fetch) == "m1"  # cached: no second refresh
    await services.broker.invalidate("wecom", 77, "m1")
    assert await services.broker.get("wecom", 77, fetch) == "m2"
    assert count() - before == 2
