"""What every platform's code does alike on the wire: read an answer only up to a cap, turn a transport failure into
the error that says whether another try may send twice, and take a callback body as a bounded JSON object."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from bot.errors import LeadbotError, PlatformError, TargetRefused, TransientError
from bot.runtime.outbound import refusal

_CHUNK = 64 * 1024


class NotSent(TransientError):
    """The connection failed before the request was written: safe to retry even a send."""


async def read_limited(resp: aiohttp.ClientResponse, max_bytes: int, error_cls: type[PlatformError]) -> bytes:
    """The body, refused (`error_cls("too-large")`) past `max_bytes`: Content-Length may be absent (chunked) or
    wrong, so what actually arrives is counted."""
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise error_cls("too-large", f"{resp.content_length} bytes > {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise error_cls("too-large", f"more than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def transport_error(e: aiohttp.ClientError, what: str) -> PlatformError:
    """The error for a failed exchange. Not chained by the callers, and naming no URL: aiohttp's messages may carry
    the full URL, a token in its query included."""
    if (message := refusal(e)) is not None:
        return TargetRefused(message)  # the guard, not the network: another try would be refused alike
    if isinstance(e, aiohttp.ClientConnectorError):
        return NotSent("network", f"{what}: connect failed")
    return TransientError("network", f"{what}: {type(e).__name__}")


def json_object(raw: bytes | str, max_bytes: int, error_cls: type[LeadbotError]) -> dict[str, Any]:
    """A body as a JSON object, refusing (`error_cls`) oversize, non-UTF-8, non-JSON and non-object input."""
    size = len(raw.encode()) if isinstance(raw, str) else len(raw)
    if size > max_bytes:
        raise error_cls(f"body of {size} bytes exceeds {max_bytes}")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; deep nesting is RecursionError
        raise error_cls("body is not JSON") from None
    if not isinstance(value, dict):
        raise error_cls("body is not a JSON object")
    return value
