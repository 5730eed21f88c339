"""Fixtures for the lead API: a tenant with a manager and reps, and a tenant token."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from handlers.auth import token_digest
from storage.models import ApiToken, Role, Tenant, TokenScope, User
from tests.support.people import make_user


@dataclass
class Team:
    tenant: Tenant
    manager: User
    reps: list[User]
    headers: dict[str, str]


async def make_team(name: str, reps: int = 2) -> Team:
    tenant = await Tenant.create(name=name)
    manager = await make_user(tenant=tenant, name=f"{name}经理", role=Role.MANAGER, wecom_userid=f"{name}-mgr")
    members = [
        await make_user(tenant=tenant, name=f"{name}销售{i}", role=Role.REP, manager=manager,
                          wecom_userid=f"{name}-rep{i}", region="华东", industries=["制造"])
        for i in range(1, reps + 1)
    ]
    token = f"lbt_test_{name}"
    await ApiToken.create(tenant=tenant, name="crm", scope=TokenScope.API, token_sha256=token_digest(token))
    return Team(tenant, manager, members, {"Authorization": f"Bearer {token}"})


@pytest.fixture
async def team(services) -> Team:
    return await make_team("acme")


@pytest.fixture
async def other_team(services) -> Team:
    return await make_team("globex")
