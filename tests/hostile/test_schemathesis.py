"""schemathesis against `/admin/openapi.json`: generated requests (valid and invalid) for every documented operation,
answered without a 5xx, with a documented status, content type and body schema.

The app runs in a thread of its own with its own event loop (schemathesis' client is synchronous; the aiohttp test
server would share the test's loop), on this session's database and Redis like every other test, seeded through the
API with one of each object so generated ids find real rows as well as missing ones.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import bot.runtime.app  # noqa: F401  (imports every handler module, which fills the registry)
from bot.runtime.config import Settings
from handlers.openapi import API
from tests.conftest import ADMIN_TOKEN, MASTER_KEY

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class LiveServer:
    url: str


def _serve(settings: Settings, ready: threading.Event, stop: threading.Event, out: dict) -> None:
    async def main() -> None:
        from bot.runtime.app import create_app, make_runner
        from bot.runtime.services import open_services
        from tests.conftest import _truncate_all_sql

        async with open_services(settings) as services:
            await services.redis.flushdb()
            if settings.database_url:
                from tortoise import connections

                await connections.get("default").execute_script(_truncate_all_sql())
            runner = make_runner(create_app(services), settings)
            await runner.setup()
            from aiohttp import web

            await web.TCPSite(runner, "127.0.0.1", 0).start()
            out["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}"
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            await runner.cleanup()
            await services.redis.flushdb()

    try:
        asyncio.run(main())
    except BaseException as e:  # surfaced to the fixture, which would otherwise wait for `ready` in vain
        out["error"] = e
        ready.set()


def _seed(url: str) -> None:
    def post(path: str, body: dict) -> dict:
        r = requests.post(url + path, json=body, headers=AUTH, timeout=10)
        assert r.status_code in (200, 201), r.text
        return r.json()

    tenant = post("/admin/tenants", {"name": "Acme 销售部"})
    post("/admin/apps", {"tenant_id": tenant["id"], "platform": "wecom", "name": "销售助手", "credentials": {
        "corp_id": "wwschema01", "agent_id": 1000002, "secret": "s" * 20, "token": "tok3nSchema",
        "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}})
    manager = post("/admin/users", {"tenant_id": tenant["id"], "name": "王经理", "role": "manager"})
    rep = post("/admin/users", {"tenant_id": tenant["id"], "name": "张三", "manager_id": manager["id"]})
    post(f"/admin/tenants/{tenant['id']}/rules", {"name": "all", "strategy": "named", "named_rep_id": rep["id"]})
    post("/api/leads", {"tenant_id": tenant["id"], "company": "华东机械", "external_id": "crm-1"})
    post(f"/admin/tenants/{tenant['id']}/tokens", {"name": "crm"})
    post("/admin/webhooks", {"tenant_id": tenant["id"], "url": "http://127.0.0.1:9/hook", "event_types": ["*"]})


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, redis_url: str, pg_session_url: str | None) -> Iterator[LiveServer]:
    data_dir: Path = tmp_path_factory.mktemp("schemathesis") / "data"
    settings_ = Settings(data_dir=data_dir, database_url=pg_session_url, redis_url=redis_url,
                         admin_token=ADMIN_TOKEN, master_key=MASTER_KEY, allow_private_urls=True,
                         public_url="https://leadbot.test")
    ready, stop, out = threading.Event(), threading.Event(), {}
    thread = threading.Thread(target=_serve, args=(settings_, ready, stop, out), daemon=True)
    thread.start()
    assert ready.wait(60), "the app did not start"
    if "error" in out:
        raise out["error"]
    _seed(out["url"])
    try:
        yield LiveServer(out["url"])
    finally:
        stop.set()
        thread.join(30)


schema = schemathesis.openapi.from_dict(API.document())


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_documented_operation_answers_as_documented(case, live: LiveServer) -> None:
    response = case.call(base_url=live.url, headers=AUTH, timeout=30)
    case.validate_response(response, checks=CHECKS)
    assert requests.get(live.url + "/healthz", timeout=10).status_code == 200
