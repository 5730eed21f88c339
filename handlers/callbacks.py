"""What every platform's callback routes share: a refusal, how it is answered, and what "the backend is down" is.

A callback we will not take gets a specific status, one warning line naming the reason (never a key, token or
message content), a `leadbot_callbacks_total{platform,outcome}` sample, and no effect. When the database or Redis
cannot take a delivery the answer is 503 with `Retry-After`: the platform sends it again, so nothing is lost.
"""

from __future__ import annotations

import functools
import logging
import sqlite3

from aiohttp import web
from redis.exceptions import RedisError
from tortoise.exceptions import BaseORMException

from bot.runtime import metrics
from handlers.http import Handler, HttpProblem

try:  # the PostgreSQL driver's own errors (server starting, too many connections) are not OSErrors
    from asyncpg import InterfaceError as _PgInterfaceError
    from asyncpg import PostgresError as _PgError

    _PG_ERRORS: tuple[type[BaseException], ...] = (_PgError, _PgInterfaceError)
except ImportError:  # pragma: no cover - asyncpg is a declared dependency
    _PG_ERRORS = ()

# A dependency that did not do it, from a callback's point of view: any error of the database or Redis, not only the
# connection-level ones `storage.outage.is_outage` names. A callback has no other way to keep a message than to have
# the platform send it again, so even an odd database error is answered 503 rather than lost behind a 500.
BACKEND_ERRORS: tuple[type[BaseException], ...] = (
    RedisError, BaseORMException, sqlite3.Error, OSError, TimeoutError, *_PG_ERRORS,
)


class Refused(Exception):
    """A callback answered with `status` and no effect; `outcome` is the metrics label, `reason` the log text."""

    def __init__(self, status: int, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.outcome = outcome
        self.reason = reason


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
