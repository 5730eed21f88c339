"""Outbound webhooks: a signed, ordered, at-least-once stream of what happens to a tenant's leads, to its CRM.

    lead change ──(same transaction)──▶ webhook_events + webhook_deliveries      (record: leadstore's change hook)
    worker process: Dispatcher ──ready? claim──▶ signed POST ──▶ webhook_attempts, retry / delivered / dead
                                                                        (dispatcher, delivery, sender, signing)

Modules: `payloads` (event types and bodies, pure), `signing` (Leadbot-Signature, pure), `retry` (backoff, pure),
`record` (writing events inside transactions; `emit` for other modules), `sender` (HTTP with the address rule),
`delivery` (claim, send, record an attempt, disable a failing subscription), `dispatcher` (the loop a worker runs),
`wakeup` (waking dispatchers after a commit: in-process, and PostgreSQL NOTIFY), `subscriptions` (what the admin API
and the CLI do), `jobs` (the maintenance cron), `metrics`.

Importing this package registers the lead-change hook with `bot.leads.store`: every process that changes leads
imports it (the app, the worker and the CLI do).
"""

from __future__ import annotations

from bot.webhooks.payloads import EventType
from bot.webhooks.record import emit, wake

__all__ = ["EventType", "emit", "wake"]
