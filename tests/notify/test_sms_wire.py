"""The SMS requests as the providers receive them (issue 23): the official SDKs' requests and ours reach one strict
simulator and are both accepted; a request with one thing wrong on the wire is refused with the provider's code.

The SDKs are synchronous (requests): they run in a thread while the simulator answers in this event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot.alerting.notify.base import Alert, Recipient
from bot.alerting.notify.sms_aliyun import AliyunSms, acs3_authorization, build_send_sms
from bot.alerting.notify.sms_tencent import TencentSms
from bot.alerting.notify.sms_tencent import build_send_sms as build_tencent
from tests.notify.conftest import ALIYUN_KEY_ID, ALIYUN_SECRET, TENCENT_ID, TENCENT_KEY

PARAMS = {"PhoneNumbers": "13800138000", "SignName": "领客", "TemplateCode": "SMS_465932001",
          "TemplateParam": '{"title":"线索超时 ~*/+&=?","lead":"华东电力"}', "OutId": "alert:42"}


def _host(server) -> str:
    return f"127.0.0.1:{server.port}"


# --- Aliyun -----------------------------------------------------------------------------------------------------


def _aliyun_sdk(server, *, legacy: bool):
    dysms = pytest.importorskip("alibabacloud_dysmsapi20170525.client", reason="official SDK not installed")
    from alibabacloud_dysmsapi20170525 import models
    from alibabacloud_tea_openapi.utils_models import Config

    config = Config(access_key_id=ALIYUN_KEY_ID, access_key_secret=ALIYUN_SECRET, endpoint=_host(server),
                    protocol="http", signature_algorithm="v2" if legacy else None)
    client = dysms.Client(config)
    request = models.SendSmsRequest(phone_numbers=PARAMS["PhoneNumbers"], sign_name=PARAMS["SignName"],
                                    template_code=PARAMS["TemplateCode"], template_param=PARAMS["TemplateParam"],
                                    out_id=PARAMS["OutId"])
    return lambda: client.send_sms(request)


@pytest.mark.parametrize("legacy", [False, True], ids=["v3", "v1"])
async def test_official_aliyun_sdk_is_accepted(aliyun_sim, legacy: bool) -> None:
    sim, server = aliyun_sim
    answer = await asyncio.to_thread(_aliyun_sdk(server, legacy=legacy))
    assert answer.body.code == "OK", answer.body
    [sms] = sim.accepted
    assert (sms.signature, sms.phone_numbers, sms.out_id) == ("v1" if legacy else "v3", "13800138000", "alert:42")
    assert sms.params == json.loads(PARAMS["TemplateParam"])


async def test_our_aliyun_request_is_accepted_by_the_same_simulator(aliyun_sim, alert: Alert,
                                                                    recipient: Recipient) -> None:
    sim, server = aliyun_sim
    async with AliyunSms(access_key_id=ALIYUN_KEY_ID, access_key_secret=ALIYUN_SECRET, sign_name="领客",
                         template_code="SMS_1", api_base=str(server.make_url("/")),
                         allow_private=True) as channel:  # the simulator listens on 127.0.0.1
        result = await channel.send(alert, recipient)
    assert result.ok, result
    assert [s.signature for s in sim.accepted] == ["v3"] and sim.refused == []


def _signed(server, *, now: datetime | None = None, params: dict[str, str] | None = None, nonce: str = "n-1"):
    return build_send_sms(api_base=str(server.make_url("/")), key_id=ALIYUN_KEY_ID, secret=ALIYUN_SECRET,
                          params=params or PARAMS, now=now or datetime.now(UTC), nonce=nonce)


async def _post(url, headers, data: bytes | None = None, **kwargs) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.post(url, headers=headers, data=data, **kwargs) as resp:
        return resp.status, await resp.json(content_type=None)


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() != name}


@pytest.mark.parametrize(
    ("spoil", "code"),
    [
        (lambda h: (_without(h, "content-type"), None), "SignatureDoesNotMatch"),  # aiohttp then adds its own
        (lambda h: (h | {"content-type": "application/json"}, None), "SignatureDoesNotMatch"),
        (lambda h: (h | {"x-acs-extra": "1"}, None), "IncompleteSignature"),
        (lambda h: (h | {"Authorization": h["Authorization"].replace("SignedHeaders=", "SignedHeaders=a-date;")},
                    None), "IncompleteSignature"),  # signed, but not sent
        (lambda h: (_without(h, "x-acs-signature-nonce"), None), "MissingParameter"),
        (lambda h: (h, b"OutId=other"), "SignatureDoesNotMatch"),  # a body that is not the one hashed
        (lambda h: (h | {"x-acs-date": "2026-13-01T00:00:00Z"}, None), "InvalidTimeStamp.Format"),
    ],
    ids=["content-type-dropped", "changed-content-type", "unsigned-acs-header", "signed-header-missing",
         "no-nonce", "body-hash", "bad-date"],
)
async def test_one_wrong_thing_on_the_wire_is_refused(aliyun_sim, spoil, code: str) -> None:
    sim, server = aliyun_sim
    signed = _signed(server)
    headers, body = spoil(dict(signed.headers))
    status, answer = await _post(signed.url, headers, body)
    assert (status, answer["Code"]) == (400, code), answer
    assert sim.accepted == []


async def test_a_request_signed_without_its_content_type_is_refused(aliyun_sim) -> None:
    """What our client sent before issue 23: signed without a content type, then aiohttp added one on the wire."""
    sim, server = aliyun_sim
    signed = _signed(server)
    headers = _without(dict(signed.headers), "content-type")
    headers["Authorization"] = acs3_authorization(method="POST", path="/", query=PARAMS,
                                                  headers=_without(headers, "authorization"),
                                                  key_id=ALIYUN_KEY_ID, secret=ALIYUN_SECRET)
    status, answer = await _post(signed.url, headers)
    assert (status, answer["Code"]) == (400, "IncompleteSignature"), answer
    assert "content-type" in answer["Message"] and sim.accepted == []


async def test_stale_timestamp_and_replayed_nonce_are_refused(aliyun_sim) -> None:
    sim, server = aliyun_sim
    stale = _signed(server, now=datetime.now(UTC) - timedelta(minutes=16))
    assert (await _post(stale.url, stale.headers))[1]["Code"] == "InvalidTimeStamp.Expired"
    fresh = _signed(server, nonce="once")
    assert (await _post(fresh.url, fresh.headers))[1]["Code"] == "OK"
    assert (await _post(fresh.url, fresh.headers))[1]["Code"] == "SignatureNonceUsed"
    assert len(sim.accepted) == 1


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({k: v for k, v in PARAMS.items() if k != "PhoneNumbers"}, 400, "MissingPhoneNumbers"),
        ({k: v for k, v in PARAMS.items() if k != "SignName"}, 400, "MissingSignName"),
        (PARAMS | {"Foo": "bar"}, 400, "InvalidParameter"),
        (PARAMS | {"PhoneNumbers": "2162345678"}, 200, "isv.MOBILE_NUMBER_ILLEGAL"),  # a Shanghai landline
        (PARAMS | {"PhoneNumbers": ",".join(["13800138000"] * 1001)}, 200, "isv.MOBILE_COUNT_OVER_LIMIT"),
        (PARAMS | {"TemplateParam": '{"n": 1}'}, 200, "isv.INVALID_JSON_PARAM"),
    ],
    ids=["no-numbers", "no-sign-name", "unknown-param", "landline", "too-many-numbers", "non-string-param"],
)
async def test_the_actions_parameters_are_checked(aliyun_sim, params, status: int, code: str) -> None:
    sim, server = aliyun_sim
    signed = _signed(server, params=params)
    assert (await _post(signed.url, signed.headers))[:1] == (status,)
    assert sim.refused == [code] and sim.accepted == []


async def test_v1_without_format_is_answered_in_xml(aliyun_sim) -> None:
    """What leaving out `Format=JSON` gets from Aliyun; our reader reports it as a failure with the HTTP status."""
    from bot.alerting.notify.sms_aliyun import read_reply

    _, server = aliyun_sim
    async with aiohttp.ClientSession() as http, http.post(server.make_url("/"), params={"Action": "SendSms"}) as r:
        body = await r.read()
    assert body.startswith(b"<?xml") and read_reply(r.status, body).code == f"HTTP {r.status}"


# --- Tencent ----------------------------------------------------------------------------------------------------

PAYLOAD = {"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": "1400787878", "SignName": "领客科技",
           "TemplateId": "1958210", "TemplateParamSet": ["华东电力", "30"], "SessionContext": "alert-42"}


def _tencent_sdk(server, payload=PAYLOAD):
    common = pytest.importorskip("tencentcloud.common.common_client", reason="official SDK not installed")
    from tencentcloud.common.credential import Credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=_host(server)))
    client = common.CommonClient("sms", "2021-01-11", Credential(TENCENT_ID, TENCENT_KEY), "ap-guangzhou",
                                 profile=profile)
    return lambda: client.call_json("SendSms", payload)


async def test_official_tencent_sdk_is_accepted(tencent_sim) -> None:
    sim, server = tencent_sim
    answer = await asyncio.to_thread(_tencent_sdk(server))
    assert answer["Response"]["SendStatusSet"][0]["Code"] == "Ok", answer
    assert [s.phone_number for s in sim.accepted] == ["+8613800138000"]


async def test_official_tencent_sdk_reads_the_simulators_errors(tencent_sim) -> None:
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

    sim, server = tencent_sim
    with pytest.raises(TencentCloudSDKException) as raised:
        await asyncio.to_thread(_tencent_sdk(server, PAYLOAD | {"Foo": 1}))
    assert raised.value.code == "UnknownParameter"


async def test_our_tencent_request_is_accepted_by_the_same_simulator(tencent_sim, alert: Alert,
                                                                     recipient: Recipient) -> None:
    sim, server = tencent_sim
    async with TencentSms(secret_id=TENCENT_ID, secret_key=TENCENT_KEY, sdk_app_id="1400787878", sign_name="领客",
                          template_id="1958210", api_base=str(server.make_url("/")),
                          allow_private=True) as channel:  # the simulator listens on 127.0.0.1
        result = await channel.send(alert, recipient)
    assert result.ok, result
    assert sim.refused == []


def _tencent_signed(server, *, timestamp: int | None = None, payload=PAYLOAD):
    return build_tencent(api_base=str(server.make_url("/")), secret_id=TENCENT_ID, secret_key=TENCENT_KEY,
                         region="ap-guangzhou", payload=payload, timestamp=timestamp or int(time.time()))


@pytest.mark.parametrize(
    ("spoil", "code"),
    [
        (lambda h, b: (_without(h, "content-type"), b), "InvalidParameter"),  # aiohttp's octet-stream instead
        (lambda h, b: (h | {"Content-Type": "text/plain"}, b), "InvalidParameter"),
        (lambda h, b: (h, b.replace(b"1958210", b"1958211")), "AuthFailure.SignatureFailure"),  # body hash
        (lambda h, b: (_without(h, "x-tc-region"), b), "MissingParameter"),
        (lambda h, b: (h | {"X-TC-Region": "mars-1"}, b), "InvalidParameterValue"),
        (lambda h, b: (h | {"X-TC-Action": "DeleteSms"}, b), "InvalidAction"),
        (lambda h, b: (h | {"Authorization": h["Authorization"].replace("content-type;host", "host")}, b),
         "AuthFailure.InvalidAuthorization"),
    ],
    ids=["no-content-type", "text-plain", "body-hash", "no-region", "bad-region", "wrong-action", "host-only"],
)
async def test_one_wrong_thing_on_the_wire_is_refused_by_tencent(tencent_sim, spoil, code: str) -> None:
    sim, server = tencent_sim
    signed = _tencent_signed(server)
    headers, body = spoil(dict(signed.headers), signed.body)
    status, answer = await _post(signed.url, headers, body)
    assert (status, answer["Response"]["Error"]["Code"]) == (200, code), answer
    assert sim.accepted == []


async def test_stale_tencent_timestamp_is_refused(tencent_sim) -> None:
    sim, server = tencent_sim
    signed = _tencent_signed(server, timestamp=int(time.time()) - 301)
    answer = (await _post(signed.url, signed.headers, signed.body))[1]
    assert answer["Response"]["Error"]["Code"] == "AuthFailure.SignatureExpire" and sim.accepted == []


async def test_a_landline_is_refused_per_number_by_tencent(tencent_sim) -> None:
    sim, server = tencent_sim
    signed = _tencent_signed(server, payload=PAYLOAD | {"PhoneNumberSet": ["+862162345678"]})
    answer = (await _post(signed.url, signed.headers, signed.body))[1]
    assert answer["Response"]["SendStatusSet"][0]["Code"] == "InvalidParameterValue.IncorrectPhoneNumber"
    assert sim.accepted == []
