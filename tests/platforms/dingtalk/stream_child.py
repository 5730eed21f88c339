"""A StreamRunner in its own process, for the lease takeover test (killed with SIGKILL by the parent).

argv: gateway_base app_key app_secret lease_ttl_s redis_url
"""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from bot.platforms.base import Inbound
from bot.platforms.dingtalk.config import DingTalkCredentials
from bot.platforms.dingtalk.stream import StreamRunner

CHILD_INBOX = "leadbot:test:child-inbound"


async def main(gateway: str, app_key: str, app_secret: str, ttl_s: float, redis_url: str) -> None:
    redis = Redis.from_url(redis_url)

    async def on_inbound(inbound: Inbound) -> None:
        await redis.rpush(CHILD_INBOX, inbound.dedup_key)

    creds = DingTalkCredentials(app_key=app_key, app_secret=app_secret, mode="stream")
    runner = StreamRunner(1, creds, redis, on_inbound, gateway_base=gateway, lease_ttl_s=ttl_s,
                          silence_timeout_s=30, backoff_base_s=0.05, backoff_max_s=0.2, allow_private=True)
    await runner.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]))
