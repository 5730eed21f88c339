"""Every outbound HTTP request and WebSocket goes through `bot.runtime.outbound`: no other production module may open an
HTTP client, a connector or a WebSocket connection of its own (each would be a way around the address rule).

Read from the source (the syntax tree), so a module added tomorrow is covered tomorrow.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "handlers", "storage", "speech", "cards")
THE_ONE_PLACE = "bot/runtime/outbound.py"
# Constructors and calls that open a connection to another host.
OPENERS = {"ClientSession", "TCPConnector", "UnixConnector", "NamedPipeConnector", "ws_connect"}
# Client libraries that would bypass it altogether.
BYPASSES = {"requests", "httpx", "urllib3", "urllib.request", "http.client", "websocket", "aiohttp_retry"}
WEBSOCKET_OPENERS = {"connect", "unix_connect"}


def production_modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def ways_out(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in OPENERS:
                found.append(f"line {node.lineno}: {name}(...)")
            if isinstance(func, ast.Attribute) and name == "request" and getattr(func.value, "id", "") == "aiohttp":
                found.append(f"line {node.lineno}: aiohttp.request(...)")
            if name in WEBSOCKET_OPENERS and "websockets" in ast.unparse(func):
                found.append(f"line {node.lineno}: {ast.unparse(func)}(...)")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("websockets"):
            found += [f"line {node.lineno}: from {node.module} import {a.name}" for a in node.names
                      if a.name in WEBSOCKET_OPENERS]
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"line {node.lineno}: import {m}" for m in modules
                      if m in BYPASSES or m.split(".")[0] in {"requests", "httpx", "urllib3"}]
    return found


def test_the_scan_sees_the_one_place() -> None:
    """The scan finds what it looks for (the guarded module itself opens sessions and WebSockets)."""
    assert ways_out(ROOT / THE_ONE_PLACE)
    assert len(production_modules()) > 100


def test_no_production_module_opens_an_http_client_or_websocket_outside_the_one_place() -> None:
    offenders = {str(p.relative_to(ROOT)): found for p in production_modules()
                 if str(p.relative_to(ROOT)) != THE_ONE_PLACE and (found := ways_out(p))}
    assert offenders == {}
