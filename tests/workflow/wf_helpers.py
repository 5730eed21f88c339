"""People and leads for the workflow tests: one tenant with two teams, an admin, and a stranger tenant."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from bot.leads.types import (
    PIPELINE,
    Actor,
    Budget,
    Contact,
    Evidence,
    EvidenceKind,
    Lead,
    Role,
    Status,
    StatusChange,
    UserView,
)

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
NOW = T0 + timedelta(days=3)
TENANT = 1

REP = Actor(1, TENANT, Role.REP, manager_id=10, name="张三")
PEER = Actor(2, TENANT, Role.REP, manager_id=10, name="李四")  # same team, not the assignee
OUTSIDER = Actor(3, TENANT, Role.REP, manager_id=11, name="赵六")
MANAGER = Actor(10, TENANT, Role.MANAGER, name="王经理")
OTHER_MANAGER = Actor(11, TENANT, Role.MANAGER, name="钱经理")
ADMIN = Actor(99, TENANT, Role.ADMIN, name="管理员")
SYSTEM = Actor.system(TENANT)
FOREIGN_ADMIN = Actor(99, 2, Role.ADMIN, name="别家管理员")  # same user id, another tenant

REP_VIEW = UserView(1, TENANT, Role.REP, "张三", manager_id=10)
PEER_VIEW = UserView(2, TENANT, Role.REP, "李四", manager_id=10)
OUTSIDER_VIEW = UserView(3, TENANT, Role.REP, "赵六", manager_id=11)
GONE_VIEW = UserView(4, TENANT, Role.REP, "孙七", manager_id=10, active=False)
FOREIGN_VIEW = UserView(5, 2, Role.REP, "别家销售", manager_id=None)

BUDGET = Budget(800_000, 1_000_000)


def _history(path: list[Status]) -> tuple[StatusChange, ...]:
    changes = []
    prev: Status | None = None
    for i, status in enumerate(path):
        changes.append(StatusChange(prev, status, T0 + timedelta(hours=i)))
        prev = status
    return tuple(changes)


def lead_in(status: Status, *, evidence_ok: bool = True, lost_from: Status = Status.CONTACTED, **changes) -> Lead:
    """A lead of REP (manager 10) that walked the pipeline to `status`, with its gates met unless told not to."""
    if status is Status.POOL:
        path = [Status.POOL]
    elif status is Status.LOST:
        upto = PIPELINE[: PIPELINE.index(lost_from) + 1] if lost_from is not Status.POOL else []
        path = [Status.POOL, *upto, Status.LOST]
    else:
        path = [Status.POOL, *PIPELINE[: PIPELINE.index(status) + 1]]
    history = _history(path)
    lead = Lead(
        id=7,
        tenant_id=TENANT,
        status=status,
        version=len(history),
        company="杭州云帆科技",
        contact_name="陈总",
        phone="13800138000",
        history=history,
        lost_reason="价格不合适" if status is Status.LOST else None,
    )
    if status is not Status.POOL and not (status is Status.LOST and lost_from is Status.POOL):
        lead = replace(lead, assignee_id=REP.user_id, assignee_name=REP.name, assignee_manager_id=MANAGER.user_id)
    if evidence_ok:
        after_qualified = (lead.entered_at(Status.QUALIFIED) or T0) + timedelta(minutes=5)
        lead = replace(
            lead,
            budget_min=BUDGET.min,
            budget_max=BUDGET.max,
            decision_maker="陈总",
            evidence=(Evidence("voice:1", EvidenceKind.VOICE_SUMMARY, after_qualified),),
        )
    return replace(lead, **changes)


def contact(name: str, title: str, dm: bool = False) -> Contact:
    return Contact(name, title, dm)
