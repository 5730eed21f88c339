"""The one way out: every HTTP request and WebSocket the service opens to another host is made here.

Platform APIs (and a platform's streaming gateway, and the WebSocket endpoint it hands back), SMS providers,
webhooks, media downloads, session webhooks: whatever the target, the address rule of `bot.runtime.urlguard` is applied
where it cannot be bypassed, to the address actually connected to:

- a name is resolved by `GuardedResolver`, which refuses it when any address it resolves to is loopback, private,
  link-local, multicast or reserved (and so does rebinding: the addresses checked are the ones connected to);
- an IP literal, in any spelling the C library accepts (`0x7f000001`, `0x7f.1`, `2130706433`, `[::ffff:…]`), is
  checked by `GuardedConnector` before anything connects, on every request (aiohttp never resolves literals);
- redirects are not followed by sessions for platform and provider APIs (a stored secret must not travel on to a
  host the admin never entered); the webhook sender follows them itself, checking each hop.

A refused target never gets a packet, so the refusal is the same whether a port there is open or closed.
`LEADBOT_ALLOW_PRIVATE_URLS` lifts the address rule (private platform deployments, tests), never the redirect rule.
Nothing else in the service may construct an `aiohttp.ClientSession`, a connector or a WebSocket client
(`tests/security/test_one_way_out.py` checks the source).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Collection, Sequence
from typing import Any

import aiohttp
from aiohttp.client_reqrep import ClientRequest
from aiohttp.tracing import Trace, TraceRequestRedirectParams
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as _ws_connect

from bot.runtime.urlguard import (
    REFUSED_RANGES,
    GuardedResolver,
    RefusedAddress,
    UnsafeUrl,
    check_syntax,
    forbidden_address,
    host_address,
)

DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
WS_SCHEMES = frozenset({"ws", "wss"})
# What a caller (and an admin reading `verify`) is told about a refused target: the same words whatever is there.
REFUSED_TARGET = f"the target is {REFUSED_RANGES}, which this service does not call (LEADBOT_ALLOW_PRIVATE_URLS)"


class RedirectRefused(aiohttp.ClientError):
    """A platform or provider API answered with a redirect; it is not followed (nor its body read)."""


class GuardedConnector(aiohttp.TCPConnector):
    """A TCP connector that refuses forbidden IP literals itself and resolves names through `GuardedResolver`."""

    def __init__(self, *, allowed_hosts: Collection[str] = (), **kwargs: Any) -> None:
        self._allowed = frozenset(h.lower() for h in allowed_hosts)
        super().__init__(resolver=GuardedResolver(self._allowed), **kwargs)

    async def connect(self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
                      ) -> aiohttp.connector.Connection:
        host = (req.url.raw_host or "").lower()
        addr = host_address(host)
        if addr is not None and host.strip("[]") not in self._allowed and forbidden_address(addr):
            raise aiohttp.ClientConnectorError(req.connection_key, RefusedAddress(f"{host} is {REFUSED_RANGES}"))
        return await super().connect(req, traces, timeout)


def _refuse_redirects() -> aiohttp.TraceConfig:
    async def refuse(_session: aiohttp.ClientSession, _ctx: Any, params: TraceRequestRedirectParams) -> None:
        raise RedirectRefused(f"HTTP {params.response.status} redirect not followed")

    config = aiohttp.TraceConfig()
    config.on_request_redirect.append(refuse)
    return config


def guarded_session(*, allow_private: bool, allowed_hosts: Collection[str] = (), follow_redirects: bool = False,
                    timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT, connections: int = 100, per_host: int = 0,
                    observers: Sequence[aiohttp.TraceConfig] = ()) -> aiohttp.ClientSession:
    """An HTTP client for outbound calls. No cookies (one host's cookies must not ride along elsewhere), no
    proxies from the environment, redirects refused unless `follow_redirects` (callers that follow them check
    every hop themselves, as the webhook sender does). `observers` see every request (tests record them)."""
    if allow_private:
        connector: aiohttp.TCPConnector = aiohttp.TCPConnector(limit=connections, limit_per_host=per_host)
    else:
        connector = GuardedConnector(allowed_hosts=allowed_hosts, limit=connections, limit_per_host=per_host)
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
        trace_configs=[*([] if follow_redirects else [_refuse_redirects()]), *observers],
    )


REDIRECT_REFUSED = "the target answered with a redirect, which is not followed for platform and provider APIs"


def refusal(exc: BaseException) -> str | None:
    """The one message for the guard refusing a target (None when `exc` is the target failing instead): the same
    words for any refused address, so a caller learns nothing about what listens there."""
    if isinstance(exc, RedirectRefused):
        return REDIRECT_REFUSED
    if isinstance(exc, UnsafeUrl | RefusedAddress):
        return REFUSED_TARGET
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, RefusedAddress):
        return REFUSED_TARGET
    return None


async def _checked_addresses(host: str, port: int, allow_private: bool) -> list[tuple[Any, ...]]:
    """getaddrinfo's answers for `host`, or `RefusedAddress` when any of them breaks the rule."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if not allow_private:
        for *_, sockaddr in infos:
            addr = host_address(str(sockaddr[0]))
            if addr is None or forbidden_address(addr):
                raise RefusedAddress(f"{host} resolves to {sockaddr[0]}, {REFUSED_RANGES}")
    return infos


async def _connected_socket(infos: list[tuple[Any, ...]], timeout_s: float) -> socket.socket:
    loop = asyncio.get_running_loop()
    last: OSError | None = None
    for family, kind, proto, _, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            async with asyncio.timeout(timeout_s):
                await loop.sock_connect(sock, sockaddr)
            return sock
        except (OSError, TimeoutError) as e:
            sock.close()
            last = e if isinstance(e, OSError) else OSError(f"connect to {sockaddr[0]} timed out")
    raise last or OSError("no address to connect to")


async def open_websocket(url: str, *, allow_private: bool, open_timeout_s: float = 10.0,
                         **options: Any) -> ClientConnection:
    """A WebSocket client connection to `url` (ws/wss), on a socket this module connected to a checked address.

    Handing `websockets` the socket keeps its resolver and its proxy settings out of the way, and makes it refuse
    redirects during the handshake (a redirect would need a socket we did not check)."""
    host, port = check_syntax(url, WS_SCHEMES)
    literal = host_address(host)
    if literal is not None and not allow_private and forbidden_address(literal):
        raise RefusedAddress(f"{host} is {REFUSED_RANGES}")
    infos = await _checked_addresses(host, port, allow_private)
    sock = await _connected_socket(infos, open_timeout_s)
    try:
        return await _ws_connect(url, sock=sock, open_timeout=open_timeout_s, **options)
    except BaseException:
        sock.close()
        raise
