"""Run by test_migrations in a process of its own: a database at migration 9 holding a deadline and an alert whose
times were stored with a tenant's offset (as the release before UTC storage wrote them on SQLite), upgraded to
head; prints what a comparison with now in UTC finds."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime

from tortoise import connections

from storage import db
from tests.foundation.upgrade_script import ROWS as FIRST_RELEASE_ROWS
from tests.support.upgrade import upgraded_with_rows

ROWS = [
    *FIRST_RELEASE_ROWS[:3],  # a tenant, its manager, a lead
    # 10:00 in Shanghai is 02:00 UTC.
    """INSERT INTO "deadlines" ("created_at", "updated_at", "tenant_id", "kind", "due_at", "next_at", "fence", "step",
       "plan", "state", "history", "lead_id") VALUES ({now}, {now}, 1, 'response_lock', '2026-12-08 10:00:00+08:00',
       '2026-12-08 10:00:00.250000+08:00', 1, 0, '{{}}', 'pending', '[]', 1)""",
    """INSERT INTO "alerts" ("created_at", "updated_at", "tenant_id", "lead_id", "kind", "text", "dedup_key",
       "state", "channel_index", "user_id", "next_at", "plan") VALUES ({now}, {now}, 1, 1, 'lock_breach', '超时',
       'k1', 'pending', 0, 1, '2026-12-08 10:00:00+08:00', '{{}}')""",
]


async def main(url: str) -> None:
    await upgraded_with_rows(url, 10, ROWS)  # up to migration 9
    from storage.models import Alert, Deadline

    now = datetime(2026, 12, 8, 2, 30, tzinfo=UTC)  # half an hour past both
    deadline = await Deadline.get(id=1)
    raw = await connections.get("default").execute_query_dict('SELECT "due_at" FROM "deadlines"')
    print(json.dumps({
        "due_found": await Deadline.filter(due_at__lte=now).count(),
        "next_found": await Deadline.filter(next_at__lt=now).count(),
        "alert_found": await Alert.filter(next_at__lt=now).count(),
        "due_at": deadline.due_at.astimezone(UTC).isoformat(),
        "next_at": deadline.next_at.astimezone(UTC).isoformat() if deadline.next_at else None,
        "raw_utc": str(raw[0]["due_at"]).endswith("+00:00") or db.dialect() == "postgres",
    }))
    await db.close_db()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else ""))
