"""What every platform's callback routes share: a refusal, how it is answered, and what "the backend is down" is.

A callback we will not take gets a specific status, one warning line naming the reason (never a key, token or
message content), a `leadbot_callbacks_total{platform,outcome}` sample, and no effect. When the database or Redis
cannot take a delivery the answer is 503 with `Retry-After`: the platform sends it again, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import NoReturn

from aiohttp import web

from bot.admin.apps import LoadedApp
from bot.platforms.base import Inbound
from bot.platforms.ingest import queue_inbound
from bot.runtime import metrics
from bot.runtime.appkeys import SERVICES
from bot.runtime.quotas import QuotaExceeded
from bot.runtime.services import Services
from handlers.http import Handler, HttpProblem, body_deadline
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


_READ_CHUNK = 64 * 1024


# The platforms give up on an answer after a few seconds (the quickest after 5 s) and send the callback again;
# answering 503 before that, when the database hangs, keeps the outcome ours to decide and logged.
DEPENDENCY_TIMEOUT_S = 3.0


async def active_app(request: web.Request, platform: str, title: str) -> tuple[Services, LoadedApp]:
    """The active app of `platform` the path's `app_id` names, else a refusal: 404 for a malformed id, no such app
    or another platform's app (`title` names the platform in the reason), 403 for a disabled one, 503 when the
    database is down or does not answer within `DEPENDENCY_TIMEOUT_S`."""
    services = request.app[SERVICES]
    raw = request.match_info["app_id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise Refused(404, "unknown_app", "no such app")
    try:
        async with asyncio.timeout(DEPENDENCY_TIMEOUT_S):
            app = await services.apps.get(int(raw))
    except Exception as e:
        refuse_if_outage(e, f"app lookup failed: {type(e).__name__}")
    if app is None:
        raise Refused(404, "unknown_app", f"no such {title} app")
    if app.platform != platform:
        raise Refused(404, "wrong_platform", f"app {app.id} is not a {title} app")
    if not app.active:
        raise Refused(403, "disabled_app", "the app is disabled")
    return services, app


async def read_capped(request: web.Request, limit: int) -> bytes:
    """The body, read only up to `limit` bytes (413 past it, announced or not) and within the body deadline (408: a
    client trickling its body; the platforms send their few KiB at once)."""
    if request.content_length is not None and request.content_length > limit:
        raise Refused(413, "too_large", f"body of {request.content_length} bytes is over {limit}")
    body = bytearray()
    try:
        async with body_deadline(request):
            while chunk := await request.content.read(_READ_CHUNK):
                body += chunk
                if len(body) > limit:
                    raise Refused(413, "too_large", f"body is over {limit} bytes")
    except TimeoutError:
        raise Refused(408, "too_slow", "body not received in time") from None
    return bytes(body)


async def queue_callback(services: Services, platform: str, app: LoadedApp, inbound: Inbound) -> str:
    """Queue a verified callback once (`bot.platforms.ingest`): its outcome, "queued" or "duplicate", counted and
    logged on the platform's logger; a refusal (503) when the app is over its rate or Redis is down, so the platform
    sends it again."""
    try:
        queued = await queue_inbound(services, platform, app.id, inbound)
    except QuotaExceeded as e:  # 503: the platform sends it again, and it comes back within the app's rate
        raise Refused(503, "rate_limited", str(e)) from None
    except Exception as e:
        refuse_if_outage(e, f"could not queue: {type(e).__name__}")
    outcome = "queued" if queued else "duplicate"
    metrics.CALLBACKS.labels(platform, outcome).inc()
    logging.getLogger(f"leadbot.{platform}").info("%s %s %s app=%d kind=%s", platform, outcome,
                                                   inbound.dedup_key[:48], app.id, inbound.kind)
    return outcome


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
