"""Webhook metrics (served with the rest on `/metrics` by the process that runs a dispatcher)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ATTEMPTS = Counter("leadbot_webhook_attempts_total", "Webhook HTTP attempts by outcome", ["outcome"])
DELIVERIES = Counter(
    "leadbot_webhook_deliveries_total", "Webhook deliveries settled, by outcome (delivered, or dead after retries)",
    ["outcome"],
)
DEPTH = Gauge("leadbot_webhook_outbox_depth", "Webhook deliveries pending for enabled subscriptions")
OLDEST_PENDING_S = Gauge(
    "leadbot_webhook_oldest_pending_seconds", "Age of the oldest pending webhook delivery (0 when none)"
)
COMMIT_TO_DELIVERY = Histogram(
    "leadbot_webhook_commit_to_delivery_seconds", "From the event's commit to its successful delivery",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400),
)
