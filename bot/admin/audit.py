"""The record of what admins changed through the console: one row per change, the admin as actor.

Leads have their hash-chained audit (`bot.leads.audit`); this is the admins' side of the story (an app registered, a
person disabled, a rule moved, a deadline changed), kept per tenant and shown on the console's activity page.
The caller gives the instant (the services' clock) and never a secret: field names, counts, ids.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.models import AdminEvent


async def record(tenant_id: int, actor: str, actor_name: str, action: str, subject: str = "", *, at: datetime,
                 via: str = "console", **detail: Any) -> AdminEvent:
    return await AdminEvent.create(tenant_id=tenant_id, at=at, actor=actor[:32], actor_name=actor_name[:128],
                                   via=via, action=action[:64], subject=subject[:200], detail=detail)


async def recent(tenant_id: int, limit: int = 50) -> list[AdminEvent]:
    return await AdminEvent.filter(tenant_id=tenant_id).order_by("-at", "-id").limit(limit)
