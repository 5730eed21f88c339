"""Waking dispatchers: in this process after a commit; across processes on PostgreSQL by a NOTIFY that only a
committed transaction delivers."""

from __future__ import annotations

import asyncio

import pytest
from tortoise.transactions import in_transaction

from bot.webhooks import wakeup
from tests.conftest import ENV_DB
from tests.webhooks.conftest import new_lead, subscribe


async def test_a_committed_change_wakes_this_processs_dispatchers(services, team, receiver) -> None:
    await subscribe(services, team.tenant.id, receiver.url, receiver=receiver)
    event = asyncio.Event()
    wakeup.register(event)
    try:
        await new_lead(services, team, "华东机械", "crm-1")
    finally:
        wakeup.unregister(event)
    assert event.is_set()


@pytest.mark.skipif(not ENV_DB, reason="LISTEN/NOTIFY is PostgreSQL's")
async def test_notify_reaches_a_listener_only_when_the_transaction_commits(services) -> None:
    event = asyncio.Event()
    listener = wakeup.PgListener(services.settings.effective_database_url(), event)
    await listener.ensure()
    try:
        with pytest.raises(RuntimeError):
            async with in_transaction():
                await wakeup.notify_in_transaction()
                raise RuntimeError("rolled back")
        async with in_transaction():
            await wakeup.notify_in_transaction()
            await asyncio.sleep(0.2)
            assert not event.is_set()  # not before the commit (nor from the rolled-back one)
        await asyncio.wait_for(event.wait(), 10)
    finally:
        await listener.close()
