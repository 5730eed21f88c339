"""`FeishuAdapter`: the outbound half of one Feishu / Lark custom app (messages, cards, media, users).

Every call goes to the app's `api_base` (open.feishu.cn, open.larksuite.com for Lark, or an override) under
`/open-apis/`. The `tenant_access_token` comes from the shared `TokenBroker`; a refused token (99991663, 99991661,
99991668) is dropped (compare-and-delete) and the call retried exactly once.

Cards: a sent card is updated in place by PATCHing its message, whose id Feishu gives at send time; we keep it in
Redis under our card id (`card_message_key`). With a click's `token` (`response_code`), the delayed-update API
is used instead, as Feishu asks for updates that answer a click. Either way a card that cannot be updated any more
is `CardExpired`, and the caller sends a fresh one.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

import aiohttp
from redis.asyncio import Redis

from bot.errors import CardExpired, ConfigError, MediaError, PlatformError
from bot.platforms.base import SendResult
from bot.platforms.feishu.config import NAME, FeishuCredentials
from bot.platforms.feishu.errors import not_live_reason
from bot.platforms.feishu.http import FeishuHttp
from bot.platforms.feishu.ratelimit import MessageLimits
from bot.runtime.tokens import TokenBroker
from storage import redis_keys

log = logging.getLogger(__name__)

T = TypeVar("T")
_PLATFORM = NAME
TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
MESSAGES_PATH = "/open-apis/im/v1/messages"
CARD_UPDATE_PATH = "/open-apis/interactive/v1/card/update"
# Feishu lets a message be edited for 14 days; after that the PATCH is refused and a fresh card is sent.
CARD_MESSAGE_TTL_S = 14 * 24 * 3600
# <prefix>feishu:card-message:<app_id>:<card id>: the message id of a card we sent. An update PATCHes the message by
# its id, and neither the card instance row (our card id) nor the click (its token) holds it; the key is this
# package's alone, under the service's prefix.
CARD_MESSAGE = f"{redis_keys.PREFIX}{NAME}:card-message:"

MAX_UUID = 50  # im/v1/messages `uuid`: de-duplicates a send for an hour, at most 50 characters
ID_TYPES = ("open_id", "user_id", "union_id")


class FeishuAdapter:
    platform: ClassVar[str] = NAME

    def __init__(
        self,
        app_id: int,
        credentials: FeishuCredentials,
        *,
        session: aiohttp.ClientSession,
        tokens: TokenBroker,
        redis: Redis,
        api_base: str | None = None,
        timeout_s: float = 10.0,
        retry_attempts: int = 3,
        retry_base_s: float = 0.2,
        on_error: Callable[[str, str | None], Awaitable[None]] | None = None,
    ) -> None:
        self.app_id = app_id
        self._creds = credentials
        self._tokens = tokens
        self._redis = redis
        self._on_error = on_error  # told of every refusal Feishu answers: `bot.admin.app_health`
        self.api_base = (api_base or credentials.default_api_base()).rstrip("/")
        self._http = FeishuHttp(session, timeout_s=timeout_s, retry_attempts=retry_attempts,
                                retry_base_s=retry_base_s)
        self._limits = MessageLimits(redis, app_id)

    @property
    def id_type(self) -> str:
        """How this app addresses people: `open_id` or `user_id`."""
        return self._creds.receive_id_type

    def __repr__(self) -> str:
        return f"FeishuAdapter(app_id={self.app_id}, feishu_app={self._creds.app_id!r}, api_base={self.api_base!r})"

    # -- tokens -------------------------------------------------------------------------------------------------

    async def fetch_token(self) -> tuple[str, float]:
        """tenant_access_token/internal, for the broker: (token, lifetime in seconds)."""
        body = await self._http.call("POST", self.api_base + TOKEN_PATH, token=None, idempotent=True,
                                     token_call=True,
                                     body={"app_id": self._creds.app_id, "app_secret": self._creds.app_secret})
        token, expire = body.get("tenant_access_token"), body.get("expire")
        if not isinstance(token, str) or not token or isinstance(expire, bool) or not isinstance(expire, int | float):
            raise PlatformError("bad-token-answer", "tenant_access_token/expire missing")
        return token, float(expire)

    async def _token(self) -> str:
        return await self._tokens.get(_PLATFORM, self.app_id, self.fetch_token)

    async def _with_token(self, call: Callable[[str], Awaitable[T]]) -> T:
        return await self._tokens.calling(_PLATFORM, self.app_id, self.fetch_token, call)

    async def _told(self, path: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except PlatformError as e:
            if self._on_error is not None and e.errcode is not None and not e.retryable:
                await self._on_error(str(e.errcode)[:64], not_live_reason(path, e))
            raise

    async def _api(self, method: str, path: str, *, body: Any = None, params: dict[str, str] | None = None,
                   idempotent: bool) -> dict[str, Any]:
        return await self._told(path, lambda: self._with_token(lambda token: self._http.call(
            method, self.api_base + path, body=body, token=token, params=params, idempotent=idempotent)))

    # -- messages -----------------------------------------------------------------------------------------------

    async def _send(self, to: str, msg_type: str, content: dict[str, Any], uuid: str | None = None) -> SendResult:
        await self._limits.acquire(to)
        started = time.perf_counter()
        body: dict[str, Any] = {"receive_id": to, "msg_type": msg_type,
                                # `content` is a JSON *string* inside the JSON body.
                                "content": json.dumps(content, ensure_ascii=False)}
        if uuid:
            body["uuid"] = uuid[:MAX_UUID]
        answer = await self._api("POST", MESSAGES_PATH, body=body,
                                 params={"receive_id_type": self._creds.receive_id_type},
                                 # With a uuid Feishu sends once per hour whatever we repeat.
                                 idempotent=uuid is not None)
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        return SendResult(message_id=data.get("message_id"), latency_ms=_ms_since(started))

    async def send_text(self, to: str, text: str) -> SendResult:
        return await self._send(to, "text", {"text": text})

    async def send_markdown(self, to: str, title: str, text: str) -> SendResult:
        # Feishu's text messages have no markdown: a card with a header and one markdown element does.
        card: dict[str, Any] = {"schema": "2.0", "body": {"elements": [{"tag": "markdown", "content": text}]}}
        if title:
            card["header"] = {"title": {"tag": "plain_text", "content": title}}
        return await self._send(to, "interactive", card)

    # -- cards --------------------------------------------------------------------------------------------------

    async def send_card(self, to: str, card_id: str, card: dict[str, Any]) -> SendResult:
        """Send `card` (cards/feishu.py output); `card_id` is also the send's uuid, so a job run twice within the
        hour sends one card. The message id is kept for later updates."""
        result = await self._send(to, "interactive", card, uuid=card_id)
        if result.message_id:
            await self._redis.set(card_message_key(self.app_id, card_id), result.message_id,
                                  ex=CARD_MESSAGE_TTL_S)
        return result

    async def update_card(self, to: str, card_id: str, card: dict[str, Any],
                          response_code: str | None = None) -> SendResult:
        """Replace a sent card: with a click's token through the delayed-update API, else by PATCHing its message."""
        started = time.perf_counter()
        if response_code:
            try:
                await self._api("POST", CARD_UPDATE_PATH, body={"token": response_code, "card": card},
                                idempotent=True)
                return SendResult(message_id=card_id, latency_ms=_ms_since(started))
            except PlatformError as e:
                if e.retryable:
                    raise
                # A spent or expired token (two uses, 30 minutes): the message itself may still be edited.
                log.info("feishu app=%s card token refused (code %s): patching the message", self.app_id, e.errcode)
        raw = await self._redis.get(card_message_key(self.app_id, card_id))
        if raw is None:
            raise CardExpired(None, "no message id known for this card (sent over 14 days ago, or Redis lost it)")
        message_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        await self._api("PATCH", f"{MESSAGES_PATH}/{quote(message_id, safe='')}",
                        body={"content": json.dumps(card, ensure_ascii=False)}, idempotent=True)
        return SendResult(message_id=message_id, latency_ms=_ms_since(started))

    # -- media --------------------------------------------------------------------------------------------------

    async def download_media(self, media_ref: str, max_bytes: int) -> bytes:
        """A message's resource (voice: Opus in Ogg); `media_ref` is "message_id/file_key" (`events._message`)."""
        message_id, _, file_key = media_ref.partition("/")
        if not message_id or not file_key:
            raise MediaError("bad-media-ref", "media_ref is not message_id/file_key")
        path = f"{MESSAGES_PATH}/{quote(message_id, safe='')}/resources/{quote(file_key, safe='')}"
        return await self._told(path, lambda: self._with_token(lambda token: self._http.download(
            self.api_base + path, token=token, params={"type": "file"}, max_bytes=max_bytes)))

    # -- people -------------------------------------------------------------------------------------------------

    async def get_user(self, user_id: str, id_type: str = "open_id") -> dict[str, Any]:
        """contact/v3/users/:id: a person by open_id, user_id or union_id (what the app may read of them)."""
        if id_type not in ID_TYPES:
            raise ValueError(f"id_type must be one of {ID_TYPES}")
        answer = await self._api("GET", f"/open-apis/contact/v3/users/{quote(user_id, safe='')}",
                                 params={"user_id_type": id_type}, idempotent=True)
        data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
        user = data.get("user")
        return user if isinstance(user, dict) else {}

    async def _pages(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every item of a paged contact/v3 list (`has_more` / `page_token`), bounded far above any real org."""
        items: list[dict[str, Any]] = []
        token = ""
        for _ in range(1000):
            page = {**params, "page_size": "50", **({"page_token": token} if token else {})}
            answer = await self._api("GET", path, params=page, idempotent=True)
            data = answer.get("data") if isinstance(answer.get("data"), dict) else {}
            items += [i for i in data.get("items") or [] if isinstance(i, dict)]
            token = str(data.get("page_token") or "")
            if not data.get("has_more") or not token:
                break
        return items

    async def departments(self) -> list[dict[str, Any]]:
        """Every department under the root the app may see (contact/v3/departments/0/children, fetch_child)."""
        return await self._pages("/open-apis/contact/v3/departments/0/children",
                                 {"department_id_type": "open_department_id", "fetch_child": "true",
                                  "user_id_type": self._creds.receive_id_type})

    async def department_users(self, department_id: str) -> list[dict[str, Any]]:
        """The direct members of one department (contact/v3/users/find_by_department), ids of the app's type."""
        return await self._pages("/open-apis/contact/v3/users/find_by_department",
                                 {"department_id": department_id, "department_id_type": "open_department_id",
                                  "user_id_type": self._creds.receive_id_type})

    # -- set-up -------------------------------------------------------------------------------------------------

    async def bot_info(self) -> dict[str, Any]:
        """bot/v3/info: the app's bot (refused when the bot ability is not enabled)."""
        answer = await self._api("GET", "/open-apis/bot/v3/info", idempotent=True)
        bot = answer.get("bot")
        return bot if isinstance(bot, dict) else {}

    async def prove_token(self) -> None:
        """A token fetched afresh (the credentials as stored now), then handed to the broker."""
        token, expire = await self.fetch_token()

        async def fetched() -> tuple[str, float]:
            return token, expire

        await self._tokens.get(_PLATFORM, self.app_id, fetched)

    async def verify(self) -> dict[str, Any]:
        """Fetch a token now (never the cached one) and check the bot ability is on."""
        await self.prove_token()
        bot = await self.bot_info()
        if not bot:
            raise ConfigError(f"Feishu app {self.app_id}: bot/v3/info answered no bot")
        return {"token": "ok", "mode": self._creds.mode, "bot": bot.get("app_name") or ""}


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def card_message_key(app_id: int | str, card_id: str) -> str:
    return f"{CARD_MESSAGE}{app_id}:{card_id}"
