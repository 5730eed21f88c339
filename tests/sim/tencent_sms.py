"""A stand-in for Tencent Cloud's SMS endpoint (API 3.0, SendSms 2021-01-11) that checks TC3-HMAC-SHA256.

Like the real gateway it checks the request as it arrived: the X-TC-Action/Version/Region/Timestamp headers, a JSON
content type, the SignedHeaders list (content-type and host at least, each named header sent), then rebuilds the
canonical request from the headers listed, the Host as received and the body's SHA-256 (or `UNSIGNED-PAYLOAD` when
the request says so), derives the signing key from the date in the credential scope (which must be the
timestamp's), and answers HTTP 200 with `Response.Error` for `AuthFailure.SignatureFailure`,
`AuthFailure.SecretIdNotFound`, `AuthFailure.SignatureExpire`, `AuthFailure.InvalidAuthorization`,
`MissingParameter`, `UnknownParameter`, `RequestSizeLimitExceeded`... with `Content-Type: application/json` exactly
(the official SDK reads an error only then). Per-number results go in `SendStatusSet` ("Ok", a number that is not a
mobile one, or a queued business code such as `LimitExceeded.PhoneNumberDailyLimit`). Faults: a per-number code,
an HTTP error status, or a hang.
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

from aiohttp import web

from tests.sim.phones import is_mobile

MAX_SKEW_S = 300
MAX_BODY_BYTES = 1 << 20
MAX_NUMBERS = 200
_PARAMS = {"PhoneNumberSet", "SmsSdkAppId", "TemplateId", "SignName", "TemplateParamSet", "ExtendCode",
           "SessionContext", "SenderId"}
_REGIONS = {"ap-guangzhou", "ap-beijing", "ap-nanjing", "ap-singapore"}
_AUTH = re.compile(
    r"^TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([a-z]+)/tc3_request, "
    r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$"
)
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True, slots=True)
class AcceptedSms:
    phone_number: str
    sdk_app_id: str
    sign_name: str
    template_id: str
    params: list[str]
    session_context: str
    serial_no: str
    secret_id: str


@dataclass(slots=True)
class Fault:
    kind: str  # "code" | "http" | "hang"
    code: str = ""
    message: str = ""
    status: int = 200


@dataclass
class TencentSmsSim:
    credentials: dict[str, str]  # SecretId -> SecretKey
    clock: Callable[[], float] = time.time
    accepted: list[AcceptedSms] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def fail_next(self, code: str, message: str = "", times: int = 1) -> None:
        """Give the next request's numbers this per-number `SendStatusSet` code."""
        self.faults.extend(Fault("code", code, message or code) for _ in range(times))

    def http_error_next(self, status: int = 500, times: int = 1) -> None:
        self.faults.extend(Fault("http", status=status) for _ in range(times))

    def hang_next(self, times: int = 1) -> None:
        self.faults.extend(Fault("hang") for _ in range(times))

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES * 2)
        app.router.add_post("/", self.handle)
        app.on_shutdown.append(self._release)
        return app

    async def _release(self, app: web.Application) -> None:
        self.released.set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if len(body) > MAX_BODY_BYTES:
            self.refused.append("RequestSizeLimitExceeded")
            return _error("RequestSizeLimitExceeded", "The request body exceeds the size limit.")
        if refusal := self._check(request, body):
            code, message = refusal
            self.refused.append(code)
            return _error(code, message)
        fault = self.faults.popleft() if self.faults else None
        if fault is not None and fault.kind == "hang":
            await self.released.wait()
            return web.Response(status=503)
        if fault is not None and fault.kind == "http":
            return web.Response(
                status=fault.status, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html"
            )
        try:
            payload = json.loads(body)
        except ValueError:
            return _error("InvalidParameter", "The request body is not valid JSON.")
        if not isinstance(payload, dict):
            return _error("InvalidParameter", "The request body must be a JSON object.")
        if unknown := sorted(set(payload) - _PARAMS):
            self.refused.append("UnknownParameter")
            return _error("UnknownParameter", f"The parameter `{unknown[0]}` is not recognized.")
        secret_id = _AUTH.match(request.headers["Authorization"]).group(1)  # type: ignore[union-attr]
        return self._send_sms(payload, secret_id, fault)

    def _check(self, request: web.Request, body: bytes) -> tuple[str, str] | None:
        match = _AUTH.match(request.headers.get("Authorization", ""))
        if match is None:
            return "AuthFailure.InvalidAuthorization", "Authorization header format error."
        secret_id, date, service, signed_headers, signature = match.groups()
        secret_key = self.credentials.get(secret_id)
        if secret_key is None:
            return "AuthFailure.SecretIdNotFound", (
                "The SecretId is not found, please ensure that your SecretId is correct."
            )
        for header in ("X-TC-Action", "X-TC-Version", "X-TC-Region", "X-TC-Timestamp"):
            if not request.headers.get(header):
                return "MissingParameter", f"The request is missing a required parameter `{header}`."
        if request.headers["X-TC-Region"] not in _REGIONS:
            return "InvalidParameterValue", f"The region `{request.headers['X-TC-Region']}` is not supported."
        try:
            timestamp = int(request.headers["X-TC-Timestamp"])
        except ValueError:
            return "InvalidParameterValue", "X-TC-Timestamp must be an integer of seconds."
        if abs(self.clock() - timestamp) > MAX_SKEW_S:
            return "AuthFailure.SignatureExpire", (
                "Signature expired. Timestamp comes from the future or has expired; "
                f"server time {int(self.clock())}, request timestamp {timestamp}."
            )
        if request.content_type != "application/json":
            return "InvalidParameter", "Content-Type must be application/json for a POST of JSON."
        names = signed_headers.split(";")
        if not {"content-type", "host"} <= set(names) or service != "sms" or names != sorted(set(names)):
            return "AuthFailure.InvalidAuthorization", "SignedHeaders must include content-type and host, sorted."
        if absent := sorted(n for n in names if n != "host" and n not in request.headers):
            return "AuthFailure.InvalidAuthorization", f"SignedHeaders names {', '.join(absent)}, not sent."
        if datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d") != date:
            return "AuthFailure.SignatureFailure", "The credential scope date does not match X-TC-Timestamp."
        expected = _signature(secret_key, date, service, _string_to_sign(request, names, body, timestamp, date))
        if not hmac.compare_digest(expected, signature):
            return "AuthFailure.SignatureFailure", (
                "The provided credentials could not be validated. Please check your signature is correct."
            )
        if request.headers.get("X-TC-Action") != "SendSms":
            return "InvalidAction", f"The action `{request.headers.get('X-TC-Action')}` is not found."
        if request.headers.get("X-TC-Version") != "2021-01-11":
            return "NoSuchVersion", "The API version does not exist."
        return None

    def _send_sms(self, payload: dict[str, Any], secret_id: str, fault: Fault | None) -> web.Response:
        for required in ("PhoneNumberSet", "SmsSdkAppId", "TemplateId"):
            if not payload.get(required):
                return _error("MissingParameter", f"The request is missing a required parameter `{required}`.")
        numbers, params = payload["PhoneNumberSet"], payload.get("TemplateParamSet") or []
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            return _error("InvalidParameterValue", "PhoneNumberSet must be an array of strings.")
        if len(numbers) > MAX_NUMBERS:
            return _error("LimitExceeded.PhoneNumberCountLimit", f"At most {MAX_NUMBERS} numbers per request.")
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return _error("InvalidParameterValue.TemplateParameterFormatError", "TemplateParamSet must be strings.")
        statuses = [self._one(n, payload, secret_id, fault) for n in payload["PhoneNumberSet"]]
        return _json({"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}})

    def _one(self, number: str, payload: dict[str, Any], secret_id: str, fault: Fault | None) -> dict[str, Any]:
        status: dict[str, Any] = {
            "SerialNo": "",
            "PhoneNumber": number,
            "Fee": 0,
            "SessionContext": payload.get("SessionContext", ""),
            "IsoCode": "CN" if number.startswith("+86") else "",
        }
        if not _E164.match(number) or not is_mobile(number):
            self.refused.append("InvalidParameterValue.IncorrectPhoneNumber")
            return status | {"Code": "InvalidParameterValue.IncorrectPhoneNumber", "Message": "手机号格式错误"}
        if fault is not None:
            self.refused.append(fault.code)
            return status | {"Code": fault.code, "Message": fault.message}
        serial = f"{uuid.uuid4().int % 10**20}:{int(self.clock())}"
        self.accepted.append(
            AcceptedSms(
                number,
                str(payload["SmsSdkAppId"]),
                str(payload.get("SignName", "")),
                str(payload["TemplateId"]),
                list(payload.get("TemplateParamSet") or []),
                str(payload.get("SessionContext", "")),
                serial,
                secret_id,
            )
        )
        return status | {"SerialNo": serial, "Fee": 1, "Code": "Ok", "Message": "send success"}




def _string_to_sign(request: web.Request, names: list[str], body: bytes, timestamp: int, date: str) -> str:
    # Tencent lower-cases header values in the canonical form; Host is taken as received.
    values = {n: (request.host if n == "host" else request.headers.get(n, "")).strip().lower() for n in names}
    if request.headers.get("X-TC-Content-SHA256") == "UNSIGNED-PAYLOAD":
        body = b"UNSIGNED-PAYLOAD"
    canonical = "\n".join(
        [
            request.method,
            request.path or "/",
            request.query_string,
            "".join(f"{n}:{values[n]}\n" for n in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/sms/tc3_request"
    return f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"


def _signature(secret_key: str, date: str, service: str, string_to_sign: str) -> str:
    key = hmac.new(("TC3" + secret_key).encode(), date.encode(), hashlib.sha256).digest()
    key = hmac.new(key, service.encode(), hashlib.sha256).digest()
    key = hmac.new(key, b"tc3_request", hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _json(data: dict[str, Any]) -> web.Response:
    # Exactly "application/json", as Tencent sends it: the official SDK reads an error body only then.
    return web.Response(body=json.dumps(data).encode(), headers={"Content-Type": "application/json"})


def _error(code: str, message: str) -> web.Response:
    error = {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}
    return _json({"Response": error})
