"""Two teams and an admin in the escalation tests' world, with leads that need their managers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.board import access
from storage.models import Lead as LeadRow
from storage.models import User
from tests.escalation.support import World, assign, configure, new_lead
from tests.support.people import make_user


@dataclass
class Teams:
    world: World
    other_manager: User
    other_rep: User
    admin: User
    overdue_lead: int  # 张三's (王经理's team), untouched for 30 h
    other_lead: int  # 赵经理's team


async def make_teams(world: World) -> Teams:
    # The test's clock (a Tuesday morning): the lock armed 30 h ago, on Monday before work, ran out on Monday.
    now = world.services.clock.now()
    # Only remind the rep when a lock runs out: the leads stay where the test put them.
    await configure(world, escalation={"steps": [{"action": "remind_rep"}]})
    tenant = world.tenant
    other_manager = await make_user(tenant=tenant, name="赵经理", role="manager", wecom_userid="zhao")
    other_rep = await make_user(tenant=tenant, name="钱五", role="rep", manager=other_manager, wecom_userid="qian")
    admin = await make_user(tenant=tenant, name="孙管理员", role="admin", wecom_userid="sun")
    overdue = await new_lead(world, "宁波海曙机电")
    await assign(world, overdue, world.rep, now=now - timedelta(hours=30))
    other = await new_lead(world, "合肥新站光电")
    await assign(world, other, other_rep, now=now - timedelta(hours=1))
    return Teams(world, other_manager, other_rep, admin, overdue, other)


async def link_token(world: World, user: User) -> str:
    return await access.issue_link_token(world.services.redis, user)


async def assignee_of(lead_id: int) -> int | None:
    return (await LeadRow.get(id=lead_id)).assignee_id
