"""Aliyun SMS (Dysmsapi 2017-05-25 `SendSms`), signed with ACS3-HMAC-SHA256 (Aliyun's signature V3).

Why V3 and not the V1 RPC signature (HMAC-SHA1 over the sorted query): V3 is what Aliyun's current official SDK
(alibabacloud-tea-openapi) sends by default, V1 being its legacy mode; it uses SHA-256 instead of SHA-1; and it
signs the Host header and a hash of the body, so a request replayed against another host or with another body
fails. RPC-style APIs keep their parameters in the query string with an empty body under V3 too.

The answer is read from the body: HTTP 200 with `Code != "OK"` (e.g. `isv.BUSINESS_LIMIT_CONTROL`) is a failed
delivery that keeps Aliyun's code; gateway refusals (`SignatureDoesNotMatch`, `InvalidAccessKeyId.NotFound`...)
come as 4xx with the same JSON shape.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote

import aiohttp
from pydantic import Field
from yarl import URL

from bot.alerting.notify.base import Alert, DeliveryOutcome, HttpChannel, Recipient, Reply, clip
from bot.alerting.notify.phone import InvalidPhone, mask_phone, national_digits, normalize_mobile
from bot.alerting.notify.sms import Common, SecretIn, SmsForm, SmsProvider, SmsSection, Text64

API_BASE = "https://dysmsapi.aliyuncs.com"
ACTION = "SendSms"
VERSION = "2017-05-25"
ALGORITHM = "ACS3-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Sent and signed explicitly: an HTTP client adds a Content-Type of its own to a POST without one (aiohttp:
# application/octet-stream), and V3 refuses a content-type it receives unsigned (IncompleteSignature). The RPC
# form type is what the official SDK labels RPC parameters with.
CONTENT_TYPE = "application/x-www-form-urlencoded"


def percent_encode(value: str) -> str:
    """RFC 3986: everything but A-Z a-z 0-9 - _ . ~ is escaped, space as %20 (never '+')."""
    return quote(value, safe="~")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def signed_header_names(headers: Mapping[str, str]) -> list[str]:
    """Every header given, lower-cased and sorted, as the official SDK signs them.

    V3 requires at least host, content-type (when sent) and every x-acs-* header; signing `accept` as well
    costs nothing and keeps the canonical request identical to the SDK's. `headers` must therefore be every
    header the request carries that the gateway checks: one added later by the HTTP client goes unsigned.
    """
    return sorted({k.lower() for k in headers} - {"authorization"})


def acs3_authorization(
    *,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    key_id: str,
    secret: str,
) -> str:
    """The `Authorization` header value. `headers` must hold `x-acs-content-sha256` (the body's hex SHA-256)."""
    lower = {k.lower(): v for k, v in headers.items()}
    names = signed_header_names(lower)
    canonical_headers = "".join(f"{n}:{lower[n].strip()}\n" for n in names)
    signed = ";".join(names)
    canonical_request = "\n".join(
        [method.upper(), path or "/", canonical_query(query), canonical_headers, signed, lower["x-acs-content-sha256"]]
    )
    string_to_sign = f"{ALGORITHM}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    signature = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={key_id},SignedHeaders={signed},Signature={signature}"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    method: str
    url: URL  # already percent-encoded exactly as signed
    headers: dict[str, str]


def build_send_sms(
    *,
    api_base: str,
    key_id: str,
    secret: str,
    params: Mapping[str, str],
    now: datetime,
    nonce: str,
) -> SignedRequest:
    """A signed `SendSms` POST (parameters in the query, empty body). Pure: time and nonce come in."""
    base = URL(api_base)
    host = base.host_port_subcomponent or ""
    path = base.path or "/"
    headers = {
        "host": host,
        "x-acs-action": ACTION,
        "x-acs-version": VERSION,
        "x-acs-date": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "x-acs-signature-nonce": nonce,
        "x-acs-content-sha256": EMPTY_SHA256,
        "accept": "application/json",
        "content-type": CONTENT_TYPE,
    }
    headers["Authorization"] = acs3_authorization(
        method="POST", path=path, query=params, headers=headers, key_id=key_id, secret=secret
    )
    # encoded=True: yarl must not re-encode what was signed (it would leave '~' or ':' differently escaped)
    url = URL(f"{base.scheme}://{base.raw_authority}{path}?{canonical_query(params)}", encoded=True)
    return SignedRequest("POST", url, headers)


def aliyun_phone(e164: str) -> str:
    """Mainland numbers go without +86; others as country code and number, digits only (Aliyun's form)."""
    country, national = national_digits(e164)
    return national if country == 86 else f"{country}{national}"


class AliyunSms(HttpChannel):
    """Aliyun SMS with one sign name and one template. Credentials arrive decrypted; they are never logged."""

    channel: ClassVar[str] = "sms"
    provider: ClassVar[str] = "aliyun"
    param_maxlen: ClassVar[int] = 35  # Aliyun's limit on one template variable's value

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        template_code: str,
        api_base: str = API_BASE,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float | None = None,
        clock: Callable[[], float] = time.time,
        allow_private: bool = False,
    ) -> None:
        super().__init__(session=session, timeout_s=timeout_s, allow_private=allow_private)
        self.access_key_id = access_key_id
        self._secret = access_key_secret
        self.sign_name = sign_name
        self.template_code = template_code
        self.api_base = api_base
        self._clock = clock

    def __repr__(self) -> str:
        return f"AliyunSms(access_key_id={self.access_key_id!r}, api_base={self.api_base!r})"

    def address(self, recipient: Recipient) -> str | None:
        return recipient.phone or None

    def masked(self, address: str) -> str:
        return mask_phone(address)

    def params(self, alert: Alert, e164: str) -> dict[str, str]:
        values = {k: clip(str(v), self.param_maxlen) for k, v in alert.sms_params.items()}
        return {
            "PhoneNumbers": aliyun_phone(e164),
            "SignName": self.sign_name,
            "TemplateCode": self.template_code,
            "TemplateParam": json.dumps(values, ensure_ascii=False, separators=(",", ":")),
            "OutId": alert.id[:256],
        }

    async def _deliver(self, alert: Alert, recipient: Recipient, address: str) -> Reply:
        try:
            e164 = normalize_mobile(address)  # a landline would only cost a refused (or billed) send
        except InvalidPhone as exc:
            return Reply.failed("invalid_phone", str(exc))
        request = build_send_sms(
            api_base=self.api_base,
            key_id=self.access_key_id,
            secret=self._secret,
            params=self.params(alert, e164),
            now=datetime.fromtimestamp(self._clock(), UTC),
            nonce=uuid.uuid4().hex,
        )
        async with self.session().request(request.method, request.url, headers=request.headers) as resp:
            return read_reply(resp.status, await resp.read())


def read_reply(status: int, body: bytes) -> Reply:
    """Aliyun's answer as a `Reply`: the body's `Code` decides, whatever the HTTP status."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict) or "Code" not in data:
        return Reply.failed(f"HTTP {status}", body[:200].decode(errors="replace"), http_status=status)
    code, request_id = str(data["Code"]), data.get("RequestId")
    if code == "OK" and status == 200:
        return Reply(DeliveryOutcome.OK, code, f"BizId={data.get('BizId', '')}", request_id, status)
    return Reply.failed(code, str(data.get("Message", ""))[:500], request_id=request_id, http_status=status)


class AliyunSmsSection(SmsSection):
    provider: Literal["aliyun"]
    access_key_id: Text64
    access_key_secret_sealed: Annotated[str, Field(min_length=1)]
    template_code: Text64


class AliyunSmsForm(SmsForm):
    provider: Literal["aliyun"]
    access_key_id: str
    access_key_secret: SecretIn = None
    template_code: str


def _open(section: Any, secret: str, common: Common) -> AliyunSms:
    return AliyunSms(access_key_id=section.access_key_id, access_key_secret=secret, sign_name=section.sign_name,
                     template_code=section.template_code, api_base=section.api_base or API_BASE,
                     session=common.session, timeout_s=common.timeout_s, clock=common.clock)


PROVIDER = SmsProvider(name="aliyun", section=AliyunSmsSection, form=AliyunSmsForm, secret_field="access_key_secret",
                       key_fields=("access_key_id",), default_api_base=API_BASE, open=_open)
