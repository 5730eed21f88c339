"""DingTalk's HTTP callbacks: verify, parse, de-duplicate, queue, answer. Nothing here waits on DingTalk or a lead.

- `POST /dingtalk/{app_id}/callback`: robot messages (HTTP receive mode). The `timestamp`/`sign` headers are an
  HMAC of the timestamp keyed with the AppSecret, valid for one hour; they do not cover the body, so the msgId
  de-duplication is also the replay defence.
- `POST /dingtalk/{app_id}/events`: the encrypted event subscription. The `check_url` push and every event are
  answered with the encrypted `success` map DingTalk waits 1.5 s for.
- `POST /dingtalk/{app_id}/card`: card button callbacks (HTTP callback mode). DingTalk's documents do not say how
  the `apiSecret` registered with the callback URL authenticates a callback. We check the reading our simulator
  implements and the safer one: `timestamp`/`sign` headers as on robot callbacks, keyed with that apiSecret
  (`sign.card_api_secret`), within the same hour. If real DingTalk signs differently, clicks are refused (403,
  logged as bad_signature) rather than accepted unauthenticated; Stream mode avoids the question entirely.

Every refusal has its own status, one warning line and one `leadbot_callbacks_total` sample, and changes nothing:
unknown app 404, disabled app 403, bad signature 403, stale timestamp 403, malformed body 400, oversized body 413,
undecryptable event 400. When Redis or the database cannot take the delivery the answer is 503, so DingTalk retries
and nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.admin.apps import LoadedApp
from bot.errors import ConfigError, SignatureError, StaleTimestamp
from bot.platforms.base import Inbound
from bot.platforms.dingtalk.config import NAME as PLATFORM
from bot.platforms.dingtalk.config import DingTalkCredentials
from bot.platforms.dingtalk.crypto import DingTalkCrypto
from bot.platforms.dingtalk.errors import CryptoError, MalformedPayload
from bot.platforms.dingtalk.events import (
    MAX_BODY_BYTES,
    load_json,
    parse_card_callback,
    parse_event,
    parse_robot_message,
)
from bot.platforms.dingtalk.sign import card_api_secret, verify_callback
from bot.runtime import metrics
from bot.runtime.appkeys import SERVICES
from bot.runtime.services import Services
from handlers.callbacks import Refused, active_app, answering_refusals, queue_callback, read_capped
from handlers.http import own_body_limit

log = logging.getLogger("leadbot.dingtalk")

EMPTY_ANSWER: dict[str, Any] = {}


# -- the steps every route shares -------------------------------------------------------------------------------


async def _active_app(request: web.Request) -> tuple[Services, LoadedApp, DingTalkCredentials]:
    services, app = await active_app(request, PLATFORM, "DingTalk")
    assert isinstance(app.credentials, DingTalkCredentials)
    return services, app, app.credentials


def _check_signature(request: web.Request, secret: str) -> None:
    now_ms = int(request.app[SERVICES].clock.time() * 1000)
    try:
        verify_callback(request.headers.get("timestamp"), request.headers.get("sign"), secret, now_ms=now_ms)
    except StaleTimestamp as e:
        raise Refused(403, "stale_timestamp", f"stale timestamp: {e}") from None
    except SignatureError as e:
        raise Refused(403, "bad_signature", str(e)) from None


async def _body(request: web.Request, services: Services) -> bytes:
    """The body, read only up to the limit (a DingTalk callback is a few KiB)."""
    return await read_capped(request, min(services.settings.max_body_bytes, MAX_BODY_BYTES))


def _parsed(parse: Callable[[dict[str, Any]], Inbound], raw: bytes | str) -> Inbound:
    try:
        return parse(load_json(raw))
    except MalformedPayload as e:
        raise Refused(400, "malformed", str(e)) from None


# -- routes -----------------------------------------------------------------------------------------------------


async def robot_callback(request: web.Request) -> web.Response:
    services, app, creds = await _active_app(request)
    _check_signature(request, creds.app_secret)  # before reading: an unsigned body is never read
    inbound = _parsed(parse_robot_message, await _body(request, services))
    await queue_callback(services, PLATFORM, app, inbound)
    return web.json_response(EMPTY_ANSWER)


def _event_crypto(creds: DingTalkCredentials) -> DingTalkCrypto:
    try:
        return DingTalkCrypto.from_credentials(creds)
    except ConfigError:
        raise Refused(404, "events_not_configured", "the app has no event subscription token/aes_key") from None


def _decrypt(crypto: DingTalkCrypto, request: web.Request, raw: bytes) -> str:
    try:
        encrypt = load_json(raw).get("encrypt")
    except MalformedPayload as e:
        raise Refused(400, "malformed", str(e)) from None
    if not isinstance(encrypt, str) or not encrypt:
        raise Refused(400, "malformed", "encrypt missing")
    try:
        return crypto.verify_and_decrypt(request.query, encrypt)
    except SignatureError as e:
        raise Refused(403, "bad_signature", str(e)) from None
    except CryptoError as e:
        raise Refused(400, "undecryptable", str(e)) from None


async def event_push(request: web.Request) -> web.Response:
    services, app, creds = await _active_app(request)
    crypto = _event_crypto(creds)
    text = _decrypt(crypto, request, await _body(request, services))
    received_at = services.clock.time()
    inbound = _parsed(lambda p: parse_event(p, received_at=received_at), text)
    if inbound.event == "check_url":
        # The console's URL check: nothing to do but prove we hold the keys.
        metrics.CALLBACKS.labels(PLATFORM, "check_url").inc()
        log.info("dingtalk events check_url app=%d", app.id)
    else:
        await queue_callback(services, PLATFORM, app, inbound)
    return web.json_response(crypto.encrypted_reply("success", timestamp=str(int(services.clock.time() * 1000))))


async def card_callback(request: web.Request) -> web.Response:
    services, app, creds = await _active_app(request)
    _check_signature(request, card_api_secret(creds.app_secret, creds.route_key()))
    received_at = services.clock.time()
    inbound = _parsed(lambda p: parse_card_callback(p, received_at=received_at), await _body(request, services))
    await queue_callback(services, PLATFORM, app, inbound)
    return web.json_response(EMPTY_ANSWER)


def setup(app: web.Application) -> None:
    for route, handler in (("callback", robot_callback), ("events", event_push), ("card", card_callback)):
        answered = answering_refusals(PLATFORM, route, handler)
        app.router.add_post(f"/dingtalk/{{app_id}}/{route}", own_body_limit(answered))
