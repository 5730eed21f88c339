"""Liveness, readiness and metrics.

`/readyz` answers 200 only when the database and Redis answer and a worker has sent a heartbeat recently: a web
process that can queue jobs nobody will run is not ready. It also shows, without failing on it, whether the official
holiday schedules deadlines need are known (`holidays`: this year's, and from 1 November the next one's).
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.admin import app_health
from bot.calendar import holidays
from bot.runtime import metrics
from bot.runtime.appkeys import SERVICES
from bot.runtime.worker_heartbeat import live_workers
from storage import db
from storage.models import App

CHECK_TIMEOUT_S = 2.0


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _check(coro) -> tuple[bool, str]:
    try:
        detail = await asyncio.wait_for(coro, CHECK_TIMEOUT_S)
        return True, detail or "ok"
    except Exception as e:  # any failure of a dependency is "not ready", with its reason
        return False, f"{type(e).__name__}: {e}"[:200]


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]

    async def database() -> str:
        await db.ping()
        return db.dialect()

    async def redis() -> str:
        await services.redis.ping()
        return "embedded" if services.embedded else "external"

    async def worker() -> str:
        n = len(await live_workers(services.redis, services.clock.time()))
        if n == 0:
            raise RuntimeError("no worker heartbeat in the last 30 s")
        return f"{n} live"

    checks = dict(zip(("database", "redis", "worker"),
                      await asyncio.gather(_check(database()), _check(redis()), _check(worker()))))
    ok = all(passed for passed, _ in checks.values())
    body: dict = {"status": "ready" if ok else "not ready",
                  "checks": {k: {"ok": passed, "detail": d} for k, (passed, d) in checks.items()}}
    missing = holidays.observe(holidays.today(services.clock))
    body["holidays"] = {"ok": not missing, "missing_years": missing, "detail": holidays.describe(missing)}
    if checks["database"][0]:
        apps = await App.all().order_by("id").values("id", "platform", "status", "verified_at", "state",
                                                     "state_reason", "last_callback_at")
        # Per app, without failing readiness: a failing app is the admin's to fix, not the balancer's concern.
        body["apps"] = [{**a, "status": str(a["status"]), "state": str(a["state"]),
                         "verified_at": a["verified_at"].isoformat() if a["verified_at"] else None,
                         "last_callback_at": a["last_callback_at"].isoformat() if a["last_callback_at"] else None}
                        for a in apps]
    return web.json_response(body, status=200 if ok else 503)


async def metrics_view(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    try:
        metrics.QUEUE_DEPTH.set(await asyncio.wait_for(services.queue.depth(), CHECK_TIMEOUT_S))
    except Exception:  # metrics must still be served while Redis is down; the depth is just stale
        pass
    holidays.observe(holidays.today(services.clock))
    try:
        await asyncio.wait_for(app_health.observe_states(), CHECK_TIMEOUT_S)
    except Exception:  # the database being away leaves the app states as last seen
        pass
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
