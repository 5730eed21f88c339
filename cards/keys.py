"""Button keys: what a card button carries back to us when clicked.

    lb1:<action>:<target id>:<version>:<arg>

`target` is a lead id (lead buttons), a voice note id (summary and chooser buttons) or an alert id (ack);
`version` is the target's version when the card was rendered, so a click on an outdated card is recognised;
`arg` is percent-encoded (a stage code, a loss reason code, a contact title, a lead id), so a key is plain ASCII
and never contains the separator. The same key goes into every platform's button (its key or its params) and
comes back with the click.

Anyone who can type can send us a string that looks like a key (a markdown fallback card even relies on it),
so a key grants nothing: `bot.leads.workflow.decide` authorises the clicker every time.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import quote, unquote

from bot.errors import LeadbotError
from bot.leads.actions import Action, Advance, Claim, MarkLost, ReleaseToPool, Reopen
from bot.leads.types import LOST_REASONS, Status

MAX_KEY_BYTES = 1024  # the tightest platform's limit for a button's key
MAX_ID = 2**63 - 1  # a signed 64-bit database id


class BadButtonKey(LeadbotError):
    """A string that is not a key we made (garbage, another app's key, a tampered or truncated key)."""


class KeyAction(enum.StrEnum):
    ADVANCE = "adv"  # arg: the stage to go to
    LOST = "lost"  # arg: a LOST_REASONS code, or empty to ask for one
    REOPEN = "reopen"
    CLAIM = "claim"
    RELEASE = "rel"
    REFRESH = "ref"
    CONFIRM = "ok"  # voice note
    CORRECT = "fix"  # voice note
    ADD_CONTACT = "addc"  # voice note; arg: the title heard
    PICK = "pick"  # lead chooser: target is the note, arg the lead id
    ACK = "ack"  # alert or notice
    TEST = "test"  # an admin's test card (bot.chat.testcard): target is the test id; touches no lead


@dataclass(frozen=True, slots=True)
class ButtonKey:
    PREFIX: ClassVar[str] = "lb1"
    SEP: ClassVar[str] = ":"

    action: KeyAction
    target: int
    version: int = 0
    arg: str = ""

    def __post_init__(self) -> None:
        for name in ("target", "version"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
                raise ValueError(f"ButtonKey.{name} must be an int in [0, 2**63), got {value!r}")

    def pack(self) -> str:
        packed = self.SEP.join(
            (self.PREFIX, str(self.action), str(self.target), str(self.version), quote(self.arg, safe=""))
        )
        if len(packed) > MAX_KEY_BYTES:  # ASCII after quoting: characters are bytes
            raise ValueError(f"packed key is {len(packed)} bytes, more than {MAX_KEY_BYTES}")
        return packed

    @classmethod
    def unpack(cls, value: object) -> ButtonKey:
        if not isinstance(value, str) or not value.isascii() or len(value) > MAX_KEY_BYTES:
            raise BadButtonKey("not a button key")
        parts = value.split(cls.SEP)
        if len(parts) != 5 or parts[0] != cls.PREFIX:
            raise BadButtonKey("not a button key of ours")
        _, action, target, version, arg = parts
        try:
            kind = KeyAction(action)
        except ValueError:
            raise BadButtonKey(f"unknown action {action!r}") from None
        try:
            text = unquote(arg, errors="strict")
        except UnicodeDecodeError:
            raise BadButtonKey("argument is not UTF-8") from None
        # Only the exact spelling pack() produces is accepted: no alternative encodings of the same key.
        if quote(text, safe="") != arg:
            raise BadButtonKey("argument is not canonically encoded")
        return cls(kind, _id(target), _id(version), text)

    def workflow_action(self) -> Action | None:
        """The lead workflow action this button asks for, or None for buttons that are not lead transitions
        (refresh, voice-note and chooser buttons, acks). Raises `BadButtonKey` for an impossible argument."""
        if self.action is KeyAction.ADVANCE:
            try:
                return Advance(Status(self.arg))
            except ValueError:
                raise BadButtonKey(f"unknown stage {self.arg!r}") from None
        if self.action is KeyAction.LOST:
            if self.arg and self.arg not in LOST_REASONS:
                raise BadButtonKey(f"unknown loss reason {self.arg!r}")
            return MarkLost(LOST_REASONS[self.arg] if self.arg else "")
        simple: dict[KeyAction, Action] = {
            KeyAction.REOPEN: Reopen(),
            KeyAction.CLAIM: Claim(),
            KeyAction.RELEASE: ReleaseToPool(),
        }
        return simple.get(self.action)

    def picked_lead(self) -> int:
        """The lead id a chooser button picks."""
        if self.action is not KeyAction.PICK:
            raise BadButtonKey("not a lead-chooser button")
        return _id(self.arg)


def _id(text: str) -> int:
    # isdecimal() alone accepts non-ASCII digits such as "١".
    if not text.isascii() or not text.isdecimal() or len(text) > 19 or (len(text) > 1 and text[0] == "0"):
        raise BadButtonKey(f"bad id {text!r}")
    value = int(text)
    if value > MAX_ID:
        raise BadButtonKey(f"id out of range {text!r}")
    return value
