"""What every platform's callback routes share: a refusal, how it is answered, and what "the backend is down" is.

A callback we will not take gets a specific status, one warning line naming the reason (never a key, token or
message content), a `leadbot_callbacks_total{platform,outcome}` sample, and no effect. When the database or Redis
cannot take a delivery the answer is 503 with `Retry-After`: the platform sends it again, so nothing is lost.
"""

from __future__ import annotations

import functools
import logging
from typing import NoReturn

from aiohttp import web

from bot.runtime import metrics
from handlers.http import Handler, HttpProblem
from storage.outage import is_outage


class Refused(Exception):
    """A callback answered with `status` and no effect; `outcome` is the metrics label, `reason` the log text."""

    def __init__(self, status: int, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.outcome = outcome
        self.reason = reason


def refuse_if_outage(error: Exception, reason: str) -> NoReturn:
    """A 503 refusal (`reason`) when `error` says the database or Redis is down (`storage.outage.is_outage`, the one
    definition): the platform sends the callback again. Any other error is raised as it is (a bug: a 500, which
    the platform retries too)."""
    if not is_outage(error):
        raise error
    raise Refused(503, "unavailable", reason) from None


def shown_id(raw: str) -> str:
    """The app id path segment for a log line: it is the caller's text, quoted unless it is a plain id, so it cannot
    forge a log line."""
    return raw if raw.isascii() and raw.isdecimal() and len(raw) <= 18 else repr(raw[:20])


def answering_refusals(platform: str, route: str, handler: Handler) -> Handler:
    """`handler` with a `Refused` turned into its answer, its log line (on the platform's logger) and its metrics
    sample."""
    log = logging.getLogger(f"leadbot.{platform}")

    @functools.wraps(handler)
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refused as r:
            log.warning("%s %s refused: app=%s %s status=%d outcome=%s reason=%r from=%s", platform, route,
                        shown_id(request.match_info.get("app_id", "")), request.method, r.status, r.outcome,
                        r.reason, request.remote)
            metrics.CALLBACKS.labels(platform, r.outcome).inc()
            response = HttpProblem(r.status, r.outcome, r.reason).response()
            if r.status == 503:
                response.headers["Retry-After"] = "1"
            return response

    return answer
