"""The access token is shared by every process and refreshed by one of them at a time."""

from __future__ import annotations

import asyncio

from bot.runtime.services import Services
from tests.e2e_wecom.support import AGENT_ID, MANAGER, REP, World, another_process, cards_of, new_lead
from tests.sim.wecom import WeComSimulator


async def test_a_revoked_token_is_refreshed_once_with_two_workers_asking_at_once(
    world: World, sim: WeComSimulator, services: Services
) -> None:
    await new_lead(services, world.tenant, "crm-token")  # the worker fetched a token to send the rep's card
    assert cards_of(sim, REP) and sim.gettoken_calls[AGENT_ID] == 1
    async with another_process(services) as second:
        first_adapter, second_adapter = await services.adapter(world.app_id), await second.adapter(world.app_id)
        await second_adapter.send_text(MANAGER, "预热")  # the second process reads the shared token: no fetch
        assert sim.gettoken_calls[AGENT_ID] == 1
        sim.revoke_tokens()  # a secret reset on the console: every issued token is refused from now on
        sends_before = len(sim.calls("message/send"))
        await asyncio.gather(first_adapter.send_text(REP, "第一个进程"), second_adapter.send_text(MANAGER, "第二个进程"))
    assert sim.gettoken_calls[AGENT_ID] == 2  # one refresh between them
    assert len(sim.calls("message/send")) == sends_before + 4  # each was refused once, then went through
    assert [d.message["text"]["content"] for d in sim.inbox(REP) if d.message["msgtype"] == "text"] == ["第一个进程"]
    assert [d.message["text"]["content"] for d in sim.inbox(MANAGER)] == ["预热", "第二个进程"]
