"""Rows read ahead on a card click's path: `storage.db.fetch_joined` (several tables' rows from one statement) and
`leadstore.read_ahead` (a lead's row read with them, taken by the change's first load only).

What a user depends on: each row as the ORM would read it, a LEFT JOIN that found nothing as no row (not an empty
one), and a change that found its lead changed meanwhile deciding again on the lead as it is now, not as read ahead.
"""

from __future__ import annotations

import pytest

from bot.errors import NotFound
from bot.leads import store as leadstore
from storage import db
from storage.models import Lead, Role, Tenant, User
from tests.support.leads import DEFAULTS, take_in


def _managed_sql() -> str:
    # Built once the models are initialised: before, a model's columns lack its foreign keys.
    return (f'SELECT u.*, {db.columns_of(Tenant, "t")}, {db.columns_of(User, "m")} FROM "users" u '
            'JOIN "tenants" t ON t."id" = u."tenant_id" LEFT JOIN "users" m ON m."id" = u."manager_id" '
            'WHERE u."tenant_id" = ? ORDER BY u."id"')


async def test_each_tables_row_as_the_orm_reads_it_and_none_where_the_join_found_none(services) -> None:
    tenant = await Tenant.create(name="甲公司", timezone="Asia/Tokyo")
    boss = await User.create(tenant=tenant, name="经理", role=Role.MANAGER)
    rep = await User.create(tenant=tenant, name="销售", role=Role.REP, manager=boss, industries=["制造"])
    rows = await db.fetch_joined(User, [("t", Tenant), ("m", User)], _managed_sql(), [tenant.id])
    assert [(u.id, t.id, m.id if m else None) for u, t, m in rows] == [(boss.id, tenant.id, None),
                                                                      (rep.id, tenant.id, boss.id)]
    _, t, m = rows[1]
    orm_tenant, orm_boss = await Tenant.get(id=tenant.id), await User.get(id=boss.id)
    assert _columns(t) == _columns(orm_tenant)
    assert _columns(m) == _columns(orm_boss)
    assert rows[1][0].industries == ["制造"]


def _columns(row) -> dict[str, object]:
    return {f: getattr(row, f) for f in type(row)._meta.db_fields}


@pytest.fixture
async def lead(services) -> Lead:
    tenant = await Tenant.create(name="甲公司")
    return await take_in(services, tenant.id, {**DEFAULTS, "external_id": "ahead-1"})


async def test_the_first_load_takes_the_row_read_ahead_and_a_second_reads_it_again(lead) -> None:
    ahead = await Lead.get(id=lead.id)
    await Lead.filter(id=lead.id).update(company="改了名")  # changed after it was read ahead
    with leadstore.read_ahead(ahead):
        assert (await leadstore.load_row(lead.id, lead.tenant_id)).company == DEFAULTS["company"]
        assert (await leadstore.load_row(lead.id, lead.tenant_id)).company == "改了名"


async def test_a_row_read_ahead_is_not_taken_for_another_lead_or_tenant(lead) -> None:
    ahead = await Lead.get(id=lead.id)
    ahead.company = "读过的"
    with leadstore.read_ahead(ahead):
        with pytest.raises(NotFound):
            await leadstore.load_row(lead.id, lead.tenant_id + 1)
        assert (await leadstore.load_row(lead.id, lead.tenant_id)).company == "读过的"
    assert (await leadstore.load_row(lead.id, lead.tenant_id)).company == DEFAULTS["company"]
