"""HTTP plumbing shared by every route: errors as JSON, body reading with limits, validation, request logging."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot import metrics
from bot.appkeys import SERVICES
from bot.errors import Conflict, Forbidden, InvalidField, LeadbotError, NotFound

log = logging.getLogger("leadbot.http")
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HttpProblem(Exception):
    """An answer with a status and a machine-readable code, raised anywhere inside a handler."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def response(self) -> web.Response:
        body = {"error": self.code, "message": self.message, **self.extra}
        return web.json_response(body, status=self.status)


def bad_request(message: str, *, field: str | None = None, code: str = "invalid") -> HttpProblem:
    extra = {"field": field} if field else {}
    return HttpProblem(400, code, message, **extra)


_ERROR_STATUS: dict[type[LeadbotError], tuple[int, str]] = {
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    Forbidden: (403, "forbidden"),
}


async def read_body(request: web.Request) -> bytes:
    """The raw body, or 413 when it exceeds the server's limit (checked before reading when a length is declared)."""
    limit = request.app[SERVICES].settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise HttpProblem(413, "too_large", f"body over {limit} bytes")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise HttpProblem(413, "too_large", f"body over {limit} bytes") from None


async def read_json(request: web.Request, *, empty: Any = ...) -> Any:
    """The body as JSON; with `empty`, an empty body stands for that value (optional bodies)."""
    raw = await read_body(request)
    if empty is not ... and not raw.strip():
        return empty
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad_request(f"body is not valid JSON: {e}", code="malformed_json") from None


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        raise bad_request(err["msg"], field=loc or None) from None


async def read_model(request: web.Request, model: type[M], *, optional: bool = False) -> M:
    return validate(model, await read_json(request, empty={} if optional else ...))


def query_model(request: web.Request, model: type[M]) -> M:
    return validate(model, dict(request.query))


def json_out(data: Any, status: int = 200) -> web.Response:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    elif isinstance(data, list):
        data = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in data]
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _route_name(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One log line and one metrics sample per request, whatever happened inside."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as e:
        status = e.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = _route_name(request)
        metrics.HTTP_REQUESTS.labels(route, request.method, str(status)).inc()
        metrics.HTTP_LATENCY.labels(route, request.method).observe(elapsed)
        log.info("%s %s %d %.1fms", request.method, request.path, status, elapsed * 1000)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HttpProblem as p:
        return p.response()
    except web.HTTPRequestEntityTooLarge:
        return HttpProblem(413, "too_large", "body too large").response()
    except InvalidField as e:
        return bad_request(e.reason, field=e.field).response()
    except LeadbotError as e:
        for cls, (status, code) in _ERROR_STATUS.items():
            if isinstance(e, cls):
                return HttpProblem(status, code, str(e)).response()
        raise
