"""Long-connection mode (长连接): Feishu pushes events and card actions over a WebSocket the app opens, so an app
without a public URL still works. The connection is lark-oapi's own ws client (its frame protocol is protobuf and
changes with the SDK, so we do not re-implement it); everything else is ours.

One live connection per app across every process: a runner connects only while it holds the app's Redis lease
(`lease:feishu-ws:<app_id>`, the platforms' shared lease), and lets go when it loses it. Feishu spreads an app's events
over its open connections, so two would each see part of the traffic and neither could say who is connected.

The SDK is written around one module-level event loop of its own, blocking HTTP (`requests`) for the endpoint and
synchronous event handlers, so it runs on one thread per process (`_SdkThread`), which all of the process's Feishu
connections share. Each event frame is handed to our loop (`on_payload`: parse, de-duplicate, queue) and the SDK
thread waits for the answer: when the event could not be queued (Redis away) it raises, the SDK answers the frame
500, and Feishu delivers it again. Nothing is acknowledged that is not safely queued.

The client's private coroutines (`_connect`, `_ping_loop`, `_disconnect`) are used because its public `start()`
blocks its thread forever and cannot be stopped; tests/feishu pins the SDK's behaviour we rely on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from redis.asyncio import Redis

from bot.platforms.base import Inbound
from bot.platforms.feishu.config import FeishuCredentials
from bot.platforms.feishu.errors import MalformedPayload
from bot.platforms.feishu.events import load_json, parse
from bot.platforms.lease import RedisLease
from bot.runtime.clock import Clock, SystemClock
from storage import redis_keys

log = logging.getLogger(__name__)

# How long the SDK thread waits for our loop to queue one event before answering the frame 500.
QUEUE_WAIT_S = 5.0
# The SDK asks for its endpoint with `requests` and no timeout: we stop waiting after this (its thread may not).
CONNECT_TIMEOUT_S = 30.0


def lease_name(app_id: int) -> str:
    return f"feishu-ws:{app_id}"


class _SdkThread:
    """The one thread (per process) that runs lark-oapi's ws clients, and its event loop."""

    _instance: _SdkThread | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        failed: list[BaseException] = []

        def main() -> None:
            try:
                # Imported here: the SDK takes seconds to import, and at import it binds its module-level loop
                # to whatever loop the importing thread has; it must be this thread's.
                import lark_oapi.ws.client as sdk

                asyncio.set_event_loop(self.loop)
                sdk.loop = self.loop
                self.loop.set_exception_handler(_quiet_closed_connections)
            except BaseException as e:  # pragma: no cover - a broken install
                failed.append(e)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=main, name="feishu-ws", daemon=True)
        self.thread.start()
        ready.wait()
        if failed:
            raise failed[0]

    @classmethod
    def get(cls) -> _SdkThread:
        with cls._guard:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)


def _quiet_closed_connections(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The SDK's receive loop ends by raising once a connection is closed without reconnecting (which is how we
    stop one): that is the expected end, not an error to print as "Task exception was never retrieved"."""
    from websockets.exceptions import ConnectionClosed

    if isinstance(context.get("exception"), ConnectionClosed):
        log.debug("feishu ws receive loop ended: %s", context.get("exception"))
        return
    loop.default_exception_handler(context)


class _Dispatcher:
    """Stands where the SDK expects its EventDispatcherHandler: it only ever calls `_do_without_validation`."""

    def __init__(self, app_loop: asyncio.AbstractEventLoop, on_payload: Callable[[bytes], Awaitable[None]]) -> None:
        self._app_loop = app_loop
        self._on_payload = on_payload

    def _do_without_validation(self, payload: bytes) -> None:
        # On the SDK's thread: block it until our loop has queued the event (or failed to, which raises here and
        # makes the SDK answer 500).
        asyncio.run_coroutine_threadsafe(self._on_payload(payload), self._app_loop).result(QUEUE_WAIT_S)


def _new_client(creds: FeishuCredentials, domain: str, dispatcher: _Dispatcher) -> Any:
    from lark_oapi.core.enum import LogLevel
    from lark_oapi.ws.client import Client

    return Client(creds.app_id, creds.app_secret, log_level=LogLevel.WARNING, event_handler=dispatcher,
                  domain=domain, auto_reconnect=True)


class LongConnRunner:
    """Keeps one app's long connection open while this process holds the app's lease."""

    def __init__(self, app_id: int, creds: FeishuCredentials, redis: Redis,
                 on_inbound: Callable[[Inbound], Awaitable[Any]], *, api_base: str | None = None,
                 lease_ttl_s: float = 30.0, retry_s: float = 5.0, clock: Clock | None = None) -> None:
        self.app_id = app_id
        self._creds = creds
        self._domain = (api_base or creds.default_api_base()).rstrip("/")
        self._on_inbound = on_inbound
        self._clock = clock or SystemClock()
        self._retry_s = retry_s
        self.holder = uuid.uuid4().hex[:12]
        self._lease = RedisLease(redis, redis_keys.lease(lease_name(app_id)), self.holder, ttl_s=lease_ttl_s,
                                 clock=self._clock)
        self._stop = asyncio.Event()
        self.connected = asyncio.Event()
        self.connections_opened = 0

    async def run(self) -> None:
        """Until `stop()`: wait for the lease, hold the connection while it is ours, repeat."""
        self._stop.clear()
        sdk = await asyncio.to_thread(_SdkThread.get)
        while not self._stop.is_set():
            if not await self._lease.acquire(self._stop):
                break
            log.info("feishu ws lease taken app=%s holder=%s", self.app_id, self.holder)
            try:
                await self._serve_leased(sdk)
            finally:
                await self._lease.release()

    async def stop(self) -> None:
        self._stop.set()

    def status(self) -> dict[str, Any]:
        return {"app_id": self.app_id, "connected": self.connected.is_set(), "holder": self.holder,
                "connections_opened": self.connections_opened}

    async def handle_payload(self, payload: bytes) -> None:
        """One event frame's payload (schema 2.0 JSON, not encrypted: the connection is the app's own)."""
        try:
            inbound = parse(load_json(payload), id_type=self._creds.receive_id_type, received_at=self._clock.time())
        except MalformedPayload as e:  # acknowledged: a redelivery would be as malformed
            log.warning("feishu ws app=%s malformed event dropped: %s", self.app_id, e)
            return
        await self._on_inbound(inbound)

    async def _serve_leased(self, sdk: _SdkThread) -> None:
        lost = asyncio.Event()
        keeper = asyncio.create_task(self._lease.keep(lost, self._stop))
        try:
            while not self._stop.is_set() and not lost.is_set():
                await self._hold_connection(sdk, lost)
                await _wait_any((self._stop, lost), self._retry_s)
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)

    async def _hold_connection(self, sdk: _SdkThread, lost: asyncio.Event) -> None:
        dispatcher = _Dispatcher(asyncio.get_running_loop(), self.handle_payload)
        client = await asyncio.wrap_future(sdk.submit(_in_loop(lambda: _new_client(self._creds, self._domain,
                                                                                      dispatcher))))
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await asyncio.wrap_future(sdk.submit(client._connect()))
        except Exception as e:  # refused credentials, endpoint down, handshake refused, no answer: again later
            log.warning("feishu ws connect failed app=%s error=%s", self.app_id, _describe(e))
            return
        self.connections_opened += 1
        self.connected.set()
        log.info("feishu ws connected app=%s", self.app_id)
        ping = sdk.submit(client._ping_loop())
        try:
            await _wait_any((self._stop, lost), None)
        finally:
            self.connected.clear()
            client._auto_reconnect = False  # the disconnect below must not be taken for a drop to recover from
            ping.cancel()
            try:
                await asyncio.wrap_future(sdk.submit(client._disconnect()))
            except Exception as e:  # closing a connection that is already gone
                log.info("feishu ws disconnect app=%s: %s", self.app_id, _describe(e))


async def _in_loop(make: Callable[[], Any]) -> Any:
    return make()


def _describe(e: BaseException) -> str:
    # SDK exceptions may carry the endpoint URL with its one-time ticket: the type and code are enough.
    code = getattr(e, "code", None)
    return f"{type(e).__name__}" + (f" code={code}" if code is not None else "")


async def _wait_any(events: tuple[asyncio.Event, ...], timeout_s: float | None) -> None:
    waits = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
