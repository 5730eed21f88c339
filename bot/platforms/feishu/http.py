"""The wire under the Feishu adapter: one Open API request, its answer decoded, failures turned into `bot.errors`.

Retries (tenacity, bounded, jittered) happen here only where they cannot duplicate an effect: a request that never
left (connection refused) or that Feishu refused for frequency (99991400, 429: refused, so not done) is retried
whatever it was; one that may have been processed (timeout, 5xx) only when the caller says the call is idempotent.
Secrets never reach a log line or an exception: the token travels in a header, aiohttp's messages carry the URL only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from bot.errors import MediaError, PlatformError, RateLimited, TransientError
from bot.platforms.feishu.errors import error_for, log_id_of
from bot.platforms.wire import NotSent, read_limited, transport_error

MAX_RESPONSE_BYTES = 1 << 20
LOG_ID_HEADER = "X-Tt-Logid"
_JSON_TYPES = ("application/json", "text/json", "text/plain", "text/html")
RATE_WAIT_MAX_S = 2.0  # a longer throttle goes back to the caller (the job is retried later, not held here)


def _decode(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class FeishuHttp:
    def __init__(self, session: aiohttp.ClientSession, *, timeout_s: float = 10.0, media_timeout_s: float = 60.0,
                 retry_attempts: int = 3, retry_base_s: float = 0.2) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._media_timeout = aiohttp.ClientTimeout(total=media_timeout_s)
        self._attempts = retry_attempts
        self._base_s = retry_base_s

    def _retrying(self, idempotent: bool) -> AsyncRetrying:
        def worth_retry(exc: BaseException) -> bool:
            if isinstance(exc, RateLimited):
                return exc.retry_after_s <= RATE_WAIT_MAX_S
            return isinstance(exc, NotSent) or (idempotent and isinstance(exc, TransientError))

        def wait(state: Any) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimited):
                return exc.retry_after_s
            return (wait_exponential(multiplier=self._base_s, max=2.0) + wait_random(0, self._base_s))(state)

        return AsyncRetrying(stop=stop_after_attempt(self._attempts), wait=wait,
                             retry=retry_if_exception(worth_retry), reraise=True)

    async def call(self, method: str, url: str, *, body: Any = None, token: str | None,
                   params: Mapping[str, str] | None = None, idempotent: bool,
                   token_call: bool = False) -> dict[str, Any]:
        """An Open API call: the decoded answer when HTTP is 2xx and `code` is 0, else the mapped error."""
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        async for attempt in self._retrying(idempotent):
            with attempt:
                try:
                    async with self._session.request(method, url, data=payload, headers=headers, params=params,
                                                     timeout=self._timeout) as resp:
                        raw = await read_limited(resp, MAX_RESPONSE_BYTES, PlatformError)
                        decoded = _decode(raw)
                        err = error_for(resp.status, decoded, log_id=log_id_of(decoded, resp.headers.get(
                            LOG_ID_HEADER)), token_call=token_call, headers=resp.headers)
                except TimeoutError:
                    raise TransientError("timeout", f"{method} timed out") from None
                except aiohttp.ClientError as e:
                    raise transport_error(e, method) from None
                if err is not None:
                    raise err
                assert decoded is not None  # error_for answers None only for a decoded code 0
                return decoded
        raise AssertionError("unreachable")  # pragma: no cover

    async def download(self, url: str, *, token: str, params: Mapping[str, str], max_bytes: int) -> bytes:
        """GET a message resource: bytes, or the error its JSON body carries (never JSON taken for audio)."""
        async for attempt in self._retrying(True):
            with attempt:
                return await self._download_once(url, token, params, max_bytes)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _download_once(self, url: str, token: str, params: Mapping[str, str], max_bytes: int) -> bytes:
        try:
            async with self._session.get(url, headers={"Authorization": f"Bearer {token}"}, params=params,
                                         timeout=self._media_timeout) as resp:
                if resp.content_type in _JSON_TYPES or resp.status != 200:
                    raw = await read_limited(resp, MAX_RESPONSE_BYTES, MediaError)
                    decoded = _decode(raw)
                    err = error_for(resp.status, decoded, log_id=log_id_of(decoded, resp.headers.get(LOG_ID_HEADER)),
                                    headers=resp.headers)
                    if err is None or type(err) is PlatformError:
                        raise MediaError(err.errcode if err else 0, "resource answered an error, not media",
                                         request_id=err.request_id if err else None, http_status=resp.status)
                    raise err
                data = await read_limited(resp, max_bytes, MediaError)
        except TimeoutError:
            raise TransientError("timeout", "download timed out") from None
        except aiohttp.ClientError as e:
            raise transport_error(e, "download") from None
        if not data:
            raise MediaError(None, "empty media body")
        return data
