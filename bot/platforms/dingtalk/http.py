"""The wire under the DingTalk adapter: one request, its answer decoded, failures turned into `bot.errors`.

Retries (tenacity, bounded, jittered) happen here and only where they cannot duplicate an effect: a request
that never left (connection refused) is always retried; one that may have been processed (timeout, 5xx) only
when the caller says the call is idempotent (token fetch, card create by outTrackId, card update, download).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from bot.errors import MediaError, PlatformError, TransientError
from bot.platforms.dingtalk.errors import error_from_oapi, error_from_v1
from bot.platforms.wire import NotSent, read_limited, transport_error

log = logging.getLogger(__name__)

TOKEN_HEADER = "x-acs-dingtalk-access-token"
MAX_RESPONSE_BYTES = 1 << 20


def _decode(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class DingTalkHttp:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout_s: float = 10.0,
        retry_attempts: int = 3,
        retry_base_s: float = 0.2,
        retry_max_s: float = 2.0,
    ) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._attempts = retry_attempts
        self._wait = wait_exponential(multiplier=retry_base_s, max=retry_max_s) + wait_random(0, retry_base_s)

    def _retrying(self, idempotent: bool) -> AsyncRetrying:
        def worth_retry(exc: BaseException) -> bool:
            return isinstance(exc, NotSent) or (idempotent and isinstance(exc, TransientError))

        return AsyncRetrying(stop=stop_after_attempt(self._attempts), wait=self._wait,
                             retry=retry_if_exception(worth_retry), reraise=True)

    async def _send(self, method: str, url: str, *, json_body: Any, headers: Mapping[str, str] | None,
                    params: Mapping[str, str] | None) -> tuple[int, bytes, str | None]:
        try:
            async with self._session.request(method, url, json=json_body, headers=headers, params=params,
                                             timeout=self._timeout) as resp:
                raw = await read_limited(resp, MAX_RESPONSE_BYTES, PlatformError)
                return resp.status, raw, resp.headers.get("x-acs-request-id")
        except TimeoutError:
            raise TransientError("timeout", f"{method} timed out") from None
        except aiohttp.ClientError as e:
            raise transport_error(e, method) from None

    async def v1(self, method: str, url: str, body: Any, *, token: str | None,
                 idempotent: bool) -> dict[str, Any]:
        """A v1.0 call: 2xx -> the JSON body; anything else -> the mapped error."""
        headers = {TOKEN_HEADER: token} if token else None
        async for attempt in self._retrying(idempotent):
            with attempt:
                status, raw, request_id = await self._send(method, url, json_body=body, headers=headers, params=None)
                decoded = _decode(raw)
                if 200 <= status < 300:
                    if decoded is None:
                        raise TransientError(f"HTTP{status}", "answer is not a JSON object", request_id=request_id,
                                             http_status=status)
                    return decoded
                raise error_from_v1(status, decoded, request_id)
        raise AssertionError("unreachable")  # pragma: no cover

    async def oapi(self, url: str, body: Any, *, params: Mapping[str, str] | None,
                   idempotent: bool) -> dict[str, Any]:
        """An oapi (or custom robot) call: HTTP 200 and errcode 0 -> the JSON body."""
        async for attempt in self._retrying(idempotent):
            with attempt:
                status, raw, request_id = await self._send("POST", url, json_body=body, headers=None, params=params)
                decoded = _decode(raw)
                if status >= 500:
                    raise TransientError(f"HTTP{status}", "server error", request_id=request_id, http_status=status)
                if decoded is None or status >= 300:
                    raise PlatformError(f"HTTP{status}", "unexpected answer", request_id=request_id,
                                        http_status=status)
                if (err := error_from_oapi(decoded, status)) is not None:
                    raise err
                return decoded
        raise AssertionError("unreachable")  # pragma: no cover

    async def download(self, url: str, max_bytes: int) -> bytes:
        """GET a short-lived download URL, refusing error bodies and anything larger than `max_bytes`."""
        async for attempt in self._retrying(True):
            with attempt:
                return await self._download_once(url, max_bytes)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _download_once(self, url: str, max_bytes: int) -> bytes:
        try:
            async with self._session.get(url, timeout=self._timeout) as resp:
                if resp.status >= 500:
                    raise TransientError(f"HTTP{resp.status}", "download failed", http_status=resp.status)
                if resp.status != 200:
                    raise MediaError(f"HTTP{resp.status}", "download refused (expired URL?)", http_status=resp.status)
                if resp.content_type in ("application/json", "text/plain", "text/html", "application/xml"):
                    raise MediaError("not-media", f"download answered {resp.content_type}")
                return await read_limited(resp, max_bytes, MediaError)
        except TimeoutError:
            raise TransientError("timeout", "download timed out") from None
        except aiohttp.ClientError as e:
            raise transport_error(e, "download") from None
