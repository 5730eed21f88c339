"""A local DingTalk Stream gateway: `connections/open` -> endpoint + ticket, then a WebSocket speaking the frame
protocol (SYSTEM / EVENT / CALLBACK frames, ACKs by messageId).

What the tests need from the real gateway: un-ACKed (or non-200 ACKed) callbacks come back after
`redeliver_after_s` on whatever connection the app has then; a connection can be killed abruptly (no close frame)
or muted (open, answering WebSocket pings, but sending nothing: the "zombie" the watchdog must catch); the server
can announce `disconnect`; every open, frame and ACK is on record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web


@dataclass
class GatewayConn:
    app_key: str
    topics: set[str]
    ws: web.WebSocketResponse
    request: web.Request
    frames_sent: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Pending:
    app_key: str
    topic: str
    frame: dict[str, Any]
    sent_at: float  # 0 = not sent yet (no connection)


class StreamGateway:
    def __init__(self, *, redeliver_after_s: float = 60.0, ping_interval_s: float | None = None) -> None:
        self.redeliver_after_s = redeliver_after_s
        self.ping_interval_s = ping_interval_s
        self.apps: dict[str, str] = {}
        self.opens: list[dict[str, Any]] = []
        self.live: dict[str, list[GatewayConn]] = defaultdict(list)
        self.max_live: dict[str, int] = defaultdict(int)
        self.connections_made: dict[str, int] = defaultdict(int)
        self.acks: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.bad_acks: list[Any] = []  # frames from a client that are not well-formed ACKs
        self.refused_opens: list[str] = []
        self.deliveries: dict[str, int] = defaultdict(int)
        self.pending: dict[str, Pending] = {}
        self.muted: set[str] = set()
        self._tickets: dict[str, tuple[str, set[str]]] = {}
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.base_url = ""

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1.0/gateway/connections/open", self._open)
        app.router.add_get("/connect", self._connect)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        self._ticker = asyncio.create_task(self._tick())
        return self.base_url

    async def close(self) -> None:
        if self._ticker:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        for conns in list(self.live.values()):
            for conn in list(conns):
                await conn.ws.close()
        if self._runner:
            await self._runner.cleanup()

    async def __aenter__(self) -> StreamGateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def add_app(self, app_key: str, app_secret: str) -> None:
        self.apps[app_key] = app_secret

    # -- HTTP + WebSocket ---------------------------------------------------------------------------------------

    async def _open(self, request: web.Request) -> web.Response:
        if (refusal := await _open_refusal(request)) is not None:
            self.refused_opens.append(refusal)
            return web.json_response({"code": "invalidParameter", "message": refusal}, status=400)
        body = await request.json()
        key = body.get("clientId")
        if self.apps.get(key) is None or self.apps[key] != body.get("clientSecret"):
            return web.json_response({"code": "authFailed", "message": "鉴权失败"}, status=401)
        topics = {s.get("topic") for s in body.get("subscriptions") or [] if isinstance(s, dict)}
        ticket = secrets.token_urlsafe(24) + "+/="  # make sure the client URL-encodes it
        self._tickets[ticket] = (key, topics)
        self.opens.append({"app_key": key, "subscriptions": body.get("subscriptions"), "ua": body.get("ua")})
        return web.json_response({"endpoint": self.base_url.replace("http", "ws", 1) + "/connect",
                                  "ticket": ticket})

    async def _connect(self, request: web.Request) -> web.StreamResponse:
        entry = self._tickets.pop(request.query.get("ticket", ""), None)
        if entry is None:
            return web.json_response({"code": "invalidTicket"}, status=401)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = GatewayConn(entry[0], entry[1], ws, request)
        await self._register(conn)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        frame = json.loads(msg.data)
                    except ValueError:
                        frame = msg.data
                    if isinstance(frame, dict):
                        await self._on_ack(frame)
                    else:
                        self.bad_acks.append(frame)
        finally:
            await self._unregister(conn)
        return ws

    async def _register(self, conn: GatewayConn) -> None:
        async with self._changed:
            self.live[conn.app_key].append(conn)
            self.connections_made[conn.app_key] += 1
            self.max_live[conn.app_key] = max(self.max_live[conn.app_key], len(self.live[conn.app_key]))
            self._changed.notify_all()
        for message_id, p in list(self.pending.items()):
            if p.app_key == conn.app_key and p.sent_at == 0:
                await self._send(message_id)

    async def _unregister(self, conn: GatewayConn) -> None:
        async with self._changed:
            if conn in self.live[conn.app_key]:
                self.live[conn.app_key].remove(conn)
            self._changed.notify_all()

    async def _on_ack(self, ack: dict[str, Any]) -> None:
        message_id = (ack.get("headers") or {}).get("messageId")
        if not message_id or not _ack_ok(ack):
            # not an ACK the gateway understands: the message stays pending and comes again
            async with self._changed:
                self.bad_acks.append(ack)
                self._changed.notify_all()
            return
        async with self._changed:
            self.acks[message_id].append(ack)
            if ack.get("code") == 200:
                self.pending.pop(message_id, None)
            self._changed.notify_all()

    # -- pushing ------------------------------------------------------------------------------------------------

    def _current(self, app_key: str, topic: str) -> GatewayConn | None:
        conns = [c for c in self.live[app_key] if topic in c.topics or "*" in c.topics]
        return conns[-1] if conns else None

    async def _send(self, message_id: str) -> bool:
        p = self.pending.get(message_id)
        conn = self._current(p.app_key, p.topic) if p else None
        if p is None or conn is None or p.app_key in self.muted:
            return False
        p.frame["headers"]["time"] = str(int(time.time() * 1000))
        p.sent_at = time.monotonic()
        self.deliveries[message_id] += 1
        conn.frames_sent.append(p.frame)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.ws.send_str(json.dumps(p.frame))
        return True

    def _frame(self, kind: str, topic: str, data: Any, extra: dict[str, str] | None = None) -> dict[str, Any]:
        headers = {"appId": "sim", "connectionId": uuid.uuid4().hex, "contentType": "application/json",
                   "messageId": uuid.uuid4().hex, "topic": topic, "time": str(int(time.time() * 1000))}
        headers.update(extra or {})
        return {"specVersion": "1.0", "type": kind, "headers": headers,
                "data": data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}

    async def push_callback(self, app_key: str, topic: str, data: Any, *, kill_after_send: bool = False) -> str:
        """Queue a CALLBACK frame (robot message, card click); sent now if the app is connected."""
        frame = self._frame("CALLBACK", topic, data)
        message_id = frame["headers"]["messageId"]
        self.pending[message_id] = Pending(app_key, topic, frame, 0.0)
        await self._send(message_id)
        if kill_after_send:
            await self.kill(app_key)
        return message_id

    async def push_event(self, app_key: str, event_type: str, data: Any, *, event_id: str | None = None) -> str:
        frame = self._frame("EVENT", "*", data, {"eventType": event_type, "eventId": event_id or uuid.uuid4().hex,
                                                 "eventBornTime": str(int(time.time() * 1000)),
                                                 "eventCorpId": "dingcorp"})
        message_id = frame["headers"]["messageId"]
        self.pending[message_id] = Pending(app_key, "*", frame, 0.0)
        await self._send(message_id)
        return message_id

    async def send_system(self, app_key: str, topic: str, data: Any = None) -> str | None:
        """A SYSTEM frame (`ping` expects its data echoed in the ACK; `disconnect` announces a close)."""
        conn = self._current(app_key, "*") or (self.live[app_key][-1] if self.live[app_key] else None)
        if conn is None:
            return None
        frame = self._frame("SYSTEM", topic, data if data is not None else {"opaque": uuid.uuid4().hex})
        conn.frames_sent.append(frame)
        await conn.ws.send_str(json.dumps(frame))
        return frame["headers"]["messageId"]

    async def kill(self, app_key: str) -> None:
        """Drop the app's connections without a close frame (a network cut, a gateway crash)."""
        for conn in list(self.live[app_key]):
            if conn.request.transport is not None:
                conn.request.transport.abort()

    def mute(self, app_key: str, on: bool = True) -> None:
        (self.muted.add if on else self.muted.discard)(app_key)

    # -- waiting (tests) ----------------------------------------------------------------------------------------

    async def wait_for(self, predicate: Any, timeout_s: float = 10.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout_s)

    async def wait_acked(self, message_id: str, timeout_s: float = 10.0) -> dict[str, Any]:
        await self.wait_for(lambda: any(a.get("code") == 200 for a in self.acks[message_id]), timeout_s)
        return next(a for a in self.acks[message_id] if a.get("code") == 200)

    async def wait_connected(self, app_key: str, count: int = 1, timeout_s: float = 10.0) -> None:
        """Until `count` connections have been made for the app in total and one is live."""
        await self.wait_for(lambda: self.connections_made[app_key] >= count and bool(self.live[app_key]), timeout_s)

    async def _tick(self) -> None:
        last_ping = time.monotonic()
        while True:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            for message_id, p in list(self.pending.items()):
                if p.sent_at and now - p.sent_at >= self.redeliver_after_s:
                    await self._send(message_id)
            if self.ping_interval_s and now - last_ping >= self.ping_interval_s:
                last_ping = now
                for app_key in list(self.live):
                    if app_key not in self.muted and self.live[app_key]:
                        with contextlib.suppress(ConnectionError, RuntimeError):
                            await self.send_system(app_key, "ping")


_SUBSCRIPTION_TYPES = {"EVENT", "CALLBACK", "SYSTEM"}


async def _open_refusal(request: web.Request) -> str | None:
    """Why the gateway would refuse a connections/open call as received, or None."""
    if request.content_type != "application/json":
        return f"Content-Type must be application/json, not {request.content_type}"
    try:
        body = await request.json()
    except ValueError:
        return "the body is not JSON"
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    for name in ("clientId", "clientSecret"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"{name} is required"
    subs = body.get("subscriptions")
    if not isinstance(subs, list) or not subs:
        return "subscriptions must be a non-empty list"
    for sub in subs:
        if not isinstance(sub, dict) or sub.get("type") not in _SUBSCRIPTION_TYPES or not sub.get("topic"):
            return f"bad subscription {sub!r}"
    return None


def _ack_ok(ack: dict[str, Any]) -> bool:
    """An ACK as the protocol has it: an integer code, the message id and a JSON content type in `headers`,
    and `data` a string (a JSON document as text, not an object)."""
    headers = ack.get("headers")
    return (isinstance(ack.get("code"), int) and isinstance(headers, dict)
            and headers.get("contentType") == "application/json" and isinstance(ack.get("data", ""), str))
