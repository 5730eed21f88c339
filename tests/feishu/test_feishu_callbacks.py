"""POST /feishu/{app_id}/events and /card: the URL challenge, events and card actions queued once however often
Feishu pushes them, and every refusal (bad signature, stale timestamp, wrong token, unknown app, oversized or
malformed body, undecryptable) answered with its own status and no effect."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY

from bot.platforms.base import InboundKind
from bot.runtime.worker import drain
from cards import feishu as feishu_cards
from storage import redis_keys
from tests.e2e_dingtalk.conftest import Recorder, redis_down
from tests.feishu.conftest import APP_ID, APP_SECRET, ENCRYPT_KEY, VERIFICATION_TOKEN
from tests.parity.support import create_tenant
from tests.sim.feishu import PushSender, SimUser, card_action_event, message_event, url_verification

REP = SimUser("ou_rep1", "rep1", "on_rep1", "张三")


def _counts() -> Counter[str]:
    counts: Counter[str] = Counter()
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == "leadbot_callbacks_total" and sample.labels.get("platform") == "feishu":
                counts[sample.labels["outcome"]] = int(sample.value)
    return counts


@pytest.fixture
def counted() -> Callable[[], Counter[str]]:
    before = _counts()
    return lambda: _counts() - before


async def _register(client, admin_headers, **creds) -> int:
    tenant = await create_tenant(client, admin_headers)
    body = {"tenant_id": tenant, "name": "飞书销售", "platform": "feishu", "api_base": "http://127.0.0.1:1",
            "credentials": {"app_id": APP_ID, "app_secret": APP_SECRET, "verification_token": VERIFICATION_TOKEN,
                            "encrypt_key": ENCRYPT_KEY, **creds}}
    r = await client.post("/admin/apps", json=body, headers=admin_headers)
    assert r.status == 201, await r.text()
    out = await r.json()
    assert out["callback_urls"] == {"events": f"https://leadbot.test/feishu/{out['id']}/events",
                                    "card": f"https://leadbot.test/feishu/{out['id']}/card"}
    return out["id"]


@pytest.fixture
async def app_id(client, admin_headers) -> int:
    return await _register(client, admin_headers)


@pytest.fixture
def sender(client) -> PushSender:
    return PushSender(client.session)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    from bot.jobs import inbound as inbound_jobs

    rec = Recorder()
    for kind in (InboundKind.TEXT, InboundKind.VOICE, InboundKind.CARD_CLICK, InboundKind.EVENT):
        monkeypatch.setitem(inbound_jobs.HANDLERS, kind, rec)
    return rec


def _url(client, app_id: int, route: str = "events") -> str:
    return str(client.make_url(f"/feishu/{app_id}/{route}"))


def _now(services) -> int:
    return int(services.clock.time())


async def nothing_queued(services) -> bool:
    return (await services.redis.keys(redis_keys.DEDUP + "*")) == [] and await services.queue.depth() == 0


async def test_the_url_challenge_is_answered_and_nothing_queued(client, services, app_id, sender, counted) -> None:
    push = await sender.send(_url(client, app_id), url_verification(VERIFICATION_TOKEN, "chal-123"),
                             encrypt_key=ENCRYPT_KEY, signed=False)
    assert push.status == 200 and json.loads(push.answer) == {"challenge": "chal-123"}
    assert await nothing_queued(services)
    assert counted() == Counter({"url_verification": 1})


async def test_the_url_challenge_with_another_token_is_refused(client, services, app_id, sender) -> None:
    push = await sender.send(_url(client, app_id), url_verification("not-ours"), encrypt_key=ENCRYPT_KEY)
    assert push.status == 403 and b"challenge" not in push.answer


async def test_a_message_pushed_again_is_answered_each_time_and_processed_once(client, services, app_id, sender,
                                                                               recorder, counted) -> None:
    payload = message_event(REP, "text", {"text": "明天拜访"}, token=VERIFICATION_TOKEN, app_id=APP_ID,
                            event_id="ev-text-1")
    first = await sender.send(_url(client, app_id), payload, encrypt_key=ENCRYPT_KEY, timestamp=_now(services))
    again = await sender.send(_url(client, app_id), payload, encrypt_key=ENCRYPT_KEY, timestamp=_now(services))
    assert (first.status, again.status) == (200, 200) and json.loads(first.answer) == {}
    await drain(services)
    (got,) = recorder.of(InboundKind.TEXT)
    assert (got.text, got.sender, got.platform) == ("明天拜访", "ou_rep1", "feishu")
    assert counted() == Counter({"queued": 1, "duplicate": 1})


async def test_a_card_action_on_the_card_route_is_queued_as_a_click(client, services, app_id, sender,
                                                                    recorder) -> None:
    value = {feishu_cards.VALUE_CARD: "lble7-c1", feishu_cards.VALUE_KEY: "lb1:adv:7:1:contacted"}
    payload = card_action_event(REP, value, message_id="om_1", card_token="c-t", token=VERIFICATION_TOKEN,
                                app_id=APP_ID)
    push = await sender.send(_url(client, app_id, "card"), payload, encrypt_key=ENCRYPT_KEY,
                             timestamp=_now(services))
    assert push.status == 200
    await drain(services)
    (got,) = recorder.of(InboundKind.CARD_CLICK)
    assert got.card is not None and (got.card.card_id, got.card.key) == ("lble7-c1", "lb1:adv:7:1:contacted")


async def test_an_app_without_an_encrypt_key_takes_plain_pushes_on_its_token(client, services, admin_headers,
                                                                            sender, recorder) -> None:
    app_id = await _register(client, admin_headers, encrypt_key=None)
    url = _url(client, app_id)
    good = message_event(REP, "text", {"text": "hi"}, token=VERIFICATION_TOKEN, app_id=APP_ID)
    forged = message_event(REP, "text", {"text": "hi"}, token="guess", app_id=APP_ID)
    assert (await sender.send(url, good, encrypt_key=None)).status == 200
    assert (await sender.send(url, forged, encrypt_key=None)).status == 403
    await drain(services)
    assert len(recorder.of(InboundKind.TEXT)) == 1


def _text(event_id: str = "ev-x") -> dict:
    return message_event(REP, "text", {"text": "x"}, token=VERIFICATION_TOKEN, app_id=APP_ID, event_id=event_id)


@pytest.mark.parametrize(("case", "status", "outcome"), [
    ("signed with another key", 403, "bad_signature"),
    ("tampered after signing", 403, "bad_signature"),
    ("unsigned", 403, "bad_signature"),
    ("signed two hours ago", 403, "stale_timestamp"),
    ("another verification token", 403, "bad_signature"),
    ("not encrypted", 403, "not_encrypted"),
    ("sealed with another key", 400, "undecryptable"),
    ("not JSON", 400, "malformed"),
    ("not an event", 400, "malformed"),
    ("oversized", 413, "too_large"),
])
async def test_refusals_have_no_effect(client, services, app_id, sender, counted, case, status, outcome) -> None:
    url, now = _url(client, app_id), _now(services)
    push = sender.build(url, _text(), encrypt_key=ENCRYPT_KEY, timestamp=now)
    if case == "signed with another key":
        other = sender.build(url, _text(), encrypt_key="another-key", timestamp=now)
        push.headers = {**push.headers, "X-Lark-Signature": other.headers["X-Lark-Signature"]}
    elif case == "tampered after signing":
        push.body = push.body.replace(b'"}', b'A"}')
    elif case == "unsigned":
        push = sender.build(url, _text(), encrypt_key=ENCRYPT_KEY, signed=False)
    elif case == "signed two hours ago":
        push = sender.build(url, _text(), encrypt_key=ENCRYPT_KEY, timestamp=now - 7200)
    elif case == "another verification token":
        payload = message_event(REP, "text", {"text": "x"}, token="other", app_id=APP_ID)
        push = sender.build(url, payload, encrypt_key=ENCRYPT_KEY, timestamp=now)
    elif case == "not encrypted":
        push = sender.build(url, _text(), encrypt_key=None)
    elif case == "sealed with another key":
        other = sender.build(url, _text(), encrypt_key="another-key", timestamp=now)
        push = sender.build(url, _text(), encrypt_key=ENCRYPT_KEY, timestamp=now)
        push.body = other.body
        push.headers = {**push.headers, **_resigned(push.headers, other.body)}
    elif case in ("not JSON", "not an event"):
        plain = "{not json" if case == "not JSON" else json.dumps({"schema": "2.0", "header": {}})
        from bot.platforms.feishu.crypto import encrypt

        body = json.dumps({"encrypt": encrypt(ENCRYPT_KEY, plain)}).encode()
        push.body, push.headers = body, {**push.headers, **_resigned(push.headers, body)}
        if case == "not an event":  # a token, so it is the event's shape that is refused
            plain = json.dumps({"schema": "2.0", "header": {"token": VERIFICATION_TOKEN, "event_type": "x"}})
            body = json.dumps({"encrypt": encrypt(ENCRYPT_KEY, plain)}).encode()
            push.body, push.headers = body, {**push.headers, **_resigned(push.headers, body)}
    elif case == "oversized":
        body = json.dumps({"encrypt": "A" * (300 * 1024)}).encode()
        push.body, push.headers = body, {**push.headers, **_resigned(push.headers, body)}
    await sender.post(push)
    assert push.status == status, push.answer
    assert json.loads(push.answer)["error"] == outcome
    assert await nothing_queued(services)
    assert counted() == Counter({outcome: 1})


def _resigned(headers: dict[str, str], body: bytes) -> dict[str, str]:
    from bot.platforms.feishu.crypto import signature

    ts, nonce = headers["X-Lark-Request-Timestamp"], headers["X-Lark-Request-Nonce"]
    return {"X-Lark-Signature": signature(ts, nonce, ENCRYPT_KEY, body)}


@pytest.mark.parametrize("path", ["/feishu/999/events", "/feishu/abc/events", "/feishu/1x/card"])
async def test_an_unknown_app_is_404(client, services, sender, path, counted) -> None:
    push = await sender.send(str(client.make_url(path)), _text(), encrypt_key=ENCRYPT_KEY, timestamp=_now(services))
    assert push.status == 404
    assert await nothing_queued(services)
    assert counted() == Counter({"unknown_app": 1})


async def test_a_disabled_app_is_403(client, services, app_id, sender, admin_headers) -> None:
    r = await client.post(f"/admin/apps/{app_id}/disable", headers=admin_headers)
    assert r.status == 200, await r.text()
    push = await sender.send(_url(client, app_id), _text(), encrypt_key=ENCRYPT_KEY, timestamp=_now(services))
    assert push.status == 403 and await nothing_queued(services)


async def test_redis_down_is_503_and_feishu_pushes_again(client, services, app_id, sender, recorder) -> None:
    payload = _text("ev-retry")
    async with redis_down(services):
        push = await sender.send(_url(client, app_id), payload, encrypt_key=ENCRYPT_KEY, timestamp=_now(services))
    assert push.status == 503
    again = await sender.send(_url(client, app_id), payload, encrypt_key=ENCRYPT_KEY, timestamp=_now(services))
    assert again.status == 200
    await drain(services)
    assert len(recorder.of(InboundKind.TEXT)) == 1
