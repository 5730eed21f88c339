from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace

import aiohttp
import pytest

from bot.alerting.notify.base import Alert, DeliveryOutcome, Recipient
from bot.alerting.notify.sms_aliyun import EMPTY_SHA256, AliyunSms, aliyun_phone, build_send_sms, read_reply
from tests.notify.conftest import ALIYUN_KEY_ID, ALIYUN_SECRET


def channel(base: str, **kwargs) -> AliyunSms:
    options = dict(
        access_key_id=ALIYUN_KEY_ID,
        access_key_secret=ALIYUN_SECRET,
        sign_name="领客科技",
        template_code="SMS_465932001",
        api_base=base,
        timeout_s=2,
        allow_private=True,  # the simulator listens on 127.0.0.1
    )
    return AliyunSms(**(options | kwargs))


async def send(ch: AliyunSms, alert: Alert, recipient: Recipient):
    async with ch:
        return await ch.send(alert, recipient)


async def test_accepted_message_carries_template_params_and_alert_id(aliyun_sim, alert, recipient) -> None:
    sim, server = aliyun_sim
    result = await send(channel(str(server.make_url("/"))), alert, recipient)
    assert result.ok and result.code == "OK" and result.detail.startswith("BizId=")
    [sms] = sim.accepted
    assert sms.phone_numbers == "13800138000"  # mainland numbers go without +86
    assert (sms.sign_name, sms.template_code, sms.out_id) == ("领客科技", "SMS_465932001", "alert-42")
    assert sms.params == {"lead": "华东电力 数据中心项目", "rep": "张三", "minutes": "30"}


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"access_key_secret": "wrong-secret"}, 400, "SignatureDoesNotMatch"),
        ({"access_key_id": "LTAI5tUnknownKey"}, 404, "InvalidAccessKeyId.NotFound"),
        ({"clock": lambda: time.time() - 20 * 60}, 400, "InvalidTimeStamp.Expired"),
        ({"clock": lambda: time.time() + 20 * 60}, 400, "InvalidTimeStamp.Expired"),
    ],
)
async def test_gateway_refusals_keep_aliyun_codes(aliyun_sim, alert, recipient, change, status, code) -> None:
    sim, server = aliyun_sim
    result = await send(channel(str(server.make_url("/")), **change), alert, recipient)
    assert (result.outcome, result.code, result.http_status) == (DeliveryOutcome.FAILED, code, status)
    assert result.request_id
    assert sim.accepted == []


async def test_business_limit_is_a_failed_result_with_the_message(aliyun_sim, alert, recipient) -> None:
    sim, server = aliyun_sim
    sim.fail_next("isv.BUSINESS_LIMIT_CONTROL", "触发天级流控Permits:10")
    result = await send(channel(str(server.make_url("/"))), alert, recipient)
    assert (result.outcome, result.code, result.http_status) == (DeliveryOutcome.FAILED, "isv.BUSINESS_LIMIT_CONTROL", 200)
    assert result.detail == "触发天级流控Permits:10"


async def test_tampered_query_and_replayed_nonce_are_refused(aliyun_sim) -> None:
    sim, server = aliyun_sim
    params = {"PhoneNumbers": "13800138000", "SignName": "领客", "TemplateCode": "SMS_1", "TemplateParam": "{}"}
    signed = build_send_sms(
        api_base=str(server.make_url("/")),
        key_id=ALIYUN_KEY_ID,
        secret=ALIYUN_SECRET,
        params=params,
        now=datetime.now(UTC),
        nonce="nonce-1",
    )
    tampered = signed.url.update_query(PhoneNumbers="13900139000")
    async with aiohttp.ClientSession() as http:
        async with http.post(tampered, headers=signed.headers) as resp:
            assert (resp.status, (await resp.json())["Code"]) == (400, "SignatureDoesNotMatch")
        async with http.post(signed.url, headers=signed.headers) as resp:
            assert (await resp.json())["Code"] == "OK"
        async with http.post(signed.url, headers=signed.headers) as resp:
            assert (await resp.json())["Code"] == "SignatureNonceUsed"
    assert [s.phone_numbers for s in sim.accepted] == ["13800138000"]


async def test_invalid_phone_is_not_sent(aliyun_sim, alert, recipient) -> None:
    sim, server = aliyun_sim
    result = await send(channel(str(server.make_url("/"))), alert, replace(recipient, phone="12345"))
    assert (result.outcome, result.code) == (DeliveryOutcome.FAILED, "invalid_phone")
    assert sim.accepted == []


async def test_long_template_values_are_clipped_to_aliyun_limit(aliyun_sim, alert, recipient) -> None:
    sim, server = aliyun_sim
    long_alert = replace(alert, sms_params={"lead": "很长的线索名称" * 10})
    assert (await send(channel(str(server.make_url("/"))), long_alert, recipient)).ok
    assert len(sim.accepted[0].params["lead"]) == AliyunSms.param_maxlen


@pytest.mark.parametrize(
    ("e164", "form"),
    [("+8613800138000", "13800138000"), ("+85291234567", "85291234567"), ("+16502530000", "16502530000")],
)
def test_aliyun_phone_form(e164: str, form: str) -> None:
    assert aliyun_phone(e164) == form


@pytest.mark.parametrize(
    ("status", "body", "outcome", "code"),
    [
        (200, b'{"Code":"OK","Message":"OK","BizId":"1^0","RequestId":"R"}', DeliveryOutcome.OK, "OK"),
        (
            200,
            b'{"Code":"isv.MOBILE_NUMBER_ILLEGAL","Message":"x","RequestId":"R"}',
            DeliveryOutcome.FAILED,
            "isv.MOBILE_NUMBER_ILLEGAL",
        ),
        (
            400,
            b'{"Code":"SignatureDoesNotMatch","Message":"x","RequestId":"R"}',
            DeliveryOutcome.FAILED,
            "SignatureDoesNotMatch",
        ),
        (503, b'{"Code":"ServiceUnavailable","Message":"busy","RequestId":"R"}', DeliveryOutcome.FAILED, "ServiceUnavailable"),
        (500, b"<html>Internal Server Error</html>", DeliveryOutcome.FAILED, "HTTP 500"),
        (200, b"<?xml version='1.0'?><SendSmsResponse/>", DeliveryOutcome.FAILED, "HTTP 200"),  # XML when Format is lost
    ],
)
def test_read_reply(status: int, body: bytes, outcome: DeliveryOutcome, code: str) -> None:
    reply = read_reply(status, body)
    assert (reply.outcome, reply.code) == (outcome, code)


sdk = pytest.importorskip("alibabacloud_tea_openapi.utils", reason="official SDK not installed")


@pytest.mark.parametrize(
    "params",
    [
        {
            "PhoneNumbers": "13800138000",
            "SignName": "阿里云短信测试",
            "TemplateCode": "SMS_154950909",
            "TemplateParam": '{"code":"1234"}',
        },
        {
            "PhoneNumbers": "13800138000,13900139000",
            "SignName": "领客",
            "TemplateCode": "SMS_1",
            "TemplateParam": '{"name":"张 三 ~*/+&=?","url":"https://x.cn/a?b=c"}',
            "OutId": "alert:42",
        },
    ],
)
@pytest.mark.parametrize("api_base", ["https://dysmsapi.aliyuncs.com", "http://127.0.0.1:8123/"])
def test_signature_matches_the_official_sdk(params: dict[str, str], api_base: str) -> None:
    signed = build_send_sms(
        api_base=api_base,
        key_id="LTAI5tKnownKey",
        secret="known-secret",
        params=params,
        now=datetime(2026, 6, 3, 1, 2, 3, tzinfo=UTC),
        nonce="3f2a9c",
    )
    headers = {k: v for k, v in signed.headers.items() if k != "Authorization"}
    request = SimpleNamespace(pathname="/", query=dict(params), headers=headers, method="POST")
    expected = sdk.Utils.get_authorization(request, "ACS3-HMAC-SHA256", EMPTY_SHA256, "LTAI5tKnownKey", "known-secret")
    assert signed.headers["Authorization"] == expected
