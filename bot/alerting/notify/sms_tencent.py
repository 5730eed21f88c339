"""Tencent Cloud SMS (`SendSms`, API 3.0, version 2021-01-11), signed with TC3-HMAC-SHA256.

The canonical request names the Host header, and the Host signed here is the one this request actually sends
(taken from `api_base`, port included), so a private gateway or a test double in place of
sms.tencentcloudapi.com verifies the same signature. Tencent answers HTTP 200 for almost everything: an
authentication or parameter problem is `Response.Error.Code`, and each number has its own
`SendStatusSet[].Code` ("Ok" is the only success).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

import aiohttp
from pydantic import Field
from yarl import URL

from bot.alerting.notify.base import Alert, DeliveryOutcome, HttpChannel, Recipient, Reply
from bot.alerting.notify.phone import InvalidPhone, mask_phone, normalize_mobile
from bot.alerting.notify.sms import Common, SecretIn, SmsForm, SmsProvider, SmsSection, Text64

API_BASE = "https://sms.tencentcloudapi.com"
SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def tc3_signature(*, secret_key: str, date: str, service: str, string_to_sign: str) -> str:
    k_date = _hmac(("TC3" + secret_key).encode(), date)
    k_service = _hmac(k_date, service)
    k_signing = _hmac(k_service, "tc3_request")
    return hmac.new(k_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()


def tc3_authorization(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    host: str,
    timestamp: int,
    body: bytes,
    content_type: str = CONTENT_TYPE,
) -> str:
    """The `Authorization` value for a POST to `/` signing content-type and host (as the official SDK does)."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{content_type}\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = f"{ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    signature = tc3_signature(secret_key=secret_key, date=date, service=service, string_to_sign=string_to_sign)
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    url: URL
    headers: dict[str, str]
    body: bytes


def build_send_sms(
    *,
    api_base: str,
    secret_id: str,
    secret_key: str,
    region: str,
    payload: dict[str, Any],
    timestamp: int,
) -> SignedRequest:
    """A signed `SendSms` POST. Pure: the timestamp comes in."""
    base = URL(api_base)
    host = base.host_port_subcomponent or ""
    body = json.dumps(payload).encode()
    headers = {
        "Host": host,
        "Content-Type": CONTENT_TYPE,
        "X-TC-Action": ACTION,
        "X-TC-Version": VERSION,
        "X-TC-Region": region,
        "X-TC-Timestamp": str(timestamp),
    }
    headers["Authorization"] = tc3_authorization(
        secret_id=secret_id, secret_key=secret_key, service=SERVICE, host=host, timestamp=timestamp, body=body
    )
    return SignedRequest(base.with_path("/"), headers, body)


class TencentSms(HttpChannel):
    """Tencent Cloud SMS with one SDK app, sign name and template. Credentials arrive decrypted, never logged."""

    channel: ClassVar[str] = "sms"
    provider: ClassVar[str] = "tencent"

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        sign_name: str,
        template_id: str,
        region: str = "ap-guangzhou",
        api_base: str = API_BASE,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float | None = None,
        clock: Callable[[], float] = time.time,
        allow_private: bool = False,
    ) -> None:
        super().__init__(session=session, timeout_s=timeout_s, allow_private=allow_private)
        self.secret_id = secret_id
        self._secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self.template_id = template_id
        self.region = region
        self.api_base = api_base
        self._clock = clock

    def __repr__(self) -> str:
        return f"TencentSms(secret_id={self.secret_id!r}, sdk_app_id={self.sdk_app_id!r}, api_base={self.api_base!r})"

    def address(self, recipient: Recipient) -> str | None:
        return recipient.phone or None

    def masked(self, address: str) -> str:
        return mask_phone(address)

    def payload(self, alert: Alert, e164: str) -> dict[str, Any]:
        return {
            "PhoneNumberSet": [e164],
            "SmsSdkAppId": self.sdk_app_id,
            "SignName": self.sign_name,
            "TemplateId": self.template_id,
            "TemplateParamSet": [str(v) for v in alert.sms_params.values()],
            "SessionContext": alert.id,
        }

    async def _deliver(self, alert: Alert, recipient: Recipient, address: str) -> Reply:
        try:
            e164 = normalize_mobile(address)  # a landline would only cost a refused (or billed) send
        except InvalidPhone as exc:
            return Reply.failed("invalid_phone", str(exc))
        request = build_send_sms(
            api_base=self.api_base,
            secret_id=self.secret_id,
            secret_key=self._secret_key,
            region=self.region,
            payload=self.payload(alert, e164),
            timestamp=int(self._clock()),
        )
        async with self.session().post(request.url, data=request.body, headers=request.headers) as resp:
            return read_reply(resp.status, await resp.read(), [e164])


def read_reply(status: int, body: bytes, numbers: Sequence[str]) -> Reply:
    """Tencent's answer as a `Reply` for the first of `numbers` (a channel sends to one number at a time).

    The body is parsed whatever its Content-Type: a gateway in between may label JSON as text/plain.
    """
    try:
        response = json.loads(body)["Response"]
    except (ValueError, KeyError, TypeError):
        return Reply.failed(f"HTTP {status}", body[:200].decode(errors="replace"), http_status=status)
    request_id = response.get("RequestId")
    if error := response.get("Error"):
        return Reply.failed(
            error.get("Code"), str(error.get("Message", ""))[:500], request_id=request_id, http_status=status
        )
    statuses = {s.get("PhoneNumber"): s for s in response.get("SendStatusSet") or []}
    mine = statuses.get(numbers[0]) if numbers else None
    if mine is None:
        return Reply.failed(
            "no_status", "no SendStatusSet entry for the number", request_id=request_id, http_status=status
        )
    if mine.get("Code") == "Ok" and status == 200:
        return Reply(DeliveryOutcome.OK, "Ok", f"SerialNo={mine.get('SerialNo', '')}", request_id, status)
    return Reply.failed(mine.get("Code"), str(mine.get("Message", ""))[:500], request_id=request_id, http_status=status)


class TencentSmsSection(SmsSection):
    provider: Literal["tencent"]
    secret_id: Text64
    secret_key_sealed: Annotated[str, Field(min_length=1)]
    sdk_app_id: Annotated[str, Field(pattern=r"^\d{4,20}$")]
    template_id: Annotated[str, Field(pattern=r"^\d{1,20}$")]
    region: Annotated[str, Field(pattern=r"^[a-z]+-[a-z]+(-\d+)?$")] = "ap-guangzhou"


class TencentSmsForm(SmsForm):
    provider: Literal["tencent"]
    secret_id: str
    secret_key: SecretIn = None
    sdk_app_id: str
    template_id: str
    region: str | None = None


def _open(section: Any, secret: str, common: Common) -> TencentSms:
    return TencentSms(secret_id=section.secret_id, secret_key=secret, sdk_app_id=section.sdk_app_id,
                      sign_name=section.sign_name, template_id=section.template_id, region=section.region,
                      api_base=section.api_base or API_BASE, session=common.session, timeout_s=common.timeout_s,
                      clock=common.clock)


PROVIDER = SmsProvider(name="tencent", section=TencentSmsSection, form=TencentSmsForm, secret_field="secret_key",
                       key_fields=("secret_id",), default_api_base=API_BASE, open=_open)
