"""Waiting for what a worker, a process or a background task brings about: one `eventually` for every suite.

Polling with a bound, never a timing assertion: the bound only ends a hang, so a slow (busy, parallel, faked-clock)
machine makes a test slower, not red.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

T = TypeVar("T")


async def eventually(probe: Callable[[], T | Awaitable[T]], timeout_s: float = 20.0, *, what: str = "condition",
                     interval_s: float = 0.05, details: Callable[[], str] | None = None) -> T:
    """Poll `probe` (a function or a coroutine function) until it gives something truthy, and return that.

    On timeout: AssertionError naming `what`, followed by `details()` (e.g. the logs of the processes involved)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return cast(T, value)
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout_s} s{details() if details else ''}")
        await asyncio.sleep(interval_s)
