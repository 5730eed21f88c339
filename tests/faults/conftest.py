"""Fault tests: real `leadbot serve`/`worker` processes on the test's database and Redis, a WeCom simulator in the
test process, and a team whose leads all go to one rep."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.runtime.config import Settings
from bot.runtime.services import Services
from storage.models import Role, RoutingRule, Tenant, User
from tests.e2e_wecom.support import AES_KEY, AGENT_ID, CALLBACK_TOKEN, SECRET, register_wecom_app
from tests.faults.support import Fleet
from tests.sim.wecom import WeComSimulator
from tests.support.people import make_user
from tests.support.wecom import WeComApp

REP, MANAGER = "rep1", "mgr1"


@dataclass
class Team:
    tenant: Tenant
    app_id: int
    manager: User
    rep: User

    def callback_path(self) -> str:
        return f"/wecom/{self.app_id}/callback"


@pytest.fixture(scope="session")
def voice_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled model joined once for the session; every worker process loads it from here."""
    from speech.model import resolve_model

    return resolve_model(tmp_path_factory.mktemp("faults-model"), None)


@pytest.fixture
def settings(settings: Settings, voice_model_dir: Path) -> Settings:
    return settings.model_copy(update={"whisper_model": str(voice_model_dir)})


@pytest.fixture
async def fleet(settings: Settings, tmp_path: Path) -> AsyncIterator[Fleet]:
    logs = tmp_path / "logs"
    logs.mkdir()
    f = Fleet(settings, logs)
    try:
        yield f
    finally:
        await f.close()


@pytest.fixture
def wecom_app() -> WeComApp:
    """The app `sim` serves and `sender` posts for (tests/support/wecom.py); one attempt per callback, as the
    tests count what each post did."""
    return WeComApp(AGENT_ID, SECRET, CALLBACK_TOKEN, AES_KEY, frozenset({REP, MANAGER}),
                    sender_options={"timeout_s": 10.0, "attempts": 1})


@pytest.fixture
async def team(services: Services, sim: WeComSimulator) -> Team:
    tenant = await Tenant.create(name="华东销售部", timezone="Asia/Shanghai")
    app_id = await register_wecom_app(services, tenant.id, corp_id=sim.corp_id, api_base=sim.url)
    manager = await make_user(tenant=tenant, name="王经理", role=Role.MANAGER, wecom_userid=MANAGER)
    rep = await make_user(tenant=tenant, name="张三", role=Role.REP, manager=manager, wecom_userid=REP)
    await RoutingRule.create(tenant=tenant, position=1, name="全部给张三",
                             spec={"strategy": "named", "named_rep_id": rep.id})
    return Team(tenant, app_id, manager, rep)
