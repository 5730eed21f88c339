"""A CRM's webhook endpoint, as a test needs one: a real aiohttp server on 127.0.0.1 that checks the signature of
every request it receives, records it, and answers as the test scripts it (fail N times, hang, redirect)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.webhooks.signing import (
    ATTEMPT_HEADER,
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    WebhookSignatureError,
    verify,
)


@dataclass
class Received:
    event_id: str
    event_type: str
    attempt: int
    body: dict[str, Any]
    raw: bytes
    signed: bool
    signature_error: str
    signature_header: str
    status: int = 0

    @property
    def lead_id(self) -> int | None:
        return self.body.get("lead_id")

    @property
    def seq(self) -> int | None:
        return self.body.get("seq")


@dataclass
class Receiver:
    host: str = "127.0.0.1"
    secret: str | None = None
    # Decides the status of each request (after it is recorded); `hang` holds the request open instead.
    answer: Callable[[Received], int] = lambda r: 200
    hang: Callable[[Received], bool] = lambda r: False
    received: list[Received] = field(default_factory=list)
    redirects: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)
    # The receiver's own time, against which it checks a signature's timestamp: the test's clock when the sender
    # runs on one (a CRM and leadbot agree on the time of day).
    clock: Callable[[], float] = time.time

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def redirect_url(self, to: str, status: int = 307) -> str:
        self.redirects.append(to)
        return f"http://{self.host}:{self.port}/redirect/{len(self.redirects) - 1}?status={status}"

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        app.router.add_post("/redirect/{n}", self._redirect)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        raw = await request.read()
        signed, error = False, ""
        try:
            verify(self.secret or "", request.headers.get(SIGNATURE_HEADER, ""), raw, now=self.clock())
            signed = True
        except WebhookSignatureError as e:
            error = str(e)
        got = Received(request.headers.get(EVENT_ID_HEADER, ""), request.headers.get(EVENT_TYPE_HEADER, ""),
                       int(request.headers.get(ATTEMPT_HEADER, "0")), json.loads(raw), raw, signed, error,
                       request.headers.get(SIGNATURE_HEADER, ""))
        self.received.append(got)
        if self.hang(got):
            await self.released.wait()
        got.status = self.answer(got)
        return web.json_response({"ok": 200 <= got.status < 300}, status=got.status)

    async def _redirect(self, request: web.Request) -> web.Response:
        await request.read()
        target = self.redirects[int(request.match_info["n"])]
        return web.Response(status=int(request.query.get("status", "307")), headers={"Location": target})

    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]

    async def wait_for(self, accepted: int, timeout_s: float = 30.0) -> None:
        """Until `accepted` requests were answered 2xx (a generous limit that only guards against hanging)."""
        deadline = time.monotonic() + timeout_s
        while len(self.accepted()) < accepted:
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver accepted {len(self.accepted())} of {accepted} expected requests; "
                                     f"got {[(r.event_type, r.status) for r in self.received]}")
            await asyncio.sleep(0.01)
