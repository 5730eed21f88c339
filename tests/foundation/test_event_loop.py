"""Every `leadbot` process runs on uvloop unless LEADBOT_EVENT_LOOP=asyncio asks for asyncio's own loop."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from bot.errors import ConfigError
from bot.runtime import eventloop
from bot.runtime.config import Settings


async def _loop_kind() -> type:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop())


def test_uvloop_by_default_and_asyncio_when_asked() -> None:
    assert Settings.from_env({}).event_loop == "uvloop"
    assert issubclass(eventloop.run(_loop_kind()), uvloop.Loop)
    chosen = Settings.from_env({"LEADBOT_EVENT_LOOP": "asyncio"}).event_loop
    kind = eventloop.run(_loop_kind(), chosen)
    assert not issubclass(kind, uvloop.Loop) and issubclass(kind, asyncio.AbstractEventLoop)


def test_an_unknown_loop_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="LEADBOT_EVENT_LOOP"):
        Settings.from_env({"LEADBOT_EVENT_LOOP": "trio"})


def test_without_uvloop_the_asyncio_loop_runs(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "uvloop", None)  # as on Windows: `import uvloop` fails
    kind = eventloop.run(_loop_kind())
    assert not issubclass(kind, uvloop.Loop)
