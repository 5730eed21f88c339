"""The event loop a `leadbot` process runs on.

uvloop (libuv) where it is installed — it is a dependency on Linux and macOS — and asyncio's own loop elsewhere or when
`LEADBOT_EVENT_LOOP=asyncio` asks for it (to rule the loop out when chasing a problem). Why: a click costs the worker
dozens of loop turns — a Redis round trip each, aiosqlite's hop to its thread and back for every SQL statement, the
platform's HTTP call — and with SQLite the worker's CPU is what caps the clicks a second it keeps up with
(bench/load.py). uvloop does those turns in C.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

Loop = Literal["uvloop", "asyncio"]


def run(main: Coroutine[Any, Any, T], loop: Loop = "uvloop") -> T:
    """Run `main` to completion on a new loop of the kind asked for, as `asyncio.run` does."""
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:  # Windows, or an install without it: asyncio's loop does the same work, slower
            log.info("uvloop is not installed; running on asyncio's event loop")
        else:
            return uvloop.run(main)
    return asyncio.run(main)
