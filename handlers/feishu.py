"""Feishu / Lark HTTP pushes: verify, decrypt, de-duplicate, queue, answer. Nothing here waits on Feishu or a lead.

- `POST /feishu/{app_id}/events`: the event subscription (消息与事件 → 请求地址), including the console's
  `url_verification` challenge.
- `POST /feishu/{app_id}/card`: card action callbacks (回调配置 → 请求地址), `card.action.trigger`. Feishu signs and
  encrypts them exactly as events, so both routes run the same steps; the card route is its own URL because the
  console configures callbacks apart from events (either may also point at the other).

With an Encrypt Key (the setting the console checklist asks for) every push must be encrypted, and every push but
the URL challenge must carry a valid `X-Lark-Signature` over the raw body within an hour of our clock; the
signature is checked before anything is decrypted. Without one, the Verification Token inside the body is the only
proof (Feishu then neither encrypts nor signs), and event-id de-duplication is the replay defence. The token is
checked on every push either way.

Every refusal has its own status, one warning line, one `leadbot_callbacks_total` sample and no effect: unknown app
404, disabled app 403, bad signature or token 403, stale timestamp 403, unencrypted push where encryption is set 403,
malformed body 400, undecryptable 400, oversized body 413. When Redis or the database cannot take the delivery the
answer is 503, so Feishu pushes again and nothing is lost.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from bot.admin.apps import LoadedApp
from bot.platforms.base import Inbound
from bot.platforms.feishu.config import NAME as PLATFORM
from bot.platforms.feishu.config import FeishuCredentials
from bot.platforms.feishu.crypto import SIGNATURE_HEADER, WINDOW_S, decrypt, verify_signature
from bot.platforms.feishu.errors import CryptoError, MalformedPayload, SignatureError, StaleTimestamp
from bot.platforms.feishu.events import MAX_BODY_BYTES, challenge_of, check_token, load_json, parse
from bot.runtime import metrics
from bot.runtime.appkeys import SERVICES
from bot.runtime.services import Services
from handlers.callbacks import Refused, active_app, answering_refusals, queue_callback, read_capped
from handlers.http import own_body_limit

log = logging.getLogger("leadbot.feishu")

EMPTY_ANSWER: dict[str, Any] = {}


async def _active_app(request: web.Request) -> tuple[Services, LoadedApp, FeishuCredentials]:
    services, app = await active_app(request, PLATFORM, "Feishu")
    assert isinstance(app.credentials, FeishuCredentials)
    return services, app, app.credentials


async def _body(request: web.Request, services: Services) -> bytes:
    """The body, read only up to the limit (a Feishu push is a few KiB)."""
    return await read_capped(request, min(services.settings.max_body_bytes, MAX_BODY_BYTES))


def _json(raw: bytes | str) -> dict[str, Any]:
    try:
        return load_json(raw)
    except MalformedPayload as e:
        raise Refused(400, "malformed", str(e)) from None


def _check_signature(request: web.Request, services: Services, encrypt_key: str, raw: bytes) -> None:
    # A push older than our de-duplication memory could be replayed unrecognised: the window is the shorter.
    window_s = min(WINDOW_S, services.settings.dedup_ttl_s)
    try:
        verify_signature(request.headers, encrypt_key, raw, now_s=services.clock.time(), window_s=window_s)
    except StaleTimestamp as e:
        raise Refused(403, "stale_timestamp", f"stale timestamp: {e}") from None
    except SignatureError as e:
        raise Refused(403, "bad_signature", str(e)) from None


def _open(request: web.Request, services: Services, creds: FeishuCredentials, raw: bytes) -> tuple[dict, bool]:
    """The push's JSON, opened; and whether its signature was checked."""
    outer = _json(raw)
    if creds.encrypt_key is None:
        if "encrypt" in outer:
            raise Refused(400, "undecryptable", "an encrypted push, but the app has no Encrypt Key")
        return outer, False
    encrypt = outer.get("encrypt")
    if not isinstance(encrypt, str) or not encrypt:
        raise Refused(403, "not_encrypted", "the app has an Encrypt Key, the push is not encrypted")
    signed = request.headers.get(SIGNATURE_HEADER) is not None
    if signed:  # before decrypting: a forged body costs a hash, never an AES pass
        _check_signature(request, services, creds.encrypt_key, raw)
    try:
        return _json(decrypt(creds.encrypt_key, encrypt)), signed
    except CryptoError as e:
        raise Refused(400, "undecryptable", str(e)) from None


def _parsed(payload: dict[str, Any], creds: FeishuCredentials, received_at: float) -> Inbound:
    try:
        return parse(payload, id_type=creds.receive_id_type, received_at=received_at)
    except MalformedPayload as e:
        raise Refused(400, "malformed", str(e)) from None


def _declared_size(request: web.Request) -> None:
    # Before anything else (the app lookup included): a body declared too large is refused unread.
    limit = min(request.app[SERVICES].settings.max_body_bytes, MAX_BODY_BYTES)
    if request.content_length is not None and request.content_length > limit:
        raise Refused(413, "too_large", f"body of {request.content_length} bytes is over {limit}")


async def push(request: web.Request) -> web.Response:
    _declared_size(request)
    services, app, creds = await _active_app(request)
    payload, signed = _open(request, services, creds, await _body(request, services))
    try:
        check_token(payload, creds.verification_token)
    except SignatureError as e:
        raise Refused(403, "bad_signature", str(e)) from None
    try:
        challenge = challenge_of(payload)
    except MalformedPayload as e:
        raise Refused(400, "malformed", str(e)) from None
    if challenge is not None:
        # The console's URL check: answer the challenge, queue nothing.
        metrics.CALLBACKS.labels(PLATFORM, "url_verification").inc()
        log.info("feishu url_verification app=%d", app.id)
        return web.json_response({"challenge": challenge})
    if creds.encrypt_key is not None and not signed:
        raise Refused(403, "bad_signature", f"{SIGNATURE_HEADER} missing")
    await queue_callback(services, PLATFORM, app, _parsed(payload, creds, services.clock.time()))
    # An empty object: for a card action it means "no toast, card unchanged" (the worker updates it afterwards).
    return web.json_response(EMPTY_ANSWER)


def setup(app: web.Application) -> None:
    for route in ("events", "card"):
        answered = answering_refusals(PLATFORM, route, push)
        app.router.add_post(f"/feishu/{{app_id}}/{route}", own_body_limit(answered))
