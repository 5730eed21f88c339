"""Datetimes compare in SQL as instants, whatever zone they were written in.

Deadlines are computed in the tenant's zone (working time on its calendar) and compared in SQL with `now` in UTC:
the API's `?overdue=`, the sweep that re-arms overdue timers. SQLite has no time type and compares the stored
texts, so each must be written with one offset (UTC, `storage.db`); PostgreSQL's timestamptz compares instants.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tortoise import connections

from storage.db import numbered
from storage.models import BoardFact

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def test_a_time_written_in_a_tenants_zone_compares_as_the_instant_it_is(services) -> None:
    now = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    conn = connections.get("default")
    for hours in (-3, -1, 1, 3):  # written in Shanghai time, 3 and 1 hours either side of now
        at = (now + timedelta(hours=hours)).astimezone(SHANGHAI)
        if hours < 0:  # as an ORM update writes it (a model instance would convert it when made)
            fact = await BoardFact.create(tenant_id=1, lead_id=100 + hours, kind="contact", at=now)
            await BoardFact.filter(id=fact.id).update(at=at)
        else:  # as parameterised SQL writes it (the deadlines' upsert, the hot paths)
            await conn.execute_query(numbered('INSERT INTO "board_facts" ("tenant_id", "lead_id", "person_id", '
                                              '"kind", "tag", "at", "value") VALUES (?, ?, NULL, ?, ?, ?, ?)'),
                                     [1, 100 + hours, "contact", "", at, 0.0])
    past = await BoardFact.filter(at__lte=now).order_by("lead_id").values_list("lead_id", flat=True)
    assert past == [97, 99]
    assert await BoardFact.filter(at__gt=now).count() == 2
    ordered = await BoardFact.all().order_by("at").values_list("lead_id", flat=True)
    assert ordered == [97, 99, 101, 103]
    # Read back as the same instants.
    assert sorted(await BoardFact.all().values_list("at", flat=True)) == [
        now + timedelta(hours=h) for h in (-3, -1, 1, 3)]
