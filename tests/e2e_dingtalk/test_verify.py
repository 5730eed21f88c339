"""`DingTalkAdapter.verify()`, behind the admin "verify" action: the credentials really work (a token fetched now,
not the cached one), and an HTTP-mode app's card callback URL is registered where DingTalk will post clicks."""

from __future__ import annotations

import pytest

from bot.errors import PlatformError
from bot.platforms.dingtalk.adapter import DingTalkAdapter
from bot.platforms.dingtalk.config import DingTalkCredentials
from bot.platforms.dingtalk.sign import card_api_secret


def _adapter(services, sim, *, public_url: str | None = "https://leadbot.example.com/", **creds) -> DingTalkAdapter:
    fields = {"app_key": "dingverifyapp01", "app_secret": "verify-secret-0123456789", **creds}
    return DingTalkAdapter(17, DingTalkCredentials(**fields), session=services.http, tokens=services.broker,
                           redis=services.redis, api_base=sim.base_url, public_url=public_url)


@pytest.fixture
def sim(dt):
    dt.sim.add_app("dingverifyapp01", "verify-secret-0123456789")
    return dt.sim


async def test_an_http_app_registers_its_card_callback_url_with_a_derived_secret(services, sim) -> None:
    adapter = _adapter(services, sim)
    await adapter.access_token()  # a token in the cache must not stand in for the check
    fetched = sim.token_fetches

    assert await adapter.verify() == {"token": "ok", "mode": "http",
                                      "card_callback_url": "https://leadbot.example.com/dingtalk/17/card"}
    assert sim.token_fetches == fetched + 1
    url, api_secret = sim.callbacks["leadbot_dingverifyapp01"]
    assert url == "https://leadbot.example.com/dingtalk/17/card"
    assert api_secret == card_api_secret("verify-secret-0123456789", "leadbot_dingverifyapp01")
    assert api_secret != "verify-secret-0123456789"
    (register,) = [r.body for r in sim.requests_to("/v1.0/card/callbacks/register")]
    assert register["forceUpdate"] is True  # verifying again after a change replaces the old registration

    await adapter.verify()
    assert len(sim.requests_to("/v1.0/card/callbacks/register")) == 2


async def test_a_configured_route_key_is_the_one_registered(services, sim) -> None:
    await _adapter(services, sim, card_callback_route_key="acme_cards").verify()
    assert set(sim.callbacks) == {"acme_cards"}


async def test_without_a_public_url_nothing_is_registered_and_the_answer_says_why(services, sim) -> None:
    result = await _adapter(services, sim, public_url=None).verify()
    assert result["card_callback_url"] is None and "LEADBOT_PUBLIC_URL" in result["warning"]
    assert sim.callbacks == {}


async def test_a_stream_app_registers_nothing(services, sim) -> None:
    assert (await _adapter(services, sim, mode="stream").verify())["card_callback_url"] is None
    assert sim.callbacks == {}


async def test_a_wrong_secret_fails_verification(services, sim) -> None:
    with pytest.raises(PlatformError) as e:
        await _adapter(services, sim, app_secret="not-the-secret").verify()
    assert e.value.errcode == "invalidClientIdOrSecret"
    assert sim.callbacks == {}
