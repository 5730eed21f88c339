"""Run by test_migrations in a process of its own (Tortoise and aerich keep global state): bring a database to the
first migration only, write rows the way that release did, then upgrade to head and read them through the models."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path

from tortoise import Tortoise, connections

from bot.runtime.config import Settings
from storage import db

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
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), database_url=url or None)
    first = sorted((db.MIGRATIONS_DIR / "models").glob("0_*.py"))[0]
    partial = Path(tempfile.mkdtemp()) / "migrations"
    (partial / "models").mkdir(parents=True)
    shutil.copy(first, partial / "models" / first.name)

    head, db.MIGRATIONS_DIR = db.MIGRATIONS_DIR, partial
    await db.open_db(settings)
    conn = connections.get("default")
    pg = db.dialect() == "postgres"
    for sql in ROWS:
        await conn.execute_script(sql.format(now="now()" if pg else "CURRENT_TIMESTAMP", true="true" if pg else "1"))
    await db.close_db()
    await Tortoise._reset_apps()

    db.MIGRATIONS_DIR = head
    await db.open_db(settings)  # applies the rest
    from storage.models import Alert, App, Deadline

    deadline, alert, app = await Deadline.get(id=1), await Alert.get(id=1), await App.get(id=1)
    print(json.dumps({"history": deadline.history, "deadline_next_at": deadline.next_at is None,
                      "plan": alert.plan, "alert_next_at": alert.next_at is None, "acked_by": alert.acked_by,
                      "app_identity": app.identity}))
    await db.close_db()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else ""))
