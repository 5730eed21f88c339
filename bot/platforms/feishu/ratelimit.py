"""Feishu's message limits, counted on our side so a burst is refused before it leaves (Feishu answers 230020 and
then throttles the bot for that chat).

- to one user or chat: 5 messages a second (im/v1/messages, "向同一用户发送消息 5 QPS");
- per app, for the whole tenant: 50 a second (the same API's app-wide limit; 1000 a minute on older docs: the
  tighter reading is kept).

The windows are the platforms' shared Redis sliding window (`bot.platforms.ratelimit`), shared by every process.
"""

from __future__ import annotations

from redis.asyncio import Redis

from bot.platforms.ratelimit import SlidingWindowLimit

PER_RECIPIENT_PER_S = 5
PER_APP_PER_S = 50


class MessageLimits:
    def __init__(self, redis: Redis, app_id: int) -> None:
        self._app_id = app_id
        self._recipient = SlidingWindowLimit(redis, f"feishu-msg:{app_id}", limit=PER_RECIPIENT_PER_S, window_s=1)
        self._app = SlidingWindowLimit(redis, "feishu-app", limit=PER_APP_PER_S, window_s=1)

    async def acquire(self, recipient: str) -> None:
        """Take a slot for one message to `recipient`, or raise `RateLimited` saying how long to wait."""
        await self._app.acquire(str(self._app_id))
        await self._recipient.acquire(recipient)
