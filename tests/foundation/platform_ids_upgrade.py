"""Run by test_platform_ids in a process of its own (Tortoise and aerich keep global state): bring a database to
the migration before `user_platform_ids`, write people the way that release did (an id in each platform's column,
both, none, an empty one; two tenants sharing an id; a manager, a lead and an alert pointing at them), then upgrade to
head and read what became of them."""

from __future__ import annotations

import asyncio
import json
import sys

from storage import db
from tests.support.upgrade import upgraded_with_rows

BEFORE = 8  # the first migration not applied: the one that adds `user_platform_ids`

TENANT = """INSERT INTO "tenants" ("created_at", "updated_at", "name", "timezone", "active", "settings")
   VALUES ({now}, {now}, '{name}', 'Asia/Shanghai', {true}, '{{}}')"""
USER = """INSERT INTO "users" ("created_at", "updated_at", "name", "role", "industries", "active", "tenant_id",
   "hand_set", "manager_id", "wecom_userid", "dingtalk_staff_id", "phone")
   VALUES ({now}, {now}, '{name}', 'rep', '["制造"]', {true}, {tenant}, '["name"]', {manager}, {wecom}, {dingtalk},
   '+8613800138000')"""
PEOPLE = (  # name, tenant, manager, wecom, dingtalk
    ("王经理", 1, "NULL", "'wang'", "'ding-wang'"),
    ("张三", 1, "1", "'zhang'", "NULL"),
    ("李四", 1, "1", "NULL", "'ding-li'"),
    ("赵六", 1, "1", "NULL", "NULL"),
    ("钱七", 1, "1", "''", "NULL"),
    ("别家", 2, "NULL", "'zhang'", "NULL"),  # the same WeCom userid in another tenant
    ("已删", 1, "NULL", "NULL", "NULL"),  # deleted below: the new table's ids must not reuse its id
)
ROWS = [
    TENANT.replace("{name}", "甲公司"), TENANT.replace("{name}", "乙公司"),
    *(USER.replace("{name}", n).replace("{tenant}", str(t)).replace("{manager}", m).replace("{wecom}", w)
      .replace("{dingtalk}", d) for n, t, m, w, d in PEOPLE),
    'DELETE FROM "users" WHERE "name" = \'已删\'',
    """INSERT INTO "leads" ("created_at", "updated_at", "company", "contact_name", "phone", "email", "source",
       "region", "industry", "tags", "priority", "status", "contacts", "evidence", "history", "competitors",
       "bounce_count", "version", "audit_seq", "audit_head", "webhook_seq", "tenant_id", "assignee_id")
       VALUES ({now}, {now}, '客户', '', '', '', 'web', '', '', '[]', 0, 'assigned', '[]', '[]', '[]', '[]',
       0, 1, 0, '', 0, 1, 2)""",
    """INSERT INTO "alerts" ("created_at", "updated_at", "tenant_id", "lead_id", "kind", "text", "dedup_key",
       "state", "channel_index", "user_id") VALUES ({now}, {now}, 1, 1, 'lock_breach', '超时', 'k1', 'pending', 0, 1)""",
]


async def main(url: str) -> None:
    await upgraded_with_rows(url, BEFORE, ROWS)
    from storage.models import Alert, Lead, Tenant, User, UserPlatformId

    ids = sorted(await UserPlatformId.all().values_list("tenant_id", "user_id", "platform", "platform_user_id"))
    users = {u.name: {"manager_id": u.manager_id, "industries": u.industries, "hand_set": u.hand_set,
                      "phone": u.phone} for u in await User.all()}
    lead, alert = await Lead.get(id=1), await Alert.get(id=1)
    new = await User.create(tenant=await Tenant.get(id=1), name="新人")
    print(json.dumps({"ids": ids, "users": users, "lead_assignee": lead.assignee_id, "alert_user": alert.user_id,
                      "new_user_id": new.id}, ensure_ascii=False))
    await db.close_db()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else ""))
