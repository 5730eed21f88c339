"""WeCom end to end: the simulator as WeCom, the real callback route, a real worker, the real lead core.

A tenant with one WeCom app pointed at the simulator, a manager, their rep (every lead is routed to the rep), a rep
of another team, and a second tenant with a lead of its own.
"""

from __future__ import annotations

import pytest

from bot.runtime.services import Services
from storage.models import Role, RoutingRule, Tenant
from tests.e2e_wecom.support import (
    AES_KEY,
    AGENT_ID,
    CALLBACK_TOKEN,
    MANAGER,
    REP,
    SECRET,
    STRANGER,
    World,
    register_wecom_app,
)
from tests.sim.wecom import WeComSimulator
from tests.support.people import make_user
from tests.support.wecom import WeComApp


@pytest.fixture
def wecom_app() -> WeComApp:
    """The app `sim` serves and `sender` posts for (tests/support/wecom.py)."""
    return WeComApp(AGENT_ID, SECRET, CALLBACK_TOKEN, AES_KEY, frozenset({REP, MANAGER, STRANGER}))


@pytest.fixture
async def world(services: Services, client, sim: WeComSimulator) -> World:
    tenant = await Tenant.create(name="华东销售部")
    app_id = await register_wecom_app(services, tenant.id, corp_id=sim.corp_id, api_base=sim.url)
    manager = await make_user(tenant=tenant, name="王经理", role=Role.MANAGER, wecom_userid=MANAGER)
    rep = await make_user(tenant=tenant, name="张三", role=Role.REP, manager=manager, wecom_userid=REP)
    stranger = await make_user(tenant=tenant, name="李四", role=Role.REP, wecom_userid=STRANGER)
    await RoutingRule.create(tenant=tenant, position=1, name="全部给张三",
                             spec={"strategy": "named", "named_rep_id": rep.id})
    return World(tenant, app_id, manager, rep, stranger, str(client.make_url(f"/wecom/{app_id}/callback")))
