"""One webhook POST, with the address rule applied to the URL, to every redirect and to what DNS answers.

Redirects are followed here, not by aiohttp, so each new location is checked before anything connects to it: a
receiver must not be able to bounce the service onto `http://169.254.169.254/` or `http://10.0.0.1/`. Every
redirect re-sends the same POST and body (a webhook that turned into a GET would arrive without its event), up to
`MAX_REDIRECTS` hops. The whole exchange, redirects included, has one deadline, shorter than a delivery's claim,
so no other dispatcher takes the delivery over while this one is still waiting.

Whatever happens, `post` answers with an `Answer`: a failure is an outcome to record, not an exception.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import aiohttp
from yarl import URL

from bot.runtime.outbound import guarded_session
from bot.runtime.urlguard import RefusedAddress, UnsafeUrl, check_literal

REQUEST_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
MAX_REDIRECTS = 5
EXCERPT_BYTES = 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class WebhookOutcome:
    DELIVERED = "delivered"
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"
    NETWORK = "network"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: str
    status: int | None = None
    latency_ms: float = 0.0
    excerpt: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == WebhookOutcome.DELIVERED


class _TooManyRedirects(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"more than {MAX_REDIRECTS} redirects")
        self.status = status


async def _excerpt(response: aiohttp.ClientResponse) -> str:
    """At most EXCERPT_BYTES of the answer: enough to see an error message, never a receiver's whole page."""
    data = b""
    while len(data) < EXCERPT_BYTES:
        chunk = await response.content.read(EXCERPT_BYTES - len(data))
        if not chunk:
            break
        data += chunk
    return data.decode("utf-8", errors="replace")


class Sender:
    """Holds one HTTP client (opened on first use) for many posts; close it when done."""

    def __init__(self, *, allow_private: bool, allowed_hosts: Collection[str] = (),
                 timeout_s: float = REQUEST_TIMEOUT_S, connections: int = 64) -> None:
        self.allow_private = allow_private
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self.timeout_s = timeout_s
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Redirects are followed by `_follow`, which checks each new location before anything connects to it.
            self._session = guarded_session(
                allow_private=self.allow_private, allowed_hosts=self.allowed_hosts, follow_redirects=True,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S),
                connections=self._connections, per_host=16,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Sender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        started = time.perf_counter()

        def answer(outcome: str, status: int | None = None, excerpt: str = "", error: str = "") -> Answer:
            return Answer(outcome, status, (time.perf_counter() - started) * 1000, excerpt, error[:500])

        try:
            async with asyncio.timeout(self.timeout_s):
                status, excerpt = await self._follow(url, body, headers)
        except UnsafeUrl as e:
            return answer(WebhookOutcome.REFUSED, error=str(e))
        except _TooManyRedirects as e:
            return answer(WebhookOutcome.HTTP_ERROR, e.status, error=str(e))
        except TimeoutError:
            return answer(WebhookOutcome.TIMEOUT, error=f"no answer within {self.timeout_s:.0f} s")
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, RefusedAddress):
                return answer(WebhookOutcome.REFUSED, error=str(e.os_error))
            return answer(WebhookOutcome.NETWORK, error=f"{type(e).__name__}: {e}")
        except (aiohttp.ClientError, OSError) as e:
            return answer(WebhookOutcome.NETWORK, error=f"{type(e).__name__}: {e}")
        outcome = WebhookOutcome.DELIVERED if 200 <= status < 300 else WebhookOutcome.HTTP_ERROR
        return answer(outcome, status, excerpt, "" if outcome == WebhookOutcome.DELIVERED else f"HTTP {status}")

    async def _follow(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
        session = self._client()
        status = 0
        for _ in range(MAX_REDIRECTS + 1):
            # IP literals are checked here; names by the resolver, on the addresses the client will connect to.
            check_literal(url, self.allow_private, self.allowed_hosts)
            async with session.post(url, data=body, headers=dict(headers), allow_redirects=False) as response:
                status = response.status
                location = response.headers.get("Location")
                if status not in _REDIRECTS or not location:
                    return status, await _excerpt(response)
            url = str(URL(url).join(URL(location)))
        raise _TooManyRedirects(status)
