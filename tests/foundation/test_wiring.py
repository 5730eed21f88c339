"""The wiring (`bot.runtime.wiring`) is the one place that says what runs: importing the service's modules registers
nothing by itself, and every button and message kind the service sends or receives has its handler listed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from bot.platforms.base import InboundKind
from bot.runtime import wiring
from cards.keys import ButtonKey, KeyAction

ROOT = Path(__file__).resolve().parents[2]

IMPORT_EVERYTHING = """
import importlib, json, pkgutil
import bot, handlers, cards
for pkg in (bot, handlers, cards):
    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if m.name not in ("bot.__main__",):
            importlib.import_module(m.name)
from bot.chat import clicks
from bot.jobs import inbound
from bot.leads import store
from bot.runtime import outbox
from handlers import openapi
print(json.dumps({"inbound": list(inbound.HANDLERS), "clicks": list(clicks.HANDLERS), "outbox": list(outbox.HANDLERS),
                  "written": list(store.WRITTEN_WITH_CHANGE), "hooks": len(store.IN_TRANSACTION) + len(store.AFTER_COMMIT),
                  "api": len(openapi.API.operations)}))
"""


def test_importing_every_module_registers_nothing():
    """A handler that works only because some module happens to import it goes dead when imports move."""
    out = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {"inbound": [], "clicks": [], "outbox": [], "written": [],
                                                        "hooks": 0, "api": 0}


def test_the_api_serves_what_the_wiring_lists_and_nothing_else():
    """Every documented route comes from a module of `API_MODULES` (a module left out of the list serves nothing,
    instead of serving because something imported it), and each listed module's routes are all there once."""
    from handlers import openapi

    wiring.install()
    listed = [op for module in wiring.API_MODULES for op in module.API.operations]
    assert listed and all(module.API.operations for module in wiring.API_MODULES)
    assert openapi.API.operations == listed
    wiring.install()  # a second entry point in the same process adds nothing twice
    assert len(openapi.API.operations) == len(listed)


def test_every_button_is_a_lead_action_or_has_its_handler():
    for action in KeyAction:
        key = ButtonKey(action, 1, 1, "1" if action is KeyAction.PICK else "")
        try:
            is_lead_action = key.workflow_action() is not None
        except Exception:  # ADVANCE and LOST need an argument to be an action: they are lead actions
            is_lead_action = True
        assert is_lead_action or action in wiring.CLICKS, f"button {action} has no handler"


def test_the_messages_the_service_acts_on_have_handlers():
    assert {InboundKind.CARD_CLICK, InboundKind.TEXT, InboundKind.VOICE} <= set(wiring.INBOUND)


def test_every_follow_up_the_service_writes_has_a_handler():
    """Outbox rows are written as `("kind", {payload})` pairs (`leadstore.outbox_rows`) or `Outbox.create(kind=…)`:
    every kind found in the code is one the wiring carries out, and the wiring lists no kind nobody writes."""
    source = "".join(p.read_text() for p in (ROOT / "bot").rglob("*.py") if p.name != "wiring.py")
    written = set(re.findall(r'[(\[]\("(\w+)", \{', source))
    written |= set(re.findall(r'Outbox\.create\([^)]*?kind="(\w+)"', source, re.S))
    assert written == set(wiring.OUTBOX)
    assert set(wiring.WRITTEN_WITH_CHANGE) <= set(wiring.OUTBOX)
