"""Outbound URL checks: a tenant admin must not be able to make the service call its neighbours.

Used for app `api_base` values and webhook subscriptions: only http(s), and unless the operator allows it
(`LEADBOT_ALLOW_PRIVATE_URLS`), no loopback, private, link-local, multicast or reserved address — checked on the
literal host and again on every address DNS gives for it. `allowed` names hosts exempt from the address rule (one
known internal endpoint, without opening every private address).

Checking a name before a request is not enough on its own: DNS may answer differently a moment later (rebinding).
`GuardedResolver` applies the same rule inside the HTTP client, to the addresses it actually connects to.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from bot.errors import LeadbotError


class UnsafeUrl(LeadbotError):
    """The URL is not http(s), or points at an address the service must not call."""


class RefusedAddress(OSError):
    """Raised inside the HTTP client when a name resolves to a forbidden address (the request never connects)."""


def forbidden_address(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return (
        addr.is_loopback or addr.is_private or addr.is_link_local or addr.is_multicast
        or addr.is_reserved or addr.is_unspecified
    )


def check_syntax(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL, or `UnsafeUrl`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise UnsafeUrl(f"not a valid URL: {e}") from None
    if parts.scheme not in {"http", "https"}:
        raise UnsafeUrl(f"scheme must be http or https, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeUrl("credentials in the URL are not allowed")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def _exempt(host: str, allow_private: bool, allowed: Collection[str]) -> bool:
    """`allowed` holds lower-case host names or IP literals."""
    return allow_private or host.lower().strip("[]") in allowed


def check_literal(url: str, allow_private: bool, allowed: Collection[str] = ()) -> None:
    """Syntax plus, when the host is an IP literal, the address rule; no DNS (fine for validating input)."""
    host, _ = check_syntax(url)
    if _exempt(host, allow_private, allowed):
        return
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if host.lower() in {"localhost", "localhost.localdomain"} or host.lower().endswith(".localhost"):
            raise UnsafeUrl(f"{host} is a loopback name") from None
        return
    if forbidden_address(addr):
        raise UnsafeUrl(f"{addr} is a loopback, private, link-local or reserved address")


async def check_resolved(url: str, allow_private: bool, allowed: Collection[str] = ()) -> None:
    """`check_literal` plus every address the host resolves to (call before each request and each redirect)."""
    check_literal(url, allow_private, allowed)
    host, port = check_syntax(url)
    if _exempt(host, allow_private, allowed):
        return
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UnsafeUrl(f"cannot resolve {host}: {e.strerror}") from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if forbidden_address(addr):
            raise UnsafeUrl(f"{host} resolves to {addr}, a loopback, private, link-local or reserved address")


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing a name when any address it resolves to breaks the rule.

    aiohttp does not resolve IP literals, so pair it with `check_literal` on every URL it is given.
    """

    def __init__(self, allowed: Collection[str] = ()) -> None:
        self._inner = DefaultResolver()
        self._allowed = frozenset(h.lower() for h in allowed)

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if host.lower() not in self._allowed:
            for result in results:
                addr = ipaddress.ip_address(result["host"])
                if forbidden_address(addr):
                    raise RefusedAddress(f"{host} resolves to {addr}, a loopback, private, link-local or reserved "
                                         "address")
        return results

    async def close(self) -> None:
        await self._inner.close()
