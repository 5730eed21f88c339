"""Glue between the official SDK's handler classes and our `Inbound`: convert, await `on_inbound`, answer OK.

An exception from `on_inbound` propagates out of `raw_process`, so the runner sends no ACK and DingTalk redelivers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import dingtalk_stream
from dingtalk_stream import AckMessage, CallbackMessage, EventMessage

from bot.platforms.base import Inbound
from bot.platforms.dingtalk.errors import MalformedPayload
from bot.platforms.dingtalk.events import parse_card_callback, parse_event

log = logging.getLogger(__name__)

OnInbound = Callable[[Inbound], Awaitable[None]]


class FrameToInbound(dingtalk_stream.CallbackHandler):
    """An official handler whose `process` converts the frame and awaits `on_inbound` before answering OK."""

    def __init__(self, convert: Callable[[CallbackMessage], Inbound], on_inbound: OnInbound, app_id: int) -> None:
        super().__init__()
        self._convert = convert
        self._on_inbound = on_inbound
        self._app_id = app_id

    async def process(self, message: CallbackMessage) -> tuple[int, str]:
        try:
            inbound = self._convert(message)
        except MalformedPayload as e:
            # ACK it anyway: a frame we can never parse would otherwise be redelivered forever.
            log.warning("stream frame dropped app=%s topic=%s reason=%s", self._app_id, message.headers.topic, e)
            return AckMessage.STATUS_OK, "malformed"
        await self._on_inbound(inbound)  # raising here means: no ACK, let DingTalk redeliver
        return AckMessage.STATUS_OK, "OK"


class EventToInbound(dingtalk_stream.EventHandler):
    def __init__(self, on_inbound: OnInbound, app_id: int) -> None:
        super().__init__()
        self._on_inbound = on_inbound
        self._app_id = app_id

    async def process(self, event: EventMessage) -> tuple[int, str]:
        h = event.headers
        try:
            inbound = parse_event(event.data, event_type=h.event_type, event_id=h.event_id,
                                  born_at=h.event_born_time / 1000 if h.event_born_time else None)
        except MalformedPayload as e:
            log.warning("stream event dropped app=%s reason=%s", self._app_id, e)
            return AckMessage.STATUS_OK, "malformed"
        await self._on_inbound(inbound)
        return AckMessage.STATUS_OK, "OK"


def card_inbound(message: CallbackMessage) -> Inbound:
    received = message.headers.time / 1000 if message.headers.time else None
    return parse_card_callback(message.data, received_at=received)
