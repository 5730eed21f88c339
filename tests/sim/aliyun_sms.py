"""A stand-in for Aliyun's Dysmsapi endpoint that checks ACS3-HMAC-SHA256 signatures the way the gateway does.

It recomputes the signature from the request as received (raw query, the headers named in SignedHeaders, the
body's hash), with its own canonicalisation written from the documentation rather than imported from the client,
and answers with Aliyun's own error shapes and codes: `SignatureDoesNotMatch`, `InvalidAccessKeyId.NotFound`,
`InvalidTimeStamp.Expired`, `SignatureNonceUsed`, `isv.*` business codes. Faults can be queued: a business code
at HTTP 200, an HTTP error status, or a hang.

    sim = AliyunSmsSim({"LTAIkey": "secret"})
    server = await aiohttp_server(sim.app())
    channel = AliyunSms(..., api_base=str(server.make_url("/")))
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

from aiohttp import web

MAX_SKEW_S = 15 * 60
_AUTH = re.compile(r"^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$")


@dataclass(frozen=True, slots=True)
class AcceptedSms:
    phone_numbers: str
    sign_name: str
    template_code: str
    params: dict[str, Any]
    out_id: str | None
    biz_id: str
    access_key_id: str


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
    seen_nonces: set[str] = field(default_factory=set)
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
        app = web.Application()
        app.router.add_post("/", self.handle)
        app.on_shutdown.append(self._release)
        return app

    async def _release(self, app: web.Application) -> None:
        self.released.set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if refusal := self._check_signature(request, body):
            status, code, message = refusal
            self.refused.append(code)
            return _error(status, code, message)
        if self.faults:
            fault = self.faults.popleft()
            if fault.kind == "hang":
                await self.released.wait()
                return web.Response(status=503)
            if fault.kind == "http":
                return web.Response(status=fault.status, text="Internal Server Error")
            self.refused.append(fault.code)
            return _error(200, fault.code, fault.message)
        return self._send_sms(request, dict(parse_qsl(request.query_string, keep_blank_values=True)))

    def _check_signature(self, request: web.Request, body: bytes) -> tuple[int, str, str] | None:
        match = _AUTH.match(request.headers.get("Authorization", ""))
        if match is None:
            return 400, "IncompleteSignature", "The request signature does not conform to Aliyun standards."
        key_id, signed_headers, signature = match.groups()
        secret = self.credentials.get(key_id)
        if secret is None:
            return 404, "InvalidAccessKeyId.NotFound", "Specified access key is not found."
        if stale := self._check_date(request.headers.get("x-acs-date", "")):
            return stale
        names = signed_headers.split(";")
        required = {"host", "x-acs-content-sha256", "x-acs-date", "x-acs-signature-nonce"}
        sent_acs = {h.lower() for h in request.headers if h.lower().startswith("x-acs-")}
        if not (required | sent_acs) <= set(names) or names != sorted(names):
            return 400, "IncompleteSignature", "SignedHeaders must name host and every x-acs-* header, sorted."
        if request.headers.get("x-acs-content-sha256") != hashlib.sha256(body).hexdigest():
            return 400, "SignatureDoesNotMatch", "x-acs-content-sha256 does not match the body received."
        expected = _sign(secret, _string_to_sign(request, names))
        if not hmac.compare_digest(expected, signature):
            return (
                400,
                "SignatureDoesNotMatch",
                (
                    "Specified signature does not match our calculation. server string to sign is:"
                    + _string_to_sign(request, names)
                ),
            )
        nonce = request.headers.get("x-acs-signature-nonce", "")
        if nonce in self.seen_nonces:
            return 400, "SignatureNonceUsed", "Specified signature nonce was used already."
        self.seen_nonces.add(nonce)
        if request.headers.get("x-acs-action") != "SendSms" or request.headers.get("x-acs-version") != "2017-05-25":
            return 400, "InvalidAction.NotFound", "Specified api is not found, please check your url and method."
        return None

    def _check_date(self, value: str) -> tuple[int, str, str] | None:
        try:
            sent = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            return 400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."
        if abs(self.clock() - sent) > MAX_SKEW_S:
            return 400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
        return None

    def _send_sms(self, request: web.Request, query: dict[str, str]) -> web.Response:
        phones = query.get("PhoneNumbers", "")
        if not phones or not all(re.fullmatch(r"1\d{10}|[2-9]\d{6,14}", p) for p in phones.split(",")):
            return _error(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        try:
            params = json.loads(query.get("TemplateParam") or "{}")
        except ValueError:
            return _error(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        if not query.get("SignName") or not query.get("TemplateCode"):
            return _error(200, "MissingParameter", "SignName and TemplateCode are mandatory for this action.")
        biz_id = f"{int(self.clock() * 1000)}^0"
        key_id = _AUTH.match(request.headers["Authorization"]).group(1)  # type: ignore[union-attr]
        self.accepted.append(
            AcceptedSms(phones, query["SignName"], query["TemplateCode"], params, query.get("OutId"), biz_id, key_id)
        )
        return web.json_response({"Message": "OK", "RequestId": _request_id(), "Code": "OK", "BizId": biz_id})


def _pe(value: str) -> str:
    return quote(value, safe="-_.~")


def _string_to_sign(request: web.Request, names: list[str]) -> str:
    # The query is re-read from the wire: decoded, then encoded the RFC 3986 way, as the gateway does.
    pairs = sorted(parse_qsl(request.query_string, keep_blank_values=True))
    query = "&".join(f"{_pe(k)}={_pe(v)}" for k, v in pairs)
    headers = "".join(f"{n}:{request.headers.get(n, '').strip()}\n" for n in names)
    canonical = "\n".join(
        [request.method, request.path or "/", query, headers, ";".join(names), request.headers["x-acs-content-sha256"]]
    )
    return "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()


def _sign(secret: str, string_to_sign: str) -> str:
    return hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha256).hexdigest()


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {
            "RequestId": _request_id(),
            "HostId": "dysmsapi.aliyuncs.com",
            "Code": code,
            "Message": message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}",
        },
        status=status,
    )
