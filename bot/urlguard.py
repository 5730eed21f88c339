"""Outbound URL checks: a tenant admin must not be able to make the service call its neighbours.

Used for app `api_base` values and webhook subscriptions: only http(s), and unless the operator allows it
(`LEADBOT_ALLOW_PRIVATE_URLS`), no loopback, private, link-local, multicast or reserved address — checked on the
literal host and again on every address DNS gives for it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from bot.errors import LeadbotError


class UnsafeUrl(LeadbotError):
    """The URL is not http(s), or points at an address the service must not call."""


def _forbidden(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
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


def check_literal(url: str, allow_private: bool) -> None:
    """Syntax plus, when the host is an IP literal, the address rule; no DNS (fine for validating input)."""
    host, _ = check_syntax(url)
    if allow_private:
        return
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if host.lower() in {"localhost", "localhost.localdomain"} or host.lower().endswith(".localhost"):
            raise UnsafeUrl(f"{host} is a loopback name") from None
        return
    if _forbidden(addr):
        raise UnsafeUrl(f"{addr} is a loopback, private, link-local or reserved address")


async def check_resolved(url: str, allow_private: bool) -> None:
    """`check_literal` plus every address the host resolves to (call before each request and each redirect)."""
    check_literal(url, allow_private)
    if allow_private:
        return
    host, port = check_syntax(url)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UnsafeUrl(f"cannot resolve {host}: {e.strerror}") from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if _forbidden(addr):
            raise UnsafeUrl(f"{host} resolves to {addr}, a loopback, private, link-local or reserved address")
