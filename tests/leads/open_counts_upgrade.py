"""Run by test_open_lead_counts in a process of its own (Tortoise and aerich keep global state): bring a database
to the migration before the open-lead counts, write leads the way that release did (held, pooled, closed; two
tenants), then upgrade to head and compare the back-filled counts with a fresh count."""

from __future__ import annotations

import asyncio
import json
import sys

from storage import db
from tests.support.upgrade import upgraded_with_rows

BEFORE = 7  # the first migration not applied: the one that adds `rep_loads`

LEAD = """INSERT INTO "leads" ("created_at", "updated_at", "company", "contact_name", "phone", "email", "source",
   "region", "industry", "tags", "priority", "status", "contacts", "evidence", "history", "competitors",
   "bounce_count", "version", "audit_seq", "audit_head", "webhook_seq", "tenant_id", "assignee_id")
   VALUES ({now}, {now}, '客户', '', '', '', 'web', '', '', '[]', 0, '{status}', '[]', '[]', '[]', '[]',
   0, 1, 0, '', 0, {tenant}, {assignee})"""
ROWS = [
    """INSERT INTO "tenants" ("created_at", "updated_at", "name", "timezone", "active", "settings")
       VALUES ({now}, {now}, '甲公司', 'Asia/Shanghai', {true}, '{{}}')""",
    """INSERT INTO "tenants" ("created_at", "updated_at", "name", "timezone", "active", "settings")
       VALUES ({now}, {now}, '乙公司', 'Asia/Shanghai', {true}, '{{}}')""",
    *(f"""INSERT INTO "users" ("created_at", "updated_at", "name", "role", "industries", "active", "tenant_id",
       "hand_set") VALUES ({{now}}, {{now}}, '销售{i}', 'rep', '[]', {{true}}, {t}, '[]')""" for i, t in
      ((1, 1), (2, 1), (3, 2))),
    # rep 1: two open (assigned, demo), one won, one lost; rep 2: one contacted; rep 3 (other tenant): one
    # negotiation; and a pool lead nobody holds.
    *(LEAD.replace("{status}", s).replace("{tenant}", str(t)).replace("{assignee}", a) for s, t, a in (
        ("assigned", 1, "1"), ("demo", 1, "1"), ("won", 1, "1"), ("lost", 1, "1"), ("contacted", 1, "2"),
        ("negotiation", 2, "3"), ("pool", 1, "NULL"))),
]


async def main(url: str) -> None:
    await upgraded_with_rows(url, BEFORE, ROWS)
    from bot.leads import open_counts as openleads
    from storage.models import RepLoad

    kept = {str(u): n for u, n in await RepLoad.all().values_list("user_id", "open_leads")}
    fresh = {str(u): n for u, n in (await openleads.fresh_counts()).items()}
    print(json.dumps({"kept": kept, "fresh": fresh}))
    await db.close_db()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else ""))
