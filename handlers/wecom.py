"""`/wecom/{app_id}/callback`: WeCom's URL check (GET) and its messages and events (POST).

A POST is verified, decrypted, parsed, remembered and queued in one Redis round trip (`Queue.enqueue_once`, shared
by concurrent callbacks through a `Coalescer`), and only then acknowledged with an empty 200. WeCom treats any other
answer, or none within 5 s, as "retry", so an outage of Redis or of the database answers 503 and the message comes
back later instead of being lost. Its retries are recognised by what is inside (MsgId, or the event's fields), never
by the envelope, which is encrypted afresh each time.

Every refusal has its own status, one warning line naming the reason (never a key, token or message content), a
`leadbot_callbacks_total{platform="wecom",outcome=...}` sample, and no effect. The hot path reads no database row
beyond the app cache and builds no crypto object beyond one per loaded app.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, NoReturn

from aiohttp import web

from bot.admin.apps import LoadedApp
from bot.platforms.wecom import events
from bot.platforms.wecom.config import NAME, WeComCredentials
from bot.platforms.wecom.crypto import WeComCrypto
from bot.platforms.wecom.errors import (
    CallbackRejected,
    DecryptError,
    HostileXml,
    MalformedPayload,
    ReceiveIdError,
    SignatureError,
    StaleTimestamp,
)
from bot.runtime import metrics
from bot.runtime.appkeys import SERVICES
from bot.runtime.queue import AppIngest, Coalescer
from bot.runtime.quotas import QuotaExceeded
from handlers.callbacks import (
    DEPENDENCY_TIMEOUT_S,
    Refused,
    active_app,
    answering_refusals,
    read_capped,
    refuse_if_outage,
)
from handlers.http import own_body_limit
from storage import redis_keys

log = logging.getLogger("leadbot.wecom")

PATH = "/wecom/{app_id}/callback"
PLATFORM = NAME
# A signed callback older (or newer) than this is a replay: WeCom signs each delivery and retry afresh, within
# seconds. The window also never outlasts the de-duplication memory (`LEADBOT_DEDUP_TTL_S`, see `setup`), which is
# what recognises a replay inside it.
TIMESTAMP_WINDOW_S = 3600.0

# Most specific first: HostileXml is a MalformedPayload, StaleTimestamp a SignatureError.
_OUTCOMES: tuple[tuple[type[CallbackRejected], str], ...] = (
    (StaleTimestamp, "stale_timestamp"),
    (SignatureError, "bad_signature"),
    (ReceiveIdError, "wrong_receiver"),
    (DecryptError, "undecryptable"),
    (HostileXml, "hostile_xml"),
    (MalformedPayload, "malformed"),
    (CallbackRejected, "malformed"),
)

_QUEUED = metrics.CALLBACKS.labels(PLATFORM, "queued")
_DUPLICATE = metrics.CALLBACKS.labels(PLATFORM, "duplicate")
_VERIFIED = metrics.CALLBACKS.labels(PLATFORM, "verified")


def _refuse_rejected(e: CallbackRejected) -> NoReturn:
    outcome = next(label for cls, label in _OUTCOMES if isinstance(e, cls))
    raise Refused(e.http_status, outcome, e.reason) from None


class CryptoCache:
    """One `WeComCrypto` per loaded app: the AES key is decoded once, not on every callback.

    Keyed by the app's `loaded_at`, so new credentials (picked up by the app cache) get a new crypto object.
    Each checks the callback's timestamp: outside the window it is a replay, however well signed.
    """

    def __init__(self, window_s: float = TIMESTAMP_WINDOW_S) -> None:
        self._window_s = window_s
        self._by_app: dict[int, tuple[float, WeComCrypto]] = {}

    def get(self, app: LoadedApp) -> WeComCrypto:
        cached = self._by_app.get(app.id)
        if cached is not None and cached[0] == app.loaded_at:
            return cached[1]
        creds = app.credentials
        assert isinstance(creds, WeComCredentials)
        crypto = WeComCrypto(creds.token, creds.encoding_aes_key, creds.corp_id, max_skew_s=self._window_s)
        self._by_app[app.id] = (app.loaded_at, crypto)
        return crypto


CRYPTOS = web.AppKey("wecom_cryptos", CryptoCache)
# Concurrent callbacks share Redis round trips (`services.queue.enqueue_once`, batched: see `Coalescer`).
QUEUE = web.AppKey("wecom_queue", Coalescer)


def _signed_params(request: web.Request) -> tuple[str, str, str]:
    q = request.query
    return q.get("msg_signature", ""), q.get("timestamp", ""), q.get("nonce", "")


async def _queue(request: web.Request, app_id: int, inbound_key: str, inbound: dict[str, Any]) -> bool:
    settings = request.app[SERVICES].settings
    try:
        async with asyncio.timeout(DEPENDENCY_TIMEOUT_S):
            return await request.app[QUEUE].enqueue_once(
                redis_keys.dedup(PLATFORM, app_id, inbound_key), settings.dedup_ttl_s, "handle_inbound",
                _app=AppIngest.of(settings, PLATFORM, app_id), app_id=app_id, inbound=inbound,
            )
    except QuotaExceeded as e:
        # 503, not 429: WeCom retries anything but a 200, and the delivery comes back when the app is within its rate.
        raise Refused(503, "rate_limited", str(e)) from None
    except Exception as e:
        # Remembering and queueing are one script: either both happened or neither, so a retry is safe.
        refuse_if_outage(e, f"queue unavailable ({type(e).__name__})")


async def receive(request: web.Request) -> web.Response:
    """POST: a message or event. 200 with an empty body once its job is queued (or was queued before)."""
    services = request.app[SERVICES]
    limit = services.settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:  # before the app is looked up
        raise Refused(413, "too_large", f"Content-Length {request.content_length} over {limit} bytes")
    services, app = await active_app(request, PLATFORM, "WeCom")
    crypto = request.app[CRYPTOS].get(app)
    body = await read_capped(request, limit)
    try:
        # The signature covers only the Encrypt value, so the envelope is parsed (defused) before it is checked.
        xml = crypto.decrypt(*_signed_params(request), events.envelope_encrypt(body))
        inbound = events.parse_inbound(xml)
    except CallbackRejected as e:
        _refuse_rejected(e)
    if await _queue(request, app.id, inbound.dedup_key, inbound.to_dict()):
        _QUEUED.inc()
    else:
        _DUPLICATE.inc()
    return web.Response()


async def verify_url(request: web.Request) -> web.Response:
    """GET: the URL check an admin triggers by saving the callback URL; answer the decrypted echostr alone."""
    _, app = await active_app(request, PLATFORM, "WeCom")
    crypto = request.app[CRYPTOS].get(app)
    try:
        echo = crypto.verify_url(*_signed_params(request), request.query.get("echostr", ""))
    except CallbackRejected as e:
        _refuse_rejected(e)
    _VERIFIED.inc()
    return web.Response(text=echo, content_type="text/plain")


async def _wait_queued(app: web.Application) -> None:
    await app[QUEUE].wait_sent()


def setup(app: web.Application) -> None:
    app[CRYPTOS] = CryptoCache(min(TIMESTAMP_WINDOW_S, app[SERVICES].settings.dedup_ttl_s))
    app[QUEUE] = Coalescer(app[SERVICES].queue)
    app.on_shutdown.append(_wait_queued)
    app.router.add_get(PATH, answering_refusals(PLATFORM, "url check", verify_url))
    app.router.add_post(PATH, own_body_limit(answering_refusals(PLATFORM, "callback", receive)))
