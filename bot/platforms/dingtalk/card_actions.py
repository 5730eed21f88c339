"""Where a card callback keeps the pressed button's actionId and its params: it depends on who sent it.

Shapes seen in DingTalk's documentation, SDKs and public code (each handled by one reader below):
- unified card instances (Stream and HTTP): `content` is a JSON *string*
  `{"cardPrivateData": {"actionIds": ["<id>"], "params": {...}}}`;
- older docs and HTTP posts carry the same JSON under `value` (newer pushes send both, with equal text);
- the card platform tutorial's HTTP example puts `params` beside `cardPrivateData`, not inside it;
- some templates send `actionIds` as a JSON-encoded string (`"[\\"save\\"]"`), or a single `actionId`;
- relays that already decoded the JSON hand us objects instead of strings, or put `cardPrivateData` at the top.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.platforms.dingtalk.errors import MalformedPayload

_MAX_NESTED_CHARS = 64 * 1024


@dataclass(frozen=True, slots=True)
class CardAction:
    action_id: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def _decode(value: Any, what: str) -> Any:
    """JSON text -> value; anything else passes through."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return None
    if len(value) > _MAX_NESTED_CHARS:
        raise MalformedPayload(f"{what} too large")
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        raise MalformedPayload(f"{what} is not JSON") from None


def _action_ids(private: Mapping[str, Any]) -> list[str]:
    ids = _decode(private.get("actionIds"), "actionIds")
    if ids is None:
        single = private.get("actionId")
        ids = [single] if single is not None else []
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, list) or not all(isinstance(i, str | int) and not isinstance(i, bool) for i in ids):
        raise MalformedPayload("actionIds is not a list of strings")
    return [str(i) for i in ids]


def _params(value: Any) -> dict[str, Any] | None:
    value = _decode(value, "params")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise MalformedPayload("params is not an object")
    return value


def _from_private_data(doc: Mapping[str, Any]) -> CardAction | None:
    """`cardPrivateData` with params inside it, or beside it (the tutorial's shape)."""
    private = _decode(doc.get("cardPrivateData"), "cardPrivateData")
    if private is None:
        return None
    if not isinstance(private, dict):
        raise MalformedPayload("cardPrivateData is not an object")
    ids = _action_ids(private)
    params = _params(private.get("params"))
    if params is None:
        params = _params(doc.get("params")) or {}
    return CardAction(ids[0] if ids else "", params)


def _from_flat(doc: Mapping[str, Any]) -> CardAction | None:
    """No `cardPrivateData`: `actionIds`/`actionId` and `params` directly on the document."""
    if not any(k in doc for k in ("actionIds", "actionId", "params")):
        return None
    ids = _action_ids(doc)
    return CardAction(ids[0] if ids else "", _params(doc.get("params")) or {})


_READERS: tuple[Callable[[Mapping[str, Any]], CardAction | None], ...] = (_from_private_data, _from_flat)


def _read_document(doc: Any, what: str) -> CardAction | None:
    doc = _decode(doc, what)
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise MalformedPayload(f"{what} is not an object")
    for reader in _READERS:
        if (action := reader(doc)) is not None:
            return action
    return None


def read_card_action(payload: Mapping[str, Any]) -> CardAction:
    """The pressed action: from `content`, else `value`, else the payload itself; empty when none says."""
    for key in ("content", "value"):
        if key in payload and (action := _read_document(payload[key], key)) is not None:
            return action
    return _from_private_data(payload) or CardAction()
