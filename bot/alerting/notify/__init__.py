"""Alert channels (SMS, e-mail; chat wraps the platform adapters) and their shared result type."""

from __future__ import annotations

from bot.alerting.notify.base import Alert, Channel, DeliveryOutcome, DeliveryResult, HttpChannel, Recipient, Reply

__all__ = ["Alert", "Channel", "DeliveryResult", "HttpChannel", "DeliveryOutcome", "Recipient", "Reply"]
