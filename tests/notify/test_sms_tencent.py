from __future__ import annotations

import json
import time
from dataclasses import replace

import aiohttp
import pytest

from bot.alerting.notify.base import Alert, DeliveryOutcome, Recipient
from bot.alerting.notify.sms_tencent import TencentSms, build_send_sms, read_reply
from tests.notify.conftest import TENCENT_ID, TENCENT_KEY


def channel(base: str, **kwargs) -> TencentSms:
    options = dict(
        secret_id=TENCENT_ID,
        secret_key=TENCENT_KEY,
        sdk_app_id="1400787878",
        sign_name="领客科技",
        template_id="1958210",
        api_base=base,
        timeout_s=2,
        allow_private=True,  # the simulator listens on 127.0.0.1
    )
    return TencentSms(**(options | kwargs))


async def send(ch: TencentSms, alert: Alert, recipient: Recipient):
    async with ch:
        return await ch.send(alert, recipient)


async def test_accepted_message_has_positional_params_in_order(tencent_sim, alert, recipient) -> None:
    sim, server = tencent_sim
    result = await send(channel(str(server.make_url("/"))), alert, recipient)
    assert result.ok and result.code == "Ok" and result.detail.startswith("SerialNo=")
    [sms] = sim.accepted
    assert sms.phone_number == "+8613800138000"
    assert sms.params == ["华东电力 数据中心项目", "张三", "30"]
    assert (sms.sdk_app_id, sms.sign_name, sms.template_id, sms.session_context) == (
        "1400787878",
        "领客科技",
        "1958210",
        "alert-42",
    )


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"secret_key": "wrong-key"}, "AuthFailure.SignatureFailure"),
        ({"secret_id": "AKIDunknown"}, "AuthFailure.SecretIdNotFound"),
        ({"clock": lambda: time.time() - 600}, "AuthFailure.SignatureExpire"),
        ({"clock": lambda: time.time() + 600}, "AuthFailure.SignatureExpire"),
    ],
)
async def test_auth_refusals_come_at_http_200_and_keep_tencent_codes(
    tencent_sim, alert, recipient, change, code
) -> None:
    sim, server = tencent_sim
    result = await send(channel(str(server.make_url("/")), **change), alert, recipient)
    assert (result.outcome, result.code, result.http_status) == (DeliveryOutcome.FAILED, code, 200)
    assert result.request_id
    assert sim.accepted == []


async def test_per_number_business_code_is_a_failed_result(tencent_sim, alert, recipient) -> None:
    sim, server = tencent_sim
    sim.fail_next("FailedOperation.InsufficientBalanceInSmsPackage", "套餐包余量不足")
    result = await send(channel(str(server.make_url("/"))), alert, recipient)
    assert (result.outcome, result.code, result.detail) == (
        DeliveryOutcome.FAILED,
        "FailedOperation.InsufficientBalanceInSmsPackage",
        "套餐包余量不足",
    )


async def test_tampered_body_is_refused(tencent_sim) -> None:
    sim, server = tencent_sim
    payload = {
        "PhoneNumberSet": ["+8613800138000"],
        "SmsSdkAppId": "1400787878",
        "TemplateId": "1",
        "TemplateParamSet": ["a"],
        "SignName": "领客",
    }
    signed = build_send_sms(
        api_base=str(server.make_url("/")),
        secret_id=TENCENT_ID,
        secret_key=TENCENT_KEY,
        region="ap-guangzhou",
        payload=payload,
        timestamp=int(time.time()),
    )
    tampered = json.dumps(payload | {"PhoneNumberSet": ["+8613900139000"]}).encode()
    async with aiohttp.ClientSession() as http:
        async with http.post(signed.url, data=tampered, headers=signed.headers) as resp:
            assert (await resp.json())["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"
        async with http.post(signed.url, data=signed.body, headers=signed.headers) as resp:
            assert (await resp.json())["Response"]["SendStatusSet"][0]["Code"] == "Ok"
    assert [s.phone_number for s in sim.accepted] == ["+8613800138000"]


async def test_signing_the_default_host_fails_against_another_host(tencent_sim) -> None:
    """Why the signer must use the Host actually sent: a request signed for sms.tencentcloudapi.com is refused."""
    sim, server = tencent_sim
    payload = {"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400787878", "TemplateId": "1"}
    signed = build_send_sms(
        api_base="https://sms.tencentcloudapi.com",
        secret_id=TENCENT_ID,
        secret_key=TENCENT_KEY,
        region="ap-guangzhou",
        payload=payload,
        timestamp=int(time.time()),
    )
    headers = {k: v for k, v in signed.headers.items() if k != "Host"}
    async with aiohttp.ClientSession() as http:
        async with http.post(server.make_url("/"), data=signed.body, headers=headers) as resp:
            assert (await resp.json())["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert sim.accepted == []


async def test_invalid_phone_is_not_sent(tencent_sim, alert, recipient) -> None:
    sim, server = tencent_sim
    result = await send(channel(str(server.make_url("/"))), alert, replace(recipient, phone="not a number"))
    assert (result.outcome, result.code) == (DeliveryOutcome.FAILED, "invalid_phone")
    assert sim.accepted == []


OK_BODY = {
    "Response": {
        "SendStatusSet": [
            {"SerialNo": "S1", "PhoneNumber": "+8613800138000", "Fee": 1, "Code": "Ok", "Message": "send success"}
        ],
        "RequestId": "R1",
    }
}


@pytest.mark.parametrize(
    ("status", "body", "outcome", "code"),
    [
        (200, OK_BODY, DeliveryOutcome.OK, "Ok"),
        (
            200,
            {"Response": {"Error": {"Code": "AuthFailure.SignatureFailure", "Message": "x"}, "RequestId": "R"}},
            DeliveryOutcome.FAILED,
            "AuthFailure.SignatureFailure",
        ),
        (
            200,
            {
                "Response": {
                    "SendStatusSet": [
                        {
                            "PhoneNumber": "+8613800138000",
                            "Code": "LimitExceeded.PhoneNumberThirtySecondLimit",
                            "Message": "x",
                        }
                    ],
                    "RequestId": "R",
                }
            },
            DeliveryOutcome.FAILED,
            "LimitExceeded.PhoneNumberThirtySecondLimit",
        ),
        (200, {"Response": {"SendStatusSet": [], "RequestId": "R"}}, DeliveryOutcome.FAILED, "no_status"),
        (502, "<html>502 Bad Gateway</html>", DeliveryOutcome.FAILED, "HTTP 502"),
    ],
)
def test_read_reply(status: int, body: object, outcome: DeliveryOutcome, code: str) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    reply = read_reply(status, raw, ["+8613800138000"])
    assert (reply.outcome, reply.code) == (outcome, code)
    if outcome is DeliveryOutcome.OK:
        assert reply.request_id == "R1"


common_client = pytest.importorskip("tencentcloud.common.common_client", reason="official SDK not installed")


@pytest.mark.parametrize("api_base", ["https://sms.tencentcloudapi.com", "http://127.0.0.1:8443"])
@pytest.mark.parametrize("timestamp", [1780000000, 1780012799])  # the second is 23:59:59 UTC: date scope edge
def test_signature_matches_the_official_sdk(api_base: str, timestamp: int) -> None:
    from tencentcloud.common.credential import Credential
    from tencentcloud.common.http.request import RequestInternal

    payload = {
        "PhoneNumberSet": ["+8613800138000"],
        "SmsSdkAppId": "1400787878",
        "SignName": "领客科技",
        "TemplateId": "1958210",
        "TemplateParamSet": ["华东电力", "30"],
        "SessionContext": "alert-42",
    }
    signed = build_send_sms(
        api_base=api_base,
        secret_id="AKIDknown",
        secret_key="known-key",
        region="ap-guangzhou",
        payload=payload,
        timestamp=timestamp,
    )
    client = common_client.CommonClient("sms", "2021-01-11", Credential("AKIDknown", "known-key"), "ap-guangzhou")
    request = RequestInternal(signed.headers["Host"], "POST", "/")
    request.header.update(
        {"Content-Type": "application/json", "Host": signed.headers["Host"], "X-TC-Timestamp": str(timestamp)}
    )
    request.data = signed.body.decode()
    date = time.strftime("%Y-%m-%d", time.gmtime(timestamp))
    expected = client._get_tc3_signature(payload, request, date, "sms", "known-key")
    assert signed.headers["Authorization"].endswith(f"Signature={expected}")
    assert f"Credential=AKIDknown/{date}/sms/tc3_request" in signed.headers["Authorization"]
