"""Request bodies of the unified card instances API and the reading of its answers (pure functions).

`cards/dingtalk.py` renders `{"cardData": {"cardParamMap": {str: str}}, "privateData"?: {userId:
{"cardParamMap": {...}}}}`; here it is wrapped with what the platform needs to route and deliver it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.errors import PlatformError, RecipientError, TransientError
from bot.platforms.dingtalk.config import DingTalkCredentials

MAX_OUT_TRACK_ID = 100


def _param_map(value: Any, where: str) -> dict[str, str]:
    # Every card variable travels as a string; a non-string here is a renderer bug, not bad input.
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{where}.cardParamMap must map str to str")
    return dict(value)


def _card_parts(card: Mapping[str, Any]) -> dict[str, Any]:
    data = card.get("cardData")
    if not isinstance(data, Mapping):
        raise ValueError("card has no cardData")
    parts: dict[str, Any] = {"cardData": {"cardParamMap": _param_map(data.get("cardParamMap"), "cardData")}}
    private = card.get("privateData")
    if private:
        if not isinstance(private, Mapping):
            raise ValueError("privateData must be a mapping of userId to {cardParamMap}")
        parts["privateData"] = {
            uid: {"cardParamMap": _param_map(v.get("cardParamMap") if isinstance(v, Mapping) else None,
                                             f"privateData[{uid}]")}
            for uid, v in private.items()
        }
    return parts


def _check_card_id(card_id: str) -> None:
    if not card_id or len(card_id) > MAX_OUT_TRACK_ID:
        raise ValueError(f"outTrackId must be 1..{MAX_OUT_TRACK_ID} characters")


def card_create_body(creds: DingTalkCredentials, to: str, card_id: str, card: Mapping[str, Any]) -> dict[str, Any]:
    """createAndDeliver body for a robot 1:1 chat. Stream apps must ask for STREAM callbacks (else clicks
    never reach the stream: dingtalk-stream-sdk-python #29); HTTP apps route by their registered key."""
    _check_card_id(card_id)
    body: dict[str, Any] = {
        "cardTemplateId": creds.card_template_id,
        "outTrackId": card_id,
        **_card_parts(card),
        "openSpaceId": f"dtv1.card//IM_ROBOT.{to}",
        "imRobotOpenSpaceModel": {"supportForward": False},
        "imRobotOpenDeliverModel": {"spaceType": "IM_ROBOT", "robotCode": creds.robot_code},
        "userIdType": 1,
    }
    if creds.mode == "stream":
        body["callbackType"] = "STREAM"
    else:
        body["callbackType"] = "HTTP"
        body["callbackRouteKey"] = creds.route_key()
    return body


def card_update_body(card_id: str, card: Mapping[str, Any]) -> dict[str, Any]:
    """PUT /v1.0/card/instances body: update only the keys given, public and private."""
    _check_card_id(card_id)
    return {
        "outTrackId": card_id,
        **_card_parts(card),
        "cardUpdateOptions": {"updateCardDataByKey": True, "updatePrivateDataByKey": True},
        "userIdType": 1,
    }


def delivery_failure(answer: Mapping[str, Any]) -> PlatformError | None:
    """createAndDeliver answers 200 with per-space results; a failed delivery means the user did not get it."""
    if answer.get("success") is False:
        return PlatformError("card-create-failed", str(answer.get("message") or ""))
    result = answer.get("result")
    results = result.get("deliverResults") if isinstance(result, Mapping) else None
    for item in results if isinstance(results, list) else []:
        if isinstance(item, Mapping) and item.get("success") is False:
            msg = str(item.get("errorMsg") or "")
            cls = TransientError if msg in ("SYSTEM_ERROR", "system.busy") else RecipientError
            return cls("deliver-failed", msg)
    return None
