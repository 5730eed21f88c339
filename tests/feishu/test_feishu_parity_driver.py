"""The parity driver for Feishu, piece by piece (tests/parity runs the whole scenario on it): the app registered
and verified through the admin API and the registry's adapter, a lead card sent through it read back as the driver's
HeldCard, and a click on it taken by the card route and queued as our click."""

from __future__ import annotations

from bot.jobs import inbound as inbound_jobs
from bot.leads.types import Status
from bot.platforms.base import InboundKind
from bot.runtime.worker import drain
from cards import feishu as feishu_cards
from cards.model import lead_card
from tests.cards.card_helpers import REP, T0, lead_in
from tests.e2e_dingtalk.conftest import Recorder
from tests.parity.drivers.base import Person
from tests.parity.drivers.feishu import FeishuDriver
from tests.parity.support import create_tenant


async def test_a_card_sent_through_the_registered_app_is_held_and_clicked(client, services, admin_headers,
                                                                          monkeypatch) -> None:
    recorder = Recorder()
    monkeypatch.setitem(inbound_jobs.HANDLERS, InboundKind.CARD_CLICK, recorder)
    driver = FeishuDriver(client, services, admin_headers)
    await driver.start()
    try:
        tenant = await create_tenant(client, admin_headers)
        app_id = await driver.register_app(tenant)
        assert driver.sim.token_fetches == 1  # verify() fetched a token through the registry's adapter
        driver.sim.add_user("ou_rep1")
        rep = Person(1, "张三", "ou_rep1")

        card = lead_card(lead_in(Status.ASSIGNED), REP, now=T0)
        adapter = await services.adapter(app_id)
        await adapter.send_card("ou_rep1", "lble1-parity", feishu_cards.render(card, "lble1-parity"))
        (held,) = driver.cards_of(rep)
        assert (held.card_id, held.title, held.status) == ("lble1-parity", card.title, card.status)
        assert set(held.buttons) == {b.text for b in card.buttons}
        assert held.fields == {f.name: f.value for f in card.fields if f.value}

        button = card.buttons[0]
        assert await driver.click(rep, held, button.text) == 200
        await drain(services)
        ((got_app, got),) = recorder.got
        assert got_app == app_id and got.sender == "ou_rep1"
        assert got.card is not None and (got.card.card_id, got.card.key) == ("lble1-parity", button.key.pack())
    finally:
        await driver.close()
