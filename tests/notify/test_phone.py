from __future__ import annotations

import pytest

from bot.alerting.notify.phone import InvalidPhone, is_mobile, mask_email, mask_phone, normalize_phone


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("13800138000", "CN", "+8613800138000"),
        ("138 0013 8000", "CN", "+8613800138000"),
        ("138-0013-8000", "CN", "+8613800138000"),
        ("+86 138 0013 8000", "CN", "+8613800138000"),
        ("+86-138-0013-8000", "CN", "+8613800138000"),
        ("008613800138000", "CN", "+8613800138000"),
        ("８６１３８００１３８０００", "CN", "+8613800138000"),  # full-width digits typed on a Chinese IME
        ("19912345678", "CN", "+8619912345678"),
        ("(010) 6552 9988", "CN", "+861065529988"),  # Beijing landline
        ("+852 9123 4567", "CN", "+85291234567"),  # Hong Kong mobile, country code given
        ("9123 4567", "HK", "+85291234567"),
        ("+1 650-253-0000", "CN", "+16502530000"),
    ],
)
def test_normalize(raw: str, region: str, e164: str) -> None:
    assert normalize_phone(raw, region) == e164


@pytest.mark.parametrize("raw", ["", "abc", "12345", "+86 138 0013 800", "1380013800099", "+999 1234567"])
def test_invalid_numbers_raise_invalid_phone(raw: str) -> None:
    with pytest.raises(InvalidPhone) as info:
        normalize_phone(raw)
    assert "138001" not in str(info.value)  # the message never carries the number in full


@pytest.mark.parametrize(
    ("e164", "mobile"),
    [("+8613800138000", True), ("+861065529988", False), ("+85291234567", True)],
)
def test_is_mobile(e164: str, mobile: bool) -> None:
    assert is_mobile(e164) is mobile


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("+8613812345678", "+86138****5678"),
        ("+85291234567", "+852****4567"),
        ("+861065529988", "+86****9988"),
        ("13812345678", "****5678"),  # not E.164: only the tail survives
        ("1234", "****"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_phone(value: str | None, masked: str) -> None:
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("zhangsan@example.com", "z***@example.com"),
        ("z@example.com", "z***@example.com"),
        ("first.last+tag@sub.example.cn", "f***@sub.example.cn"),
        ("no-at-sign", "***"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_email(value: str | None, masked: str) -> None:
    assert mask_email(value) == masked


@pytest.mark.parametrize("raw", ["021-62345678", "(010) 6552 9988", "+86 21 6234 5678"])
def test_a_landline_is_not_a_number_to_text(raw: str) -> None:
    """Issue 23: 021-62345678 was accepted as a rep's SMS number."""
    from bot.alerting.notify.phone import normalize_mobile

    assert normalize_phone(raw).startswith("+86")  # a valid phone (a lead's contact may have one)...
    with pytest.raises(InvalidPhone, match="not a mobile number"):
        normalize_mobile(raw)  # ...but not where an alert can be texted


async def test_sms_channels_do_not_send_to_a_landline(aliyun_sim, tencent_sim, alert) -> None:
    from bot.alerting.notify.base import DeliveryOutcome, Recipient
    from bot.alerting.notify.sms_aliyun import AliyunSms
    from bot.alerting.notify.sms_tencent import TencentSms
    from tests.notify.conftest import ALIYUN_KEY_ID, ALIYUN_SECRET, TENCENT_ID, TENCENT_KEY

    landline = Recipient(name="前台", phone="+862162345678")
    (asim, aserver), (tsim, tserver) = aliyun_sim, tencent_sim
    async with AliyunSms(access_key_id=ALIYUN_KEY_ID, access_key_secret=ALIYUN_SECRET, sign_name="领客",
                         template_code="SMS_1", api_base=str(aserver.make_url("/"))) as aliyun, \
            TencentSms(secret_id=TENCENT_ID, secret_key=TENCENT_KEY, sdk_app_id="1400000001", sign_name="领客",
                       template_id="1", api_base=str(tserver.make_url("/"))) as tencent:
        for channel in (aliyun, tencent):
            result = await channel.send(alert, landline)
            assert (result.outcome, result.code) == (DeliveryOutcome.FAILED, "invalid_phone")
            assert "mobile" in result.detail
    assert asim.accepted == [] and tsim.accepted == [] and asim.refused == [] and tsim.refused == []
