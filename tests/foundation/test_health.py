"""Health: liveness always; readiness only with database, Redis and a live worker; metrics in Prometheus form."""

from __future__ import annotations

from bot.runtime.worker import running_worker


async def test_healthz(client) -> None:
    r = await client.get("/healthz")
    assert r.status == 200


async def test_readyz_needs_a_worker(client, services) -> None:
    r = await client.get("/readyz")
    body = await r.json()
    assert r.status == 503
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]
    assert not body["checks"]["worker"]["ok"]
    async with running_worker(services):
        r = await client.get("/readyz")
        body = await r.json()
        assert r.status == 200, body
        assert body["checks"]["worker"]["detail"] == "1 live"


async def test_metrics_count_requests_by_route_and_status(client, admin_headers) -> None:
    await client.get("/admin/apps/12345", headers=admin_headers)
    text = await (await client.get("/metrics")).text()
    assert 'leadbot_http_requests_total{method="GET",route="/admin/apps/{id}",status="404"}' in text
    assert "leadbot_queue_depth" in text
    assert "leadbot_http_request_duration_seconds_bucket" in text
