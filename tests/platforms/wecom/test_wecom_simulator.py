"""The simulator and the callback sender are test equipment: these tests keep them honest.

The sender's crypto is cross-checked against wechatpy in both directions, so the sender and
`bot.platforms.wecom.crypto` cannot drift together into a private dialect.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import xmltodict
from aiohttp import web
from wechatpy.enterprise.crypto import WeChatCrypto

from bot.platforms.wecom.crypto import WeComCrypto
from bot.platforms.wecom.events import envelope_encrypt, parse_inbound
from tests.platforms.wecom.conftest import AES_KEY, AGENT_ID, CALLBACK_TOKEN, SECRET
from tests.sim.wecom import CallbackSender, WeComSimulator

XML = "<xml><Content><![CDATA[你好，预算八十万]]></Content></xml>"


def test_sender_encrypts_what_wechatpy_decrypts(sender: CallbackSender) -> None:
    params, body = sender.signed(XML.encode())
    theirs = WeChatCrypto(CALLBACK_TOKEN, AES_KEY, sender.corp_id)
    assert theirs.decrypt_message(body, params["msg_signature"], params["timestamp"], params["nonce"]) == XML


def test_sender_decrypts_what_wechatpy_encrypts(sender: CallbackSender) -> None:
    theirs = WeChatCrypto(CALLBACK_TOKEN, AES_KEY, sender.corp_id)
    reply = xmltodict.parse(theirs.encrypt_message(XML, "nonce7", "1700000000"))["xml"]
    assert sender.sign(reply["TimeStamp"], reply["Nonce"], reply["Encrypt"]) == reply["MsgSignature"]
    assert sender.decrypt(reply["Encrypt"]) == (XML.encode(), sender.corp_id)


def test_sender_and_the_bot_agree(sender: CallbackSender) -> None:
    ours = WeComCrypto(CALLBACK_TOKEN, AES_KEY, sender.corp_id)
    params, body = sender.signed(XML.encode())
    assert (
        ours.decrypt(params["msg_signature"], params["timestamp"], params["nonce"], envelope_encrypt(body))
        == XML.encode()
    )
    query, echo = sender.verification()
    assert ours.verify_url(**query) == echo


def test_sender_can_forge_another_receive_id(sender: CallbackSender) -> None:
    _, body = sender.signed(b"<xml/>", receive_id="wwother")
    assert sender.decrypt(envelope_encrypt(body))[1] == "wwother"


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[bytes], list[int | float]]]:
    """A callback endpoint answering a scripted list: an int is a status, a float a delay before 200."""
    bodies: list[bytes] = []
    script: list[int | float] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        bodies.append(await request.read())
        step = script.pop(0) if script else 200
        if isinstance(step, float):
            await asyncio.sleep(step)
            return web.Response()
        return web.Response(status=step)

    app = web.Application()
    app.router.add_post("/cb", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/cb", bodies, script
    await runner.cleanup()


@pytest.mark.parametrize(
    "script, statuses",
    [
        ([], [200]),
        ([500], [500, 200]),
        ([503, 403, 200], [503, 403, 200]),
        ([500, 500, 500, 200], [500, 500, 500]),  # three deliveries in all, then WeCom gives up
        ([1.5, 200], [None, 200]),  # an answer slower than the deadline counts as none
        ([1.5, 1.5, 1.5], [None, None, None]),
    ],
)
async def test_delivery_retries_three_times_in_all(
    session: aiohttp.ClientSession, sim: WeComSimulator, receiver: tuple, script: list, statuses: list
) -> None:
    url, bodies, pending = receiver
    pending.extend(script)
    # WeCom's own 5 s deadline where no answer is meant to miss it; a shortened one (still well under the 1.5 s of a
    # slow answer) where one is: with 0.3 s for every case, a first answer on a loaded CI machine missed it.
    timeout_s = 0.5 if any(isinstance(step, float) for step in script) else 5.0
    sender = CallbackSender(
        session, token=CALLBACK_TOKEN, encoding_aes_key=AES_KEY, corp_id=sim.corp_id, agent_id=AGENT_ID,
        timeout_s=timeout_s,
    )
    delivery = await sender.deliver(url, sender.text("alice", "hi"))
    assert delivery.statuses == statuses
    assert delivery.ok == (statuses[-1] == 200)
    assert len(bodies) == len(statuses)


async def test_lost_acknowledgements_mean_three_deliveries(sender: CallbackSender, receiver: tuple) -> None:
    url, bodies, _ = receiver
    delivery = await sender.deliver(url, sender.text("alice", "hi"), until_ok=False)
    assert delivery.statuses == [200, 200, 200] and len(bodies) == 3


async def test_retries_differ_on_the_wire_but_not_inside(
    sender: CallbackSender, sim: WeComSimulator, receiver: tuple
) -> None:
    url, bodies, pending = receiver
    pending.extend([500, 500])
    await sender.deliver(url, sender.text("alice", "hi"))
    assert len(set(bodies)) == 3  # fresh ciphertext each time: dedup must look inside
    crypto = WeComCrypto(CALLBACK_TOKEN, AES_KEY, sim.corp_id)
    keys = {parse_inbound(crypto.decrypt_unsigned(envelope_encrypt(b))).dedup_key for b in bodies}
    assert len(keys) == 1


async def _raw_send(session: aiohttp.ClientSession, sim: WeComSimulator, body: dict) -> dict:
    async with session.get(f"{sim.url}/cgi-bin/gettoken", params={"corpid": sim.corp_id, "corpsecret": SECRET}) as r:
        token = (await r.json())["access_token"]
    async with session.post(f"{sim.url}/cgi-bin/message/send", params={"access_token": token}, json=body) as r:
        return await r.json()


async def test_simulator_drops_the_31st_message_silently(session: aiohttp.ClientSession, sim: WeComSimulator) -> None:
    answers = [
        await _raw_send(
            session, sim, {"touser": "alice", "agentid": AGENT_ID, "msgtype": "text", "text": {"content": str(i)}}
        )
        for i in range(31)
    ]
    assert all(a["errcode"] == 0 for a in answers)  # WeCom says ok to every one...
    assert len(sim.inbox("alice")) == 30  # ...and shows only 30


async def test_simulator_refuses_a_reused_task_id(session: aiohttp.ClientSession, sim: WeComSimulator) -> None:
    card = {"card_type": "button_interaction", "task_id": "t-1", "main_title": {"title": "x"},
            "button_list": [{"text": "ok", "key": "k"}]}  # fmt: skip
    body = {"touser": "alice", "agentid": AGENT_ID, "msgtype": "template_card", "template_card": card}
    first, second = await _raw_send(session, sim, body), await _raw_send(session, sim, body)
    assert first["errcode"] == 0 and first["response_code"]
    assert second["errcode"] == 42014


async def test_simulator_checks_the_agent(session: aiohttp.ClientSession, sim: WeComSimulator) -> None:
    body = {"touser": "alice", "agentid": 999, "msgtype": "text", "text": {"content": "x"}}
    assert (await _raw_send(session, sim, body))["errcode"] == 301002


async def test_click_needs_a_card_that_was_sent(sender: CallbackSender) -> None:
    with pytest.raises(LookupError):
        sender.click("alice", "never-sent", "k")


async def test_url_verification_over_http(sender: CallbackSender, sim: WeComSimulator) -> None:
    # Through a real query string: base64 '+', '/' and '=' must survive encoding by the sender and decoding by aiohttp.
    crypto = WeComCrypto(CALLBACK_TOKEN, AES_KEY, sim.corp_id)

    async def verify(request: web.Request) -> web.Response:
        q = request.query
        return web.Response(text=crypto.verify_url(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"]))

    app = web.Application()
    app.router.add_get("/cb", verify)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        for _ in range(20):  # random ciphertexts: most contain a '+' somewhere
            status, text, echo = await sender.verify(f"http://127.0.0.1:{runner.addresses[0][1]}/cb")
            assert (status, text) == (200, echo)
    finally:
        await runner.cleanup()


async def _token(session: aiohttp.ClientSession, sim: WeComSimulator) -> str:
    async with session.get(f"{sim.url}/cgi-bin/gettoken", params={"corpid": sim.corp_id, "corpsecret": SECRET}) as r:
        return (await r.json())["access_token"]


TEXT = {"touser": "alice", "agentid": AGENT_ID, "msgtype": "text", "text": {"content": "你好"}}


@pytest.mark.parametrize(
    ("call", "errcode"),
    [
        (lambda url, t: ("GET", "message/send", {"access_token": t}, {}), 43002),
        (lambda url, t: ("POST", "gettoken", {}, {"json": {}}), 43001),
        (lambda url, t: ("POST", "message/send", {}, {"json": TEXT | {"access_token": t}}), 41001),  # token in body
        (lambda url, t: ("POST", "message/send", {}, {"json": TEXT, "headers": {"access_token": t}}), 41001),
        (lambda url, t: ("POST", "message/send", {"access_token": t}, {"data": {"touser": "alice"}}), 47001),  # form
        (lambda url, t: ("POST", "message/send", {"access_token": t}, {"data": b"[1, 2]",
                                                                       "headers": {"Content-Type": "application/json"}}),
         47001),
        (lambda url, t: ("POST", "message/send", {"access_token": t}, {"json": TEXT | {"touser": ""}}), 82001),
        (lambda url, t: ("POST", "message/send", {"access_token": t},
                         {"json": TEXT | {"text": {"content": "长" * 683}}}), 45002),  # 2049 bytes
        (lambda url, t: ("POST", "message/send", {"access_token": t}, {"json": TEXT | {"pad": "x" * 600_000}}),
         44005),
        (lambda url, t: ("POST", "message/update_template_card", {"access_token": t},
                         {"json": {"agentid": AGENT_ID, "button": {"replace_name": "x"}}}), 40035),
        (lambda url, t: ("GET", "gettoken", {"corpsecret": SECRET}, {}), 41002),
    ],
    ids=["send-by-get", "token-by-post", "token-in-body", "token-in-header", "form-body", "json-not-object",
         "no-recipient", "text-too-long", "body-too-large", "no-response-code", "no-corpid"],
)
async def test_simulator_refuses_what_wecom_refuses_on_the_wire(session: aiohttp.ClientSession,
                                                               sim: WeComSimulator, call, errcode: int) -> None:
    method, api, params, kwargs = call(sim.url, await _token(session, sim))
    async with session.request(method, f"{sim.url}/cgi-bin/{api}", params=params, **kwargs) as r:
        assert (await r.json())["errcode"] == errcode
    assert sim.deliveries == []


async def test_simulator_takes_json_without_a_content_type_as_wechatpy_sends_it(
        session: aiohttp.ClientSession, sim: WeComSimulator) -> None:
    import json

    token = await _token(session, sim)
    async with session.post(f"{sim.url}/cgi-bin/message/send", params={"access_token": token},
                            data=json.dumps(TEXT).encode(), skip_auto_headers={"Content-Type"}) as r:
        assert (await r.json())["errcode"] == 0
    assert len(sim.inbox("alice")) == 1
