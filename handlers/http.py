"""HTTP plumbing shared by every route: errors as JSON, body reading with limits, validation, request logging."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError

from bot.errors import Conflict, Forbidden, InvalidField, LeadbotError, NotFound
from bot.runtime import metrics
from bot.runtime.appkeys import SERVICES
from bot.runtime.logs import bound
from bot.runtime.quotas import QuotaExceeded
from storage.outage import is_outage

log = logging.getLogger("leadbot.http")
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# What a 503 asks the caller to wait before trying again.
RETRY_AFTER_S = 5


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
        response = web.json_response(body, status=self.status)
        if self.status == 408:  # the rest of a slow body may still be on its way: do not wait for it
            response.force_close()
        return response


def positive_id(raw: str, name: str, max_id: int) -> int:
    """A path or query id: 400 unless ASCII digits (`str.isdigit` also takes "²", which `int` refuses), 404 past the
    column's range (no such row can exist, and the database driver would fail on the number)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) < 1:
        raise HttpProblem(400, "invalid", f"{name} must be a positive integer", field=name)
    if int(raw) > max_id:
        raise HttpProblem(404, "not_found", f"no object with {name} {raw}")
    return int(raw)


def bad_request(message: str, *, field: str | None = None, code: str = "invalid") -> HttpProblem:
    extra = {"field": field} if field else {}
    return HttpProblem(400, code, message, **extra)


_ERROR_STATUS: dict[type[LeadbotError], tuple[int, str]] = {
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    Forbidden: (403, "forbidden"),
}


def body_deadline(request: web.Request) -> asyncio.Timeout:
    """The time a client has to send its body (`LEADBOT_BODY_TIMEOUT_S`): wrap every body read in it."""
    return asyncio.timeout(request.app[SERVICES].settings.body_timeout_s)


async def read_body(request: web.Request) -> bytes:
    """The raw body, or 413 when it exceeds the server's limit (checked before reading when a length is declared),
    or 408 when the client does not send it in time."""
    limit = request.app[SERVICES].settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise HttpProblem(413, "too_large", f"body over {limit} bytes")
    try:
        async with body_deadline(request):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise HttpProblem(413, "too_large", f"body over {limit} bytes") from None
    except TimeoutError:
        log.warning("refused: body of %s %s not received in time", request.method, request.path)
        raise HttpProblem(408, "too_slow", "the request body did not arrive in time") from None


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | web.FileField]:
    """A posted form (the board's), under the same size limit and deadline as every other body."""
    limit = request.app[SERVICES].settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise HttpProblem(413, "too_large", f"body over {limit} bytes")
    try:
        async with body_deadline(request):
            return await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise HttpProblem(413, "too_large", f"body over {limit} bytes") from None
    except TimeoutError:
        log.warning("refused: form of %s %s not received in time", request.method, request.path)
        raise HttpProblem(408, "too_slow", "the request body did not arrive in time") from None


async def read_json(request: web.Request, *, empty: Any = ...) -> Any:
    """The body as JSON; with `empty`, an empty body stands for that value (optional bodies)."""
    raw = await read_body(request)
    if empty is not ... and not raw.strip():
        return empty
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad_request(f"body is not valid JSON: {e}", code="malformed_json") from None
    except RecursionError:  # `[[[[…` a few thousand deep: the parser's recursion limit, not a bug of ours
        raise bad_request("body is not valid JSON: nested too deeply", code="malformed_json") from None
    # A string can hold U+0000 only as the escape `\u0000` (a raw control character is not JSON): look only then.
    if b"\\u0000" in raw and _holds_nul(data):
        raise bad_request(NUL_REFUSED)
    return data


# PostgreSQL's text cannot hold U+0000 (SQLite's can): refused on the way in, the same on both backends, rather than
# a 500 from the database.
NUL_REFUSED = "text must not contain the NUL character (U+0000)"


def _holds_nul(data: Any) -> bool:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


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
    query = dict(request.query)
    if _holds_nul(query):
        raise bad_request(NUL_REFUSED)
    return validate(model, query)


def json_out(data: Any, status: int = 200) -> web.Response:
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    elif isinstance(data, list):
        data = [d.model_dump(mode="json") if isinstance(d, BaseModel) else d for d in data]
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _route_name(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


@functools.lru_cache(maxsize=1024)  # bounded: the method is the client's text
def _samples(route: str, method: str, status: int) -> tuple[Any, Any]:
    # `labels()` takes a lock and builds a key on every call; the children are fixed per (route, method, status).
    return (metrics.HTTP_REQUESTS.labels(route, method, str(status)), metrics.HTTP_LATENCY.labels(route, method))


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_of(request: web.Request) -> str:
    """The caller's X-Request-Id when it is a plain token (a proxy's or a client's), else a new one."""
    given = request.headers.get("X-Request-Id", "")
    return given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]


def client_address(request: web.Request, trusted: Sequence[IPv4Network | IPv6Network]) -> str:
    """Who made the request: the peer, or, when the peer is a trusted proxy, the right-most address in
    X-Forwarded-For that is not one (each trusted proxy appends the address it saw; a client can forge only what
    is left of that)."""
    peer = request.remote or ""
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop if _is_ip(hop) else peer
    return hops[0] if hops else peer


def _is_ip(value: str) -> bool:
    try:
        ip_address(value)
    except ValueError:
        return False
    return True


def _within(address: str, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One log line and one metrics sample per request, whatever happened inside; every line logged while the
    request is handled carries its request id (and the app or lead its path names)."""
    started = time.perf_counter()
    status = 500
    request_id = request_id_of(request)
    match = request.match_info
    with bound(request_id=request_id, app=match.get("app_id"), lead=match.get("id") if "/leads/" in request.path
               else None):
        try:
            response = await handler(request)
            status = response.status
            response.headers["X-Request-Id"] = request_id
            return response
        except web.HTTPException as e:
            status = e.status
            e.headers["X-Request-Id"] = request_id
            raise
        finally:
            elapsed = time.perf_counter() - started
            count, latency = _samples(_route_name(request), request.method, status)
            count.inc()
            latency.observe(elapsed)
            client = client_address(request, request.app[SERVICES].settings.trusted_proxies)
            log.info("%s %s %d %.1fms client=%s", request.method, request.path, status, elapsed * 1000, client,
                     extra={"method": request.method, "path": request.path, "status": status,
                            "duration_ms": round(elapsed * 1000, 1), "client": client})


def own_body_limit(handler: Handler) -> Handler:
    """Mark a route that checks the body limit itself (the callbacks: they count and log their refusals)."""
    handler.own_body_limit = True  # type: ignore[attr-defined]
    return handler


def _refuse_oversized(request: web.Request) -> None:
    """A declared length over the limit is refused before any handler runs, including those that never read a
    body (`POST /admin/apps/{id}/disable`): a 10 MB request must not act just because its body is ignored."""
    limit = request.app[SERVICES].settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        if not getattr(request.match_info.handler, "own_body_limit", False):
            log.warning("refused: %s %s declares %d bytes, over %d", request.method, request.path,
                        request.content_length, limit)
            raise HttpProblem(413, "too_large", f"body over {limit} bytes")


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        _refuse_oversized(request)
        return await handler(request)
    except HttpProblem as p:
        return p.response()
    except web.HTTPRequestEntityTooLarge:
        return HttpProblem(413, "too_large", "body too large").response()
    except InvalidField as e:
        return bad_request(e.reason, field=e.field).response()
    except QuotaExceeded as e:
        log.warning("%s %s: quota %s: %s", request.method, request.path, e.quota, e)
        response = HttpProblem(429, "quota_exceeded", str(e), quota=e.quota).response()
        if e.retry_after_s is not None:
            response.headers["Retry-After"] = str(e.retry_after_s)
        return response
    except LeadbotError as e:
        for cls, (status, code) in _ERROR_STATUS.items():
            if isinstance(e, cls):
                log.info("%s %s: %d %s: %s", request.method, request.path, status, code, e)
                return HttpProblem(status, code, str(e)).response()
        raise
    except Exception as e:
        if not is_outage(e):
            raise
        # The database or Redis is away for a moment: say so, so the caller retries (a lead posted again with
        # its external_id is the same lead), instead of a 500 that reads like a bug.
        log.warning("%s %s: dependency unavailable (%s: %s)", request.method, request.path, type(e).__name__, e)
        response = HttpProblem(503, "unavailable", "the database or Redis is unavailable; try again").response()
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response
