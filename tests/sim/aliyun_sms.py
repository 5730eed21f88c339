"""A stand-in for Aliyun's Dysmsapi endpoint that checks each request as the gateway receives it.

Both signatures the official SDK (alibabacloud-tea-openapi) sends are verified from what arrived on the wire, with a
canonicalisation written from Aliyun's documentation rather than imported from any client:

- V3, ACS3-HMAC-SHA256 (the SDK's default): the `Authorization` header's SignedHeaders list must name host, every
  x-acs-* header and the content-type whenever one was sent (an unsigned one is refused with
  `IncompleteSignature`, as Aliyun does), and every header it names must have been sent; `x-acs-content-sha256`
  must be the body's hash; `x-acs-date` within 15 minutes; the nonce never seen before; the signature recomputed
  over the raw path, the query (decoded, then RFC 3986 encoded and sorted) and the headers' values as received.
- V1, HMAC-SHA1 in the query (the SDK's legacy mode): the common parameters, the timestamp window and nonce, and the
  signature over `POST&%2F&<canonical query>` keyed with `secret&`. A V1 request without `Format=JSON` is answered
  in XML, as Aliyun does.

Then the action's own rules: required parameters (`MissingPhoneNumbers`...), no unknown ones, at most 1000 numbers,
each a mobile number (`isv.MOBILE_NUMBER_ILLEGAL` for a landline), `TemplateParam` a JSON object of strings. Answers
use Aliyun's shapes and codes. Faults can be queued: a business code at HTTP 200, an HTTP error status, or a hang.

    sim = AliyunSmsSim({"LTAIkey": "secret"})
    server = await aiohttp_server(sim.app())
    channel = AliyunSms(..., api_base=str(server.make_url("/")))
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from tests.sim.phones import is_mobile

MAX_SKEW_S = 15 * 60
MAX_BODY_BYTES = 1 << 20
MAX_NUMBERS = 1000
_AUTH = re.compile(r"^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$")
_V3_REQUIRED = ("x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256")
# SendSms's own parameters, then the V1 common ones (which go in the query with the signature).
_ACTION_PARAMS = {"PhoneNumbers", "SignName", "TemplateCode", "TemplateParam", "SmsUpExtendCode", "OutId",
                  "OwnerId", "ResourceOwnerAccount", "ResourceOwnerId"}
_V1_COMMON = {"AccessKeyId", "Action", "Version", "Format", "RegionId", "SignatureMethod", "SignatureVersion",
              "SignatureNonce", "Timestamp", "Signature", "SignatureType", "SecurityToken"}
_V1_REQUIRED = ("AccessKeyId", "Signature", "SignatureMethod", "SignatureVersion", "SignatureNonce", "Timestamp",
                "Action", "Version")


class Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class AcceptedSms:
    phone_numbers: str
    sign_name: str
    template_code: str
    params: dict[str, Any]
    out_id: str | None
    biz_id: str
    access_key_id: str
    signature: str  # "v3" | "v1"


@dataclass(slots=True)
class Fault:
    kind: str  # "code" | "http" | "hang"
    code: str = ""
    message: str = ""
    status: int = 200


@dataclass
class AliyunSmsSim:
    credentials: dict[str, str]  # AccessKeyId -> AccessKeySecret
    clock: Callable[[], float] = time.time
    accepted: list[AcceptedSms] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # error codes answered, in order
    faults: deque[Fault] = field(default_factory=deque)
    seen_nonces: dict[str, float] = field(default_factory=dict)  # nonce -> when first seen
    # A hanging handler waits on this; the app's shutdown sets it, so closing the test server never stalls.
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def fail_next(self, code: str, message: str = "", times: int = 1) -> None:
        """Answer the next signed request(s) with a business error at HTTP 200."""
        self.faults.extend(Fault("code", code, message or code) for _ in range(times))

    def http_error_next(self, status: int = 500, times: int = 1) -> None:
        self.faults.extend(Fault("http", status=status) for _ in range(times))

    def hang_next(self, times: int = 1) -> None:
        self.faults.extend(Fault("hang") for _ in range(times))

    def app(self) -> web.Application:
        # A long query is legal (up to 1000 numbers): more than aiohttp's default request-line limit.
        app = web.Application(client_max_size=MAX_BODY_BYTES, handler_args={"max_line_size": 64 * 1024})
        app.router.add_route("*", "/", self.handle)
        app.on_shutdown.append(self._release)
        return app

    async def _release(self, app: web.Application) -> None:
        self.released.set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        xml = False
        try:
            if request.method not in ("POST", "GET"):
                raise Refusal(405, "UnsupportedHTTPMethod", f"HTTP method {request.method} is not supported.")
            body = await request.read()
            if "Authorization" in request.headers:
                key_id, version = self._check_v3(request, body), "v3"
                params = _params(request, body)
            else:
                params = _params(request, body)
                xml = params.get("Format", "XML").upper() != "JSON"
                key_id, version = self._check_v1(request, params), "v1"
            self._check_params(params, version)
        except Refusal as r:
            self.refused.append(r.code)
            return _error(r.status, r.code, r.message, xml=xml)
        if self.faults:
            fault = self.faults.popleft()
            if fault.kind == "hang":
                await self.released.wait()
                return web.Response(status=503)
            if fault.kind == "http":
                return web.Response(status=fault.status, text="Internal Server Error")
            self.refused.append(fault.code)
            return _error(200, fault.code, fault.message, xml=xml)
        try:
            return self._send_sms(params, key_id, version, xml)
        except Refusal as r:
            self.refused.append(r.code)
            return _error(r.status, r.code, r.message, xml=xml)

    # --- V3 ------------------------------------------------------------------------------------------------------

    def _check_v3(self, request: web.Request, body: bytes) -> str:
        match = _AUTH.match(request.headers["Authorization"])
        if match is None:
            raise Refusal(400, "IncompleteSignature", "The request signature does not conform to Aliyun standards.")
        key_id, signed_headers, signature = match.groups()
        secret = self.credentials.get(key_id)
        if secret is None:
            raise Refusal(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        for name in _V3_REQUIRED:
            if name not in request.headers:
                raise Refusal(400, "MissingParameter", f"The header {name} is mandatory for this request.")
        self._check_date(request.headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ")
        names = signed_headers.split(";")
        if names != sorted(set(names)) or any(n != n.lower() for n in names):
            raise Refusal(400, "IncompleteSignature", "SignedHeaders must be lower-case names, sorted, each once.")
        sent = {h.lower() for h in request.headers}
        must_sign = {"host"} | {h for h in sent if h.startswith("x-acs-") or h == "content-type"}
        if unsigned := sorted(must_sign - set(names)):
            raise Refusal(400, "IncompleteSignature", f"The request header(s) {', '.join(unsigned)} were sent "
                          "but are not in SignedHeaders.")
        if absent := sorted(set(names) - sent):
            raise Refusal(400, "IncompleteSignature", f"SignedHeaders names {', '.join(absent)}, not sent.")
        if request.headers["x-acs-content-sha256"] != hashlib.sha256(body).hexdigest():
            raise Refusal(400, "SignatureDoesNotMatch", "x-acs-content-sha256 does not match the body received.")
        string_to_sign = _v3_string_to_sign(request, names)
        expected = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise Refusal(400, "SignatureDoesNotMatch", "Specified signature does not match our calculation. "
                          f"server string to sign is:{string_to_sign}")
        self._check_nonce(request.headers["x-acs-signature-nonce"])
        if request.headers["x-acs-action"] != "SendSms" or request.headers["x-acs-version"] != "2017-05-25":
            raise Refusal(400, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
        return key_id

    # --- V1 ------------------------------------------------------------------------------------------------------

    def _check_v1(self, request: web.Request, params: Mapping[str, str]) -> str:
        for name in _V1_REQUIRED:
            if not params.get(name):
                raise Refusal(400, f"Missing{name}", f"{name} is mandatory for this action.")
        secret = self.credentials.get(params["AccessKeyId"])
        if secret is None:
            raise Refusal(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if params["SignatureMethod"] != "HMAC-SHA1" or params["SignatureVersion"] != "1.0":
            raise Refusal(400, "InvalidSignatureMethod", "Specified signature method or version is not supported.")
        self._check_date(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        canonical = "&".join(f"{_pe(k)}={_pe(v)}" for k, v in sorted(params.items()) if k != "Signature")
        string_to_sign = f"{request.method}&{_pe('/')}&{_pe(canonical)}"
        digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), params["Signature"]):
            raise Refusal(400, "SignatureDoesNotMatch", "Specified signature does not match our calculation. "
                          f"server string to sign is:{string_to_sign}")
        self._check_nonce(params["SignatureNonce"])
        if params["Action"] != "SendSms" or params["Version"] != "2017-05-25":
            raise Refusal(400, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
        return params["AccessKeyId"]

    # --- shared ---------------------------------------------------------------------------------------------------

    def _check_date(self, value: str, fmt: str) -> None:
        try:
            sent = datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise Refusal(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.") from None
        if abs(self.clock() - sent) > MAX_SKEW_S:
            raise Refusal(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")

    def _check_nonce(self, nonce: str) -> None:
        now = self.clock()
        for old in [n for n, at in self.seen_nonces.items() if now - at > 2 * MAX_SKEW_S]:
            del self.seen_nonces[old]
        if nonce in self.seen_nonces:
            raise Refusal(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self.seen_nonces[nonce] = now

    def _check_params(self, params: Mapping[str, str], version: str) -> None:
        allowed = _ACTION_PARAMS | (_V1_COMMON if version == "v1" else set())
        if unknown := sorted(set(params) - allowed):
            raise Refusal(400, "InvalidParameter", f"The parameter {unknown[0]} is not valid for SendSms.")
        for name in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not params.get(name):
                raise Refusal(400, f"Missing{name}", f"{name} is mandatory for this action.")

    def _send_sms(self, params: Mapping[str, str], key_id: str, version: str, xml: bool) -> web.Response:
        phones = params["PhoneNumbers"].split(",")
        if len(phones) > MAX_NUMBERS:
            raise Refusal(200, "isv.MOBILE_COUNT_OVER_LIMIT", "手机号码数量超过限制")
        if not all(_is_mobile(p) for p in phones):
            raise Refusal(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        try:
            template = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            template = None
        if not isinstance(template, dict) or not all(isinstance(v, str) for v in template.values()):
            raise Refusal(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if len(params.get("OutId", "")) > 256:
            raise Refusal(200, "isv.INVALID_PARAMETERS", "OutId 超过 256 个字符")
        biz_id = f"{int(self.clock() * 1000)}^0"
        self.accepted.append(AcceptedSms(params["PhoneNumbers"], params["SignName"], params["TemplateCode"], template,
                                         params.get("OutId"), biz_id, key_id, version))
        answer = {"Message": "OK", "RequestId": _request_id(), "Code": "OK", "BizId": biz_id}
        return _answer(200, answer, xml=xml)


def _pe(value: str) -> str:
    """RFC 3986 percent-encoding: only A-Z a-z 0-9 - _ . ~ stay as they are."""
    return quote(value, safe="-_.~")


def _pairs(raw: str) -> list[tuple[str, str]]:
    # Decoded strictly as RFC 3986 ('+' is a plus sign, not a space): the gateway re-encodes what it decoded.
    out = []
    for part in raw.split("&"):
        if part:
            k, _, v = part.partition("=")
            out.append((unquote(k), unquote(v)))
    return out


def _params(request: web.Request, body: bytes) -> dict[str, str]:
    """The action's parameters: the query, plus a form body (V1 may carry them there)."""
    pairs = _pairs(request.query_string)
    if body and request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        pairs += [(k, v.replace("+", " ")) for k, v in _pairs(body.decode(errors="replace"))]
    params: dict[str, str] = {}
    for k, v in pairs:
        if k in params:
            raise Refusal(400, "InvalidParameter", f"The parameter {k} is given more than once.")
        params[k] = v
    return params


def _v3_string_to_sign(request: web.Request, names: list[str]) -> str:
    query = "&".join(f"{_pe(k)}={_pe(v)}" for k, v in sorted(_pairs(request.query_string)))
    headers = "".join(f"{n}:{','.join(v.strip() for v in request.headers.getall(n))}\n" for n in names)
    canonical = "\n".join([request.method, request.raw_path.split("?", 1)[0] or "/", query, headers, ";".join(names),
                           request.headers["x-acs-content-sha256"]])
    return "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()


def _is_mobile(number: str) -> bool:
    """Aliyun's form: mainland numbers as 11 digits, others with their country code, digits only."""
    if not number.isdigit():
        return False
    candidates = [f"+86{number}", f"+{number}"] if len(number) == 11 and number.startswith("1") else [f"+{number}"]
    return any(is_mobile(text) for text in candidates)


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _answer(status: int, data: dict[str, Any], *, xml: bool) -> web.Response:
    if not xml:
        return web.json_response(data, status=status)
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in data.items())
    text = f'<?xml version="1.0" encoding="UTF-8"?><SendSmsResponse>{inner}</SendSmsResponse>'
    return web.Response(status=status, text=text, content_type="text/xml")


def _error(status: int, code: str, message: str, *, xml: bool = False) -> web.Response:
    data = {"RequestId": _request_id(), "HostId": "dysmsapi.aliyuncs.com", "Code": code, "Message": message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}"}
    return _answer(status, data, xml=xml)
