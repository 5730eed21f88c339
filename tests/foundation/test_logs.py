"""Logs: phone numbers and e-mail addresses masked, registered secrets blanked, JSON lines for machines."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.runtime.logs import mask, register_secret, setup_logging


@pytest.mark.parametrize(("raw", "masked"), [
    ("call 13800138000 now", "call 138****8000 now"),
    ("call +8613800138000", "call +86138****8000"),
    ("mail zhang.san@example.com please", "mail z***@example.com please"),
    ("intl +14155550123", "intl +141****0123"),
    ("msgid 1234567890123456789 stays", "msgid 1234567890123456789 stays"),
    ("timestamp 1409659589 stays", "timestamp 1409659589 stays"),
])
def test_masking(raw: str, masked: str) -> None:
    assert mask(raw) == masked


def test_registered_secret_never_reaches_a_line() -> None:
    register_secret("sk-live-abcdef123456")
    stream = io.StringIO()
    setup_logging("info", "text", stream)
    logging.getLogger("t").info("token is %s", "sk-live-abcdef123456")
    assert "sk-live-abcdef123456" not in stream.getvalue()
    assert "***" in stream.getvalue()


def test_json_format_one_object_per_line() -> None:
    stream = io.StringIO()
    setup_logging("info", "json", stream)
    logging.getLogger("t").info("hello %s", "13800138000", extra={"app_id": 7})
    line = json.loads(stream.getvalue().strip())
    assert line["msg"] == "hello 138****8000"
    assert line["app_id"] == 7 and line["level"] == "info"


# --- logs as data (issue 23) ------------------------------------------------------------------------------------

from ipaddress import ip_network  # noqa: E402

from bot.runtime.worker import drain  # noqa: E402
from storage.models import RoutingRule  # noqa: E402


@pytest.fixture
def settings(settings):
    # The test client connects from 127.0.0.1; a proxy on 10.0.0.0/8 sits in front of it in one test below.
    return settings.model_copy(update={"trusted_proxies": (ip_network("127.0.0.0/8"), ip_network("10.0.0.0/8"))})


def _records(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


async def test_json_lines_carry_request_tenant_app_lead_and_job_as_fields(client, services, admin_headers) -> None:
    tenant = (await (await client.post("/admin/tenants", json={"name": "日志"}, headers=admin_headers)).json())["id"]
    r = await client.post(f"/admin/tenants/{tenant}/tokens", json={"name": "crm", "scope": "api"},
                          headers=admin_headers)
    api = {"Authorization": f"Bearer {(await r.json())['token']}"}
    r = await client.post("/admin/users", json={"tenant_id": tenant, "name": "张三", "role": "rep"},
                          headers=admin_headers)
    await RoutingRule.create(tenant_id=tenant, name="all", position=0,
                             spec={"strategy": "named", "named_rep_id": (await r.json())["id"]})
    stream = io.StringIO()
    setup_logging("info", "json", stream)
    try:
        r = await client.post("/api/leads", json={"company": "华东机械"}, headers=api | {"X-Request-Id": "crm-req-42"})
        assert r.headers["X-Request-Id"] == "crm-req-42"
        lead = (await r.json())["id"]
        r = await client.get(f"/api/leads/{lead}", headers=api)
        generated = r.headers["X-Request-Id"]
        assert await drain(services)  # the lead's follow-ups, as a worker runs them
    finally:
        setup_logging("info", "text")
    records = _records(stream)
    post = [x for x in records if x.get("request_id") == "crm-req-42"]
    assert post and all(x["tenant"] == tenant for x in post if x.get("path") == "/api/leads")
    [get] = [x for x in records if x.get("request_id") == generated and x.get("path")]
    assert (get["lead"], get["tenant"], get["status"], get["method"]) == (str(lead), tenant, 200, "GET")
    jobs = [x for x in records if x.get("job")]
    assert jobs and any(x.get("lead") == lead and x.get("tenant") == tenant for x in jobs), jobs


async def test_the_access_line_names_the_client_behind_a_trusted_proxy(client, services) -> None:
    stream = io.StringIO()
    setup_logging("info", "json", stream)
    try:
        await client.get("/healthz")
        await client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
        await client.get("/healthz", headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9, 10.1.2.3"})
    finally:
        setup_logging("info", "text")
    clients = [x["client"] for x in _records(stream) if x.get("path") == "/healthz"]
    # the peer; the address the (trusted) local proxy saw; the first untrusted hop from the right, not the forgery
    assert clients == ["127.0.0.1", "203.0.113.9", "203.0.113.9"]


def test_a_forwarded_header_from_an_untrusted_peer_is_ignored() -> None:
    from aiohttp.test_utils import make_mocked_request

    from handlers.http import client_address

    class Peer:  # the socket's far end, as aiohttp's transport reports it
        def get_extra_info(self, name: str, default=None):
            return ("192.0.2.50", 40000) if name == "peername" else default

    request = make_mocked_request("GET", "/", headers={"X-Forwarded-For": "203.0.113.9"}, transport=Peer())
    assert client_address(request, ()) == "192.0.2.50"
    assert client_address(request, (ip_network("10.0.0.0/8"),)) == "192.0.2.50"
    assert client_address(request, (ip_network("192.0.2.0/24"),)) == "203.0.113.9"


def test_text_lines_end_with_the_bound_fields() -> None:
    from bot.runtime.logs import bound

    stream = io.StringIO()
    setup_logging("info", "text", stream)
    try:
        with bound(request_id="r1", tenant=3):
            logging.getLogger("t").info("hello")
        logging.getLogger("t").info("after")
    finally:
        setup_logging("info", "text")
    first, second = stream.getvalue().splitlines()
    assert first.endswith("hello [request_id=r1 tenant=3]") and second.endswith("after")
