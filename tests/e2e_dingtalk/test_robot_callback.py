"""POST /dingtalk/{app_id}/callback: signed robot messages through the real route into a real worker, and every
kind of refusal answered, logged and counted without effect."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.platforms.base import InboundKind
from bot.platforms.dingtalk.sign import compute_sign
from bot.runtime.worker import drain
from storage import redis_keys
from tests.e2e_dingtalk.conftest import redis_down
from tests.parity.drivers import DingTalkDriver
from tests.sim.dingtalk import robot_message
from tests.support.outages import database_unreachable

HOUR_MS = 3_600_000


def _url(dt: DingTalkDriver, app: Any) -> str:
    return dt._url(f"/dingtalk/{app}/callback")


async def nothing_queued(services) -> bool:
    return (await services.redis.keys(redis_keys.DEDUP + "*")) == [] and await services.queue.depth() == 0


async def test_a_text_delivered_twice_is_processed_once(dt, team, services, recorder, counted) -> None:
    payload = robot_message("msg-0001", "rep1", text=" 明天去拜访客户 ", robot_code=dt.APP_KEY)
    first = await dt.sender.robot_message(_url(dt, team.app_id), dt.APP_SECRET, payload)
    again = await dt.sender.redeliver(first)
    assert (first.status, again.status) == (200, 200)

    await drain(services)
    (message,) = recorder.of(InboundKind.TEXT)
    assert (message.text, message.sender, message.msg_id) == ("明天去拜访客户", "rep1", "msg-0001")
    assert message.reply_url == payload["sessionWebhook"]
    assert counted() == Counter({"queued": 1, "duplicate": 1})


async def test_a_voice_message_arrives_with_its_download_code_duration_and_recognition(dt, team, services,
                                                                                         recorder) -> None:
    payload = robot_message("msg-0002", "rep1", "audio", robot_code=dt.APP_KEY,
                            content={"downloadCode": "dl-abc", "duration": 4200, "recognition": "预算一百万"})
    assert (await dt.sender.robot_message(_url(dt, team.app_id), dt.APP_SECRET, payload)).status == 200
    await drain(services)
    (voice,) = recorder.of(InboundKind.VOICE)
    assert (voice.media_ref, voice.duration_s, voice.recognition) == ("dl-abc", 4.2, "预算一百万")


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(body), 16_384):
        yield body[i : i + 16_384]


def _signed_headers(secret: str, ts_ms: int) -> dict[str, str]:
    return {"timestamp": str(ts_ms), "sign": compute_sign(ts_ms, secret), "Content-Type": "application/json"}


GOOD = json.dumps(robot_message("msg-0003", "rep1", text="hi")).encode()
HUGE = json.dumps(robot_message("msg-0004", "rep1", text="长" * 100_000), ensure_ascii=False).encode()
NO_MSG_ID = json.dumps({k: v for k, v in robot_message("x", "rep1", text="hi").items() if k != "msgId"}).encode()

REFUSALS = [
    # (case, app, body, how it is signed, status, outcome)
    ("unknown app", "999", GOOD, {}, 404, "unknown_app"),
    ("app id not a number", "abc", GOOD, {}, 404, "unknown_app"),
    ("sign is not the HMAC", None, GOOD, {"sign": "bm90IHRoZSBzaWdu"}, 403, "bad_signature"),
    ("signed with another secret", None, GOOD, {"secret": "someone-elses-secret"}, 403, "bad_signature"),
    ("no timestamp and sign headers", None, GOOD, {"unsigned": True}, 403, "bad_signature"),
    ("timestamp not a number", None, GOOD, {"timestamp": "yesterday"}, 403, "bad_signature"),
    ("stale timestamp, correctly signed", None, GOOD, {"offset_ms": -2 * HOUR_MS}, 403, "stale_timestamp"),
    ("timestamp from the future", None, GOOD, {"offset_ms": 2 * HOUR_MS}, 403, "stale_timestamp"),
    ("oversized body", None, HUGE, {}, 413, "too_large"),
    ("oversized body, chunked", None, HUGE, {"chunked": True}, 413, "too_large"),
    ("not JSON", None, b'{"msgId": ', {}, 400, "malformed"),
    ("JSON but not an object", None, b"[1, 2]", {}, 400, "malformed"),
    ("no msgId", None, NO_MSG_ID, {}, 400, "malformed"),
]


@pytest.mark.parametrize(("case", "app", "body", "how", "status", "outcome"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
async def test_refused_without_effect(dt, team, client, services, recorder, counted, caplog, case, app, body, how,
                                      status, outcome) -> None:
    ts_ms = int(time.time() * 1000) + how.get("offset_ms", 0)
    headers = _signed_headers(how.get("secret", dt.APP_SECRET), ts_ms)
    if "sign" in how:
        headers["sign"] = how["sign"]
    if "timestamp" in how:
        headers["timestamp"] = how["timestamp"]
    if how.get("unsigned"):
        headers = {"Content-Type": "application/json"}
    data: Any = _chunks(body) if how.get("chunked") else body
    with caplog.at_level(logging.WARNING, logger="leadbot.dingtalk"):
        r = await client.post(f"/dingtalk/{app or team.app_id}/callback", data=data, headers=headers)

    assert r.status == status
    assert (await r.json())["error"] == outcome
    assert counted() == Counter({outcome: 1})
    (line,) = [rec.getMessage() for rec in caplog.records if rec.levelno == logging.WARNING]
    assert outcome in line and (outcome != "stale_timestamp" or "stale" in line)
    assert await nothing_queued(services)
    await drain(services)
    assert recorder.got == []


async def test_a_disabled_app_is_refused_until_enabled_again(dt, team, client, admin_headers, services,
                                                             recorder, counted) -> None:
    payload = robot_message("msg-0005", "rep1", text="hi")
    assert (await client.post(f"/admin/apps/{team.app_id}/disable", headers=admin_headers)).status == 200
    refused = await dt.sender.robot_message(_url(dt, team.app_id), dt.APP_SECRET, payload)
    assert (refused.status, json.loads(refused.answer)["error"]) == (403, "disabled_app")
    assert await nothing_queued(services)

    assert (await client.post(f"/admin/apps/{team.app_id}/enable", headers=admin_headers)).status == 200
    assert (await dt.sender.redeliver(refused)).status == 200
    await drain(services)
    assert len(recorder.of(InboundKind.TEXT)) == 1
    assert counted() == Counter({"disabled_app": 1, "queued": 1})


async def test_a_wecom_app_id_is_not_a_dingtalk_app(dt, team, client, admin_headers, services) -> None:
    wecom = {"corp_id": "wwcorp", "agent_id": 1000002, "secret": "wecom-secret-0001", "token": "tok",
             "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}
    r = await client.post("/admin/apps", headers=admin_headers, json={"tenant_id": team.tenant_id,
                          "platform": "wecom", "name": "wecom", "credentials": wecom})
    delivery = await dt.sender.robot_message(_url(dt, (await r.json())["id"]), dt.APP_SECRET,
                                             robot_message("msg-0006", "rep1", text="hi"))
    assert delivery.status == 404
    assert await nothing_queued(services)


async def test_redis_down_answers_503_and_the_retry_is_processed_once(dt, team, services, recorder,
                                                                      counted) -> None:
    payload = robot_message("msg-0007", "rep1", text="订单确认")
    async with redis_down(services):
        refused = await dt.sender.robot_message(_url(dt, team.app_id), dt.APP_SECRET, payload)
    assert (refused.status, json.loads(refused.answer)["error"]) == (503, "unavailable")

    assert (await dt.sender.redeliver(refused)).status == 200
    await drain(services)
    assert [m.text for m in recorder.of(InboundKind.TEXT)] == ["订单确认"]
    assert counted() == Counter({"unavailable": 1, "queued": 1})


async def test_database_down_answers_503_and_the_retry_is_processed_once(dt, team, services, recorder) -> None:
    services.apps.forget(team.app_id)  # the next request must read the app from the database
    async with database_unreachable():
        refused = await dt.sender.robot_message(_url(dt, team.app_id), dt.APP_SECRET,
                                                robot_message("msg-0008", "rep1", text="hi"))
    assert refused.status == 503
    assert await nothing_queued(services)

    assert (await dt.sender.redeliver(refused)).status == 200
    await drain(services)
    assert len(recorder.of(InboundKind.TEXT)) == 1
