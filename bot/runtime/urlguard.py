"""Outbound URL checks: a tenant admin must not be able to make the service call its neighbours.

Used for app `api_base` values and webhook subscriptions: only http(s), and unless the operator allows it
(`LEADBOT_ALLOW_PRIVATE_URLS`), no loopback, private, link-local, multicast or reserved address — checked on the
literal host and again on every address DNS gives for it. `allowed` names hosts exempt from the address rule (one
known internal endpoint, without opening every private address).

Checking a name before a request is not enough on its own: DNS may answer differently a moment later (rebinding).
`GuardedResolver` applies the same rule inside the HTTP client (`bot.runtime.outbound`), to the addresses it
connects to.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
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

    def __init__(self, message: str) -> None:
        # errno and strerror set, so aiohttp's ClientConnectorError (which shows strerror) names the reason.
        super().__init__(errno.EACCES, message)


HTTP_SCHEMES = frozenset({"http", "https"})
REFUSED_RANGES = "a loopback, private, link-local, multicast or reserved address"


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
# A host that is only hex digits, digits, dots and x's may be one of the legacy IPv4 spellings the C library
# accepts (`0x7f000001`, `0x7f.1`, `2130706433`, `0177.0.0.1`, `127.1`): read it the way the resolver would.
_LEGACY_IPV4 = re.compile(r"^[0-9a-fA-FxX.]+$")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo, NAT64, the old IPv4-compatible form)."""
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    if addr in _NAT64 or addr in _NAT64_LOCAL or int(addr) >> 32 == 0:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def forbidden_address(addr: Address) -> bool:
    """Anything but a globally routed unicast address: loopback, private, shared (CGNAT), link-local, multicast,
    reserved, documentation, unspecified, and IPv6 forms that wrap one of those."""
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(addr)
        if embedded is not None and forbidden_address(embedded):
            return True
    return not addr.is_global or addr.is_multicast or addr.is_reserved or addr.is_unspecified


def host_address(host: str) -> Address | None:
    """The address a URL host names literally (IPv6 in brackets, any IPv4 spelling), or None for a name."""
    bare = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(bare) and any(c.isdigit() for c in bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare.rstrip(".")))
        except OSError:
            return None
    return None


def check_syntax(url: str, schemes: Collection[str] = HTTP_SCHEMES) -> tuple[str, int]:
    """The host and port of an http(s) URL (or of another of `schemes`), or `UnsafeUrl`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise UnsafeUrl(f"not a valid URL: {e}") from None
    if parts.scheme not in schemes:
        raise UnsafeUrl(f"scheme must be {' or '.join(sorted(schemes))}, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeUrl("credentials in the URL are not allowed")
    return parts.hostname, port or (443 if parts.scheme in {"https", "wss"} else 80)


def _exempt(host: str, allow_private: bool, allowed: Collection[str]) -> bool:
    """`allowed` holds lower-case host names or IP literals."""
    return allow_private or host.lower().strip("[]") in allowed


def check_literal(url: str, allow_private: bool, allowed: Collection[str] = (),
                  schemes: Collection[str] = HTTP_SCHEMES) -> None:
    """Syntax plus, when the host is an IP literal (in any spelling), the address rule; no DNS (fine for
    validating input: the HTTP client applies the rule again to what it connects to)."""
    host, _ = check_syntax(url, schemes)
    if _exempt(host, allow_private, allowed):
        return
    addr = host_address(host)
    if addr is None:
        if host.lower().rstrip(".") in {"localhost", "localhost.localdomain"} or \
                host.lower().rstrip(".").endswith(".localhost"):
            raise UnsafeUrl(f"{host} is a loopback name")
        return
    if forbidden_address(addr):
        raise UnsafeUrl(f"{host} is {REFUSED_RANGES}")


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
            raise UnsafeUrl(f"{host} resolves to {addr}, {REFUSED_RANGES}")


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing a name when any address it resolves to breaks the rule.

    aiohttp does not resolve IP literals: `bot.runtime.outbound.GuardedConnector` checks those.
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
                    raise RefusedAddress(f"{host} resolves to {addr}, {REFUSED_RANGES}")
        return results

    async def close(self) -> None:
        await self._inner.close()
