"""DingTalk Stream mode: one WebSocket per app, held by whichever process holds the app's Redis lease.

The official `dingtalk-stream` package supplies the protocol pieces (frame classes, handler base classes, ACK
building, topic names). Its `DingTalkStreamClient.start()` loop is not used: it opens the connection with a blocking
`requests` call inside the event loop, swallows `CancelledError` (so it cannot be stopped), ACKs on whichever socket
is current (a late ACK can land on a newer connection), reconnects after fixed sleeps, and its keepalive can hang on a
dead socket (issue #65 and the forks' watchdog patches). The loop below keeps those parts and fixes those faults:

- ACK after `on_inbound` returned, on the socket that delivered the frame; if it raised, no ACK, so DingTalk
  redelivers (on_inbound de-duplicates and enqueues, and raises when Redis is down).
- Reconnect with exponential backoff and jitter; a SYSTEM `disconnect` opens the next connection at once while the
  old one drains, because the server keeps delivering on it for a few seconds.
- A watchdog closes a connection that has been silent (no frame, not even the server's ping) for too long.
- `stop()` stops reading, lets in-flight handlers send their ACKs, closes the socket and releases the lease.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import dingtalk_stream
from dingtalk_stream import AckMessage, CallbackMessage, ChatbotMessage, EventMessage, SystemMessage
from dingtalk_stream.version import VERSION_STRING
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, WebSocketException

from bot.errors import LeadbotError
from bot.platforms.dingtalk.config import DEFAULT_API_BASE, DingTalkCredentials
from bot.platforms.dingtalk.events import parse_robot_message
from bot.platforms.dingtalk.stream_handlers import EventToInbound, FrameToInbound, OnInbound, card_inbound
from bot.platforms.lease import RedisLease
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.outbound import guarded_session, open_websocket
from storage import redis_keys

log = logging.getLogger(__name__)

TOPIC_ROBOT = ChatbotMessage.TOPIC  # /v1.0/im/bot/messages/get
TOPIC_CARD = dingtalk_stream.CallbackHandler.TOPIC_CARD_CALLBACK  # /v1.0/card/instances/callback
OPEN_ANSWER_MAX_BYTES = 64 * 1024


class StreamOpenError(Exception):
    """connections/open refused or failed (401 authFailed: wrong or padded clientId/clientSecret)."""


def backoff_delay_s(attempt: int, *, base_s: float, max_s: float, rand: Callable[[], float] = random.random) -> float:
    """Delay before reconnect number `attempt` (0 = at once): half fixed, half random ("equal jitter"), so a fleet
    that lost DingTalk together does not come back in one burst, yet nobody retries instantly in a loop."""
    if attempt <= 0:
        return 0.0
    cap = min(max_s, base_s * 2 ** (attempt - 1))
    return cap / 2 + rand() * cap / 2


def lease_name(app_id: int) -> str:
    return f"dingtalk-stream:{app_id}"


@dataclass
class _Conn:
    ws: ClientConnection
    opened_at: float
    last_frame_at: float
    disconnect: asyncio.Event = field(default_factory=asyncio.Event)


class StreamRunner:
    """Keeps one app's Stream connection alive while this process holds the app's lease."""

    def __init__(
        self,
        app_id: int,
        credentials: DingTalkCredentials,
        redis: Redis,
        on_inbound: OnInbound,
        *,
        gateway_base: str | None = None,
        subscribe_events: bool = False,
        lease_ttl_s: float = 30.0,
        silence_timeout_s: float = 90.0,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        drain_s: float = 15.0,
        stop_grace_s: float = 5.0,
        max_in_flight: int = 64,
        session: aiohttp.ClientSession | None = None,
        allow_private: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self.app_id = app_id
        self._clock = clock or SystemClock()  # connection ages and silences (monotonic)
        self._creds = credentials
        self._gateway = (gateway_base or DEFAULT_API_BASE).rstrip("/")
        self.holder = f"{uuid.uuid4().hex[:12]}"
        self._lease = RedisLease(redis, redis_keys.lease(lease_name(app_id)), self.holder, ttl_s=lease_ttl_s,
                                 clock=self._clock)
        self._silence_s = silence_timeout_s
        self._backoff = (backoff_base_s, backoff_max_s)
        self._drain_s = drain_s
        self._grace_s = stop_grace_s
        self._session = session
        # The gateway and the endpoint it hands back are checked like any outbound target (`bot.runtime.outbound`).
        self._allow_private = allow_private
        self._stop = asyncio.Event()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._in_flight: set[asyncio.Task[None]] = set()
        self._system = dingtalk_stream.SystemHandler()
        self._callbacks: dict[str, dingtalk_stream.CallbackHandler] = {
            TOPIC_ROBOT: FrameToInbound(lambda m: parse_robot_message(m.data), on_inbound, app_id),
            TOPIC_CARD: FrameToInbound(card_inbound, on_inbound, app_id),
        }
        self._events = EventToInbound(on_inbound, app_id) if subscribe_events else None
        self.connected = asyncio.Event()
        self.connections_opened = 0

    # -- public -------------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until `stop()`: wait for the lease, hold the connection while it is ours, repeat."""
        self._stop.clear()
        own_session = self._session is None
        self._session = self._session or guarded_session(allow_private=self._allow_private)
        try:
            while not self._stop.is_set():
                if not await self._lease.acquire(self._stop):
                    break
                log.info("stream lease taken app=%s holder=%s", self.app_id, self.holder)
                try:
                    await self._serve_leased()
                finally:
                    await self._lease.release()
        finally:
            if own_session:
                await self._session.close()
                self._session = None

    async def stop(self) -> None:
        self._stop.set()

    def status(self) -> dict[str, Any]:
        return {"app_id": self.app_id, "connected": self.connected.is_set(), "holder": self.holder,
                "connections_opened": self.connections_opened, "in_flight": len(self._in_flight)}

    # -- connection loop ----------------------------------------------------------------------------------------

    async def _serve_leased(self) -> None:
        lost = asyncio.Event()
        keeper = asyncio.create_task(self._lease.keep(lost, self._stop))
        attempt = 0
        try:
            while not self._stop.is_set() and not lost.is_set():
                started = self._clock.monotonic()
                try:
                    at_once = await self._connect_once(lost)
                    attempt = 0 if at_once else (1 if self._clock.monotonic() - started > 30 else attempt + 1)
                except (TimeoutError, StreamOpenError, OSError, WebSocketException, aiohttp.ClientError,
                        LeadbotError) as e:
                    attempt += 1
                    log.warning("stream connect failed app=%s attempt=%d error=%s", self.app_id, attempt, e)
                delay = backoff_delay_s(attempt, base_s=self._backoff[0], max_s=self._backoff[1])
                await _wait_any((self._stop, lost), delay)
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

    async def _open(self) -> str:
        assert self._session is not None
        body = {"clientId": self._creds.app_key, "clientSecret": self._creds.app_secret,
                "subscriptions": self._subscriptions(), "ua": f"leadbot dingtalk-stream/{VERSION_STRING}",
                "localIp": ""}
        async with self._session.post(f"{self._gateway}/v1.0/gateway/connections/open", json=body,
                                      timeout=aiohttp.ClientTimeout(total=10)) as resp:
            # The answer is a small JSON object: read no more than that from whatever host answers.
            text = (await resp.content.read(OPEN_ANSWER_MAX_BYTES)).decode("utf-8", "replace")
            if resp.status != 200:
                raise StreamOpenError(f"connections/open HTTP {resp.status}: {text[:200]}")
        try:
            answer = json.loads(text)
            return f"{answer['endpoint']}?ticket={quote_plus(answer['ticket'])}"
        except (ValueError, KeyError, TypeError):
            raise StreamOpenError("connections/open answered without endpoint/ticket") from None

    def _subscriptions(self) -> list[dict[str, str]]:
        subs = [{"type": "CALLBACK", "topic": topic} for topic in self._callbacks]
        if self._events is not None:
            subs.append({"type": "EVENT", "topic": "*"})
        return subs

    async def _connect_once(self, lost: asyncio.Event) -> bool:
        """One connection's life. True when the next connection should open at once (server asked to move)."""
        ws = await open_websocket(await self._open(), allow_private=self._allow_private, open_timeout_s=10,
                                  close_timeout=2, max_size=1 << 20)
        now = self._clock.monotonic()
        conn = _Conn(ws, now, now)
        self.connections_opened += 1
        self.connected.set()
        log.info("stream connected app=%s", self.app_id)
        reader = asyncio.create_task(self._read(conn))
        watchdog = asyncio.create_task(self._watchdog(conn))
        waits = [reader, watchdog] + [asyncio.create_task(e.wait()) for e in (conn.disconnect, self._stop, lost)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.connected.clear()
            for task in waits[1:]:
                task.cancel()
        if conn.disconnect.is_set() and not self._stop.is_set() and not lost.is_set():
            asyncio.create_task(self._drain(conn, reader))
            return True
        if self._stop.is_set():
            await self._finish_in_flight(reader)
        reader.cancel()
        await ws.close()
        await asyncio.gather(reader, return_exceptions=True)
        return False

    async def _read(self, conn: _Conn) -> None:
        try:
            async for raw in conn.ws:
                conn.last_frame_at = self._clock.monotonic()
                await self._slots.acquire()
                task = asyncio.create_task(self._handle(conn, raw))
                self._in_flight.add(task)
                task.add_done_callback(self._done)
        except ConnectionClosed as e:
            log.info("stream connection closed app=%s code=%s", self.app_id, e.rcvd.code if e.rcvd else None)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slots.release()

    async def _watchdog(self, conn: _Conn) -> None:
        """Return (which closes the socket) once nothing has arrived for `silence_timeout_s`."""
        while True:
            await asyncio.sleep(min(5.0, self._silence_s / 4))
            silent_s = self._clock.monotonic() - conn.last_frame_at
            if silent_s > self._silence_s:
                log.warning("stream silent for %.0f s, reconnecting app=%s", silent_s, self.app_id)
                return

    async def _drain(self, conn: _Conn, reader: asyncio.Task[None]) -> None:
        # After `disconnect` the server still delivers for a short while on this socket: keep reading it.
        try:
            await asyncio.wait_for(asyncio.shield(reader), self._drain_s)
        except TimeoutError:
            reader.cancel()
        await conn.ws.close()

    async def _finish_in_flight(self, reader: asyncio.Task[None]) -> None:
        reader.cancel()
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=self._grace_s)

    # -- frames -------------------------------------------------------------------------------------------------

    async def _handle(self, conn: _Conn, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
            ack = await self._route(conn, frame)
        except ValueError:
            log.warning("stream frame is not JSON app=%s", self.app_id)
            return
        except Exception as e:  # on_inbound failed: no ACK, DingTalk redelivers
            log.warning("stream handler failed, not acknowledged app=%s error=%s", self.app_id, type(e).__name__)
            return
        if ack is not None:
            try:
                await conn.ws.send(json.dumps(ack.to_dict()))
            except ConnectionClosed:
                log.info("ACK lost with its connection (will be redelivered) app=%s", self.app_id)

    async def _route(self, conn: _Conn, frame: dict[str, Any]) -> AckMessage | None:
        kind = frame.get("type")
        if kind == SystemMessage.TYPE:
            msg = SystemMessage.from_dict(frame)
            if msg.headers.topic == SystemMessage.TOPIC_DISCONNECT:
                conn.disconnect.set()
            return await self._system.raw_process(msg)
        if kind == CallbackMessage.TYPE:
            msg = CallbackMessage.from_dict(frame)
            handler = self._callbacks.get(msg.headers.topic)
            if handler is None:
                log.warning("stream callback on unknown topic app=%s topic=%s", self.app_id, msg.headers.topic)
                return None
            return await handler.raw_process(msg)
        if kind == EventMessage.TYPE and self._events is not None:
            return await self._events.raw_process(EventMessage.from_dict(frame))
        return None


async def _wait_any(events: tuple[asyncio.Event, ...], timeout_s: float) -> None:
    if any(e.is_set() for e in events) or timeout_s <= 0:
        return
    tasks = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(tasks, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
