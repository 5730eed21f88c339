"""A stand-in for Feishu's long-connection gateway: the endpoint request the SDK makes (`POST /callback/ws/endpoint`
with AppID/AppSecret) and the WebSocket it then opens, speaking the SDK's protobuf frames (built with the SDK's own
`Frame`, so the wire is the SDK's, not our idea of it).

`push(payload)` sends one event frame to the app's live connection and returns the code of the client's answer
(200 handled, 500 failed: Feishu would deliver it again).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import defaultdict
from typing import Any

from aiohttp import WSMsgType, web
from lark_oapi.ws.pb.pbbp2_pb2 import Frame

DATA = 1


class WsGateway:
    def __init__(self) -> None:
        self.apps: dict[str, str] = {}
        self.endpoint_requests = 0
        self.connections: dict[str, list[web.WebSocketResponse]] = defaultdict(list)
        self.opened: dict[str, int] = defaultdict(int)
        self._answers: dict[str, asyncio.Future[int]] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/callback/ws/endpoint", self._endpoint)
        app.router.add_get("/ws", self._ws)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        for conns in self.connections.values():
            for ws in conns:
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def add_app(self, app_id: str, app_secret: str) -> None:
        self.apps[app_id] = app_secret

    def live(self, app_id: str) -> list[web.WebSocketResponse]:
        return [ws for ws in self.connections[app_id] if not ws.closed]

    async def _endpoint(self, request: web.Request) -> web.Response:
        self.endpoint_requests += 1
        body = await request.json()
        if self.apps.get(body.get("AppID")) != body.get("AppSecret"):
            return web.json_response({"code": 514, "msg": "auth failed"})
        url = f"ws{self.base_url[4:]}/ws?device_id={secrets.token_hex(4)}&service_id=7&app={body['AppID']}"
        return web.json_response({"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": {
            "ReconnectCount": -1, "ReconnectInterval": 1, "ReconnectNonce": 0, "PingInterval": 120}}})

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        app_id = request.query["app"]
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections[app_id].append(ws)
        self.opened[app_id] += 1
        async for msg in ws:
            if msg.type != WSMsgType.BINARY:
                continue
            frame = Frame()
            frame.ParseFromString(msg.data)
            if frame.method != DATA:
                continue  # pings
            message_id = next(h.value for h in frame.headers if h.key == "message_id")
            answer = self._answers.pop(message_id, None)
            if answer is not None and not answer.done():
                answer.set_result(int(json.loads(frame.payload)["code"]))
        return ws

    async def push(self, app_id: str, payload: dict[str, Any], *, timeout_s: float = 10.0) -> int:
        (ws,) = self.live(app_id)
        message_id = secrets.token_hex(8)
        frame = Frame()
        frame.SeqID, frame.LogID, frame.service, frame.method = 1, 1, 7, DATA
        for key, value in (("type", "event"), ("message_id", message_id), ("sum", "1"), ("seq", "0"),
                           ("trace_id", secrets.token_hex(4))):
            h = frame.headers.add()
            h.key, h.value = key, value
        frame.payload = json.dumps(payload, ensure_ascii=False).encode()
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._answers[message_id] = answer
        await ws.send_bytes(frame.SerializeToString())
        return await asyncio.wait_for(answer, timeout_s)
