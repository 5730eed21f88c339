"""Receiving: the URL check, deliveries queued once and processed once, every refusal with no effect."""

from __future__ import annotations

from typing import Any

from yarl import URL

from bot.platforms.base import Inbound, InboundKind
from bot.runtime.worker import drain
from storage.models import Tenant
from tests.e2e_wecom.support import World, inbound_handler, register_wecom_app
from tests.sim.wecom import CallbackSender

# The example of WeCom's callback documentation (加解密方案说明), answered through the real route.
OFFICIAL = {
    "token": "QDG6eK", "aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "corp_id": "wx5823bf96d3bd56c7",
    "query": {
        "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "timestamp": "1409659589", "nonce": "263014780",
        "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
    },
    "echo": "1616140317555161061",
}


async def test_the_official_url_check_is_answered_with_the_plaintext_alone(client, services) -> None:
    tenant = await Tenant.create(name="官方示例")
    app_id = await register_wecom_app(services, tenant.id, corp_id=OFFICIAL["corp_id"], token=OFFICIAL["token"],
                                      aes_key=OFFICIAL["aes_key"])
    r = await client.get(f"/wecom/{app_id}/callback", params=OFFICIAL["query"])
    assert r.status == 200
    assert await r.read() == OFFICIAL["echo"].encode()
    assert r.content_type == "text/plain"


async def test_the_url_check_of_the_simulator_passes(world: World, sender: CallbackSender) -> None:
    status, text, echo = await sender.verify(world.url)
    assert (status, text) == (200, echo)


async def test_a_text_delivered_three_times_is_processed_once(world: World, sender: CallbackSender,
                                                              services) -> None:
    seen: list[tuple[int, Inbound]] = []

    async def record(ctx: dict[str, Any], app_id: int, message: Inbound) -> None:
        seen.append((app_id, message))

    # WeCom never saw our 200 (lost on the way back), so it delivers all three times.
    delivery = await sender.deliver(world.url, sender.text("rep1", "明天拜访杭州云帆", msg_id=1234567890123456789),
                                    until_ok=False)
    assert delivery.statuses == [200, 200, 200]
    assert await services.queue.depth() == 1
    with inbound_handler(InboundKind.TEXT, record):
        await drain(services)
    assert [(app_id, m.kind, m.sender, m.text, m.msg_id) for app_id, m in seen] == [
        (world.app_id, InboundKind.TEXT, "rep1", "明天拜访杭州云帆", "1234567890123456789")]


async def test_the_url_check_survives_an_unescaped_plus_in_echostr(client, services) -> None:
    """A '+' left unescaped in the query reaches us as a space; base64 has no spaces, so it is read back."""
    tenant = await Tenant.create(name="官方示例")
    app_id = await register_wecom_app(services, tenant.id, corp_id=OFFICIAL["corp_id"], token=OFFICIAL["token"],
                                      aes_key=OFFICIAL["aes_key"])
    q = OFFICIAL["query"]
    raw = (f"/wecom/{app_id}/callback?msg_signature={q['msg_signature']}&timestamp={q['timestamp']}"
           f"&nonce={q['nonce']}&echostr={q['echostr']}")
    r = await client.get(URL(raw, encoded=True))
    assert (r.status, await r.text()) == (200, OFFICIAL["echo"])
