"""Run by test_migrations in a process of its own (Tortoise and aerich keep global state): bring a database to the
first migration only, write rows the way that release did, then upgrade to head and read them through the models."""

from __future__ import annotations

import asyncio
import json
import sys

from storage import db
from tests.support.upgrade import upgraded_with_rows

ROWS = [
    """INSERT INTO "tenants" ("created_at", "updated_at", "name", "timezone", "active", "settings")
       VALUES ({now}, {now}, '甲公司', 'Asia/Shanghai', {true}, '{{}}')""",
    """INSERT INTO "users" ("created_at", "updated_at", "name", "role", "industries", "active", "tenant_id")
       VALUES ({now}, {now}, '王经理', 'manager', '[]', {true}, 1)""",
    """INSERT INTO "leads" ("created_at", "updated_at", "company", "contact_name", "phone", "email", "source",
       "region", "industry", "tags", "priority", "status", "contacts", "evidence", "history", "competitors",
       "bounce_count", "version", "audit_seq", "audit_head", "webhook_seq", "tenant_id")
       VALUES ({now}, {now}, '乙客户', '李', '', '', 'web', '', '', '[]', 0, '已分配', '[]', '{{}}', '[]', '[]',
       0, 1, 0, '', 0, 1)""",
    """INSERT INTO "deadlines" ("created_at", "updated_at", "tenant_id", "kind", "due_at", "fence", "step", "plan",
       "state", "lead_id") VALUES ({now}, {now}, 1, 'response_lock', {now}, 1, 0, '{{}}', 'pending', 1)""",
    """INSERT INTO "alerts" ("created_at", "updated_at", "tenant_id", "lead_id", "kind", "text", "dedup_key",
       "state", "channel_index", "user_id") VALUES ({now}, {now}, 1, 1, 'lock_breach', '超时', 'k1', 'pending', 0, 1)""",
    """INSERT INTO "apps" ("created_at", "updated_at", "platform", "name", "identity", "status", "public",
       "secrets_sealed", "tenant_id") VALUES ({now}, {now}, 'wecom', '助手', 'wecom:wwcorp:1000002', 'active', '{{}}',
       'x', 1)""",
]


async def main(url: str) -> None:
    await upgraded_with_rows(url, 1, ROWS)  # the first migration only
    from storage.models import Alert, App, Deadline

    deadline, alert, app = await Deadline.get(id=1), await Alert.get(id=1), await App.get(id=1)
    print(json.dumps({"history": deadline.history, "deadline_next_at": deadline.next_at is None,
                      "plan": alert.plan, "alert_next_at": alert.next_at is None, "acked_by": alert.acked_by,
                      "app_identity": app.identity}))
    await db.close_db()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else ""))
