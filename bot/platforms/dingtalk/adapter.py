"""`DingTalkAdapter`: the outbound half of one DingTalk app (robot messages, cards, work notices, webhooks, media).

Every call goes to the app's `api_base` (v1.0 APIs) or `oapi_base` (old APIs). The access token comes from the
shared `TokenBroker`; a refused token is dropped (compare-and-delete) and the call retried exactly once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import aiohttp
from redis.asyncio import Redis

from bot.errors import ConfigError, MediaError, PlatformError, RateLimited, RecipientError
from bot.platforms.base import SendResult
from bot.platforms.dingtalk.cards_api import card_create_body, card_update_body, delivery_failure
from bot.platforms.dingtalk.config import DEFAULT_API_BASE, DEFAULT_OAPI_BASE, NAME, DingTalkCredentials
from bot.platforms.dingtalk.errors import not_live_reason
from bot.platforms.dingtalk.http import DingTalkHttp
from bot.platforms.dingtalk.sign import card_api_secret, sign_webhook_url
from bot.platforms.ratelimit import SlidingWindowLimit
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.tokens import TokenBroker

log = logging.getLogger(__name__)

T = TypeVar("T")
_PLATFORM = NAME
WEBHOOK_LIMIT = 20  # custom group robot: messages per minute, per robot
WORK_NOTICE_MAX_USERS = 100


def derive_oapi_base(api_base: str | None) -> str:
    """The old-API host that goes with `api_base`: the public one, `oapi.` beside an `api.` host, else the same
    host (a private gateway or a simulator serving both)."""
    if not api_base or api_base.rstrip("/") == DEFAULT_API_BASE:
        return DEFAULT_OAPI_BASE
    parts = urlsplit(api_base.rstrip("/"))
    if parts.hostname and parts.hostname.startswith("api."):
        return urlunsplit(parts._replace(netloc="o" + parts.netloc))
    return api_base.rstrip("/")


def card_callback_url(public_url: str, app_id: int) -> str:
    return f"{public_url.rstrip('/')}/dingtalk/{app_id}/card"


def webhook_robot_id(webhook_url: str) -> str:
    """A stable, non-secret name for a custom robot: a digest of its access_token (never log the token)."""
    token = parse_qs(urlsplit(webhook_url).query).get("access_token", [webhook_url])[0]
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class DingTalkAdapter:
    platform: ClassVar[str] = NAME

    def __init__(
        self,
        app_id: int,
        credentials: DingTalkCredentials,
        *,
        session: aiohttp.ClientSession,
        tokens: TokenBroker,
        redis: Redis,
        api_base: str | None = None,
        oapi_base: str | None = None,
        timeout_s: float = 10.0,
        retry_attempts: int = 3,
        retry_base_s: float = 0.2,
        public_url: str | None = None,
        on_error: Callable[[str, str | None], Awaitable[None]] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.app_id = app_id
        # Told of every error DingTalk answers (code, why the app is not live or None): `bot.admin.app_health`.
        self._on_error = on_error
        self._clock = clock or SystemClock()  # signs robot webhook URLs
        # Where DingTalk reaches this service (LEADBOT_PUBLIC_URL): needed to register the card callback URL.
        self.public_url = public_url.rstrip("/") if public_url else None
        self._creds = credentials
        self._tokens = tokens
        self.api_base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self.oapi_base = (oapi_base or derive_oapi_base(api_base)).rstrip("/")
        self._http = DingTalkHttp(session, timeout_s=timeout_s, retry_attempts=retry_attempts,
                                  retry_base_s=retry_base_s)
        self._webhook_limit = SlidingWindowLimit(redis, "dingtalk-webhook", limit=WEBHOOK_LIMIT, window_s=60)

    def __repr__(self) -> str:
        return f"DingTalkAdapter(app_id={self.app_id}, app_key={self._creds.app_key!r}, api_base={self.api_base!r})"

    # -- tokens -------------------------------------------------------------------------------------------------

    async def _fetch_token(self) -> tuple[str, float]:
        body = await self._http.v1("POST", f"{self.api_base}/v1.0/oauth2/accessToken",
                                   {"appKey": self._creds.app_key, "appSecret": self._creds.app_secret},
                                   token=None, idempotent=True)
        token, expire_in = body.get("accessToken"), body.get("expireIn")
        if not isinstance(token, str) or not token or not isinstance(expire_in, int | float):
            raise PlatformError("bad-token-answer", "accessToken/expireIn missing")
        return token, float(expire_in)

    async def access_token(self) -> str:
        return await self._tokens.get(_PLATFORM, self.app_id, self._fetch_token)

    async def _with_token(self, call: Callable[[str], Awaitable[T]]) -> T:
        return await self._tokens.calling(_PLATFORM, self.app_id, self._fetch_token, call)

    async def _told(self, path: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except PlatformError as e:
            if self._on_error is not None and e.errcode is not None and not e.retryable:
                await self._on_error(str(e.errcode)[:64], not_live_reason(path, e))
            raise

    async def _v1(self, method: str, path: str, body: Any, *, idempotent: bool) -> dict[str, Any]:
        return await self._told(path, lambda: self._with_token(
            lambda token: self._http.v1(method, f"{self.api_base}{path}", body, token=token, idempotent=idempotent)))

    async def _oapi(self, path: str, body: Any, *, idempotent: bool) -> dict[str, Any]:
        return await self._told(path, lambda: self._with_token(lambda token: self._http.oapi(
            f"{self.oapi_base}{path}", body, params={"access_token": token}, idempotent=idempotent)))

    # -- diagnosis and directory (bot.platforms.dingtalk.diagnose) -----------------------------------------------

    async def prove_token(self) -> None:
        """A token fetched afresh: the credentials as stored now, never the cached token. The broker takes it when
        it holds none, so the checks that follow need no second fetch."""
        token, expire_in = await self._fetch_token()

        async def fetched() -> tuple[str, float]:
            return token, expire_in

        await self._tokens.get(_PLATFORM, self.app_id, fetched)

    async def register_card_route(self) -> str | None:
        """HTTP mode: register our card callback URL under the app's route key; None without a public URL."""
        if not self.public_url:
            return None
        url = card_callback_url(self.public_url, self.app_id)
        await self.register_card_callback(url, card_api_secret(self._creds.app_secret, self._creds.route_key()))
        return url

    async def probe_card_api(self) -> None:
        """Update a card that does not exist: `param.cardNotExist` proves the card API may be called."""
        body = {"outTrackId": "leadbot-probe-" + hashlib.sha256(str(self.app_id).encode()).hexdigest()[:12],
                "cardData": {"cardParamMap": {}}, "cardUpdateOptions": {"updateCardDataByKey": True}}
        await self._v1("PUT", "/v1.0/card/instances", body, idempotent=True)

    async def probe_robot(self) -> None:
        """Ask for a file under a code that does not exist: DingTalk checks the robot code first."""
        await self._v1("POST", "/v1.0/robot/messageFiles/download",
                       {"downloadCode": "leadbot-probe", "robotCode": self._creds.robot_code}, idempotent=True)

    async def list_departments(self, dept_id: int) -> list[dict[str, Any]]:
        """topapi/v2/department/listsub: the departments directly under `dept_id` (1 is the root)."""
        answer = await self._oapi("/topapi/v2/department/listsub", {"dept_id": dept_id}, idempotent=True)
        return [d for d in answer.get("result") or [] if isinstance(d, dict)]

    async def list_users(self, dept_id: int) -> list[dict[str, Any]]:
        """topapi/v2/user/list: the members of one department, every page."""
        users: list[dict[str, Any]] = []
        cursor = 0
        for _ in range(1000):  # 100 a page: a bound far above any real department
            answer = await self._oapi("/topapi/v2/user/list", {"dept_id": dept_id, "cursor": cursor, "size": 100},
                                      idempotent=True)
            result = answer.get("result") or {}
            users += [u for u in result.get("list") or [] if isinstance(u, dict)]
            if not result.get("has_more"):
                break
            cursor = int(result.get("next_cursor") or 0)
        return users

    # -- robot 1:1 messages -------------------------------------------------------------------------------------

    async def _batch_send(self, to: str, msg_key: str, param: Mapping[str, Any]) -> SendResult:
        started = time.perf_counter()
        body = {"robotCode": self._creds.robot_code, "userIds": [to], "msgKey": msg_key,
                # msgParam is a JSON *string* inside the JSON body.
                "msgParam": json.dumps(param, ensure_ascii=False)}
        answer = await self._v1("POST", "/v1.0/robot/oToMessages/batchSend", body, idempotent=False)
        _raise_for_skipped(answer, to)
        return SendResult(message_id=answer.get("processQueryKey"), latency_ms=_ms_since(started))

    async def send_text(self, to: str, text: str) -> SendResult:
        return await self._batch_send(to, "sampleText", {"content": text})

    async def send_markdown(self, to: str, title: str, text: str) -> SendResult:
        return await self._batch_send(to, "sampleMarkdown", {"title": title, "text": text})

    # -- interactive cards (unified card instances API) ---------------------------------------------------------

    async def send_card(self, to: str, card_id: str, card: dict[str, Any]) -> SendResult:
        """Create and deliver `card` (rendered by cards/dingtalk.py) to `to`'s robot chat under outTrackId
        `card_id`. A repeated call with the same id (a job run twice) counts as success."""
        if not self._creds.card_template_id:
            raise ConfigError(f"DingTalk app {self.app_id}: card_template_id is not set")
        started = time.perf_counter()
        body = card_create_body(self._creds, to, card_id, card)
        try:
            answer = await self._v1("POST", "/v1.0/card/instances/createAndDeliver", body, idempotent=True)
        except PlatformError as e:
            if e.errcode == "param.cardAlreadyExist":
                return SendResult(message_id=card_id, request_id=e.request_id, latency_ms=_ms_since(started))
            raise
        if (failure := delivery_failure(answer)) is not None:
            raise failure
        result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
        return SendResult(message_id=result.get("outTrackId") or card_id, latency_ms=_ms_since(started))

    async def update_card(self, to: str, card_id: str, card: dict[str, Any],
                          response_code: str | None = None) -> SendResult:
        """Update a sent card's data by key. Unknown outTrackId -> `CardExpired` (send a fresh card)."""
        started = time.perf_counter()
        answer = await self._v1("PUT", "/v1.0/card/instances", card_update_body(card_id, card), idempotent=True)
        if answer.get("success") is False:
            raise PlatformError("card-update-failed", str(answer.get("message") or ""))
        return SendResult(message_id=card_id, latency_ms=_ms_since(started))

    async def verify(self) -> dict[str, Any]:
        """Prove the credentials work and finish the app's set-up on DingTalk's side (the admin "verify" action).

        A token is fetched afresh (a cached one would prove nothing after a secret change). An HTTP-mode app with
        a public URL then gets its card callback URL registered under its route key, with the derived apiSecret
        our `/dingtalk/{app_id}/card` route checks; without a public URL card clicks could never reach us, which
        the answer says. Stream-mode apps receive clicks on their stream and register nothing.
        """
        await self._fetch_token()
        result: dict[str, Any] = {"token": "ok", "mode": self._creds.mode, "card_callback_url": None}
        if self._creds.mode != "http":
            return result
        if not self.public_url:
            result["warning"] = "LEADBOT_PUBLIC_URL is not set: card callbacks cannot be registered"
            return result
        url = card_callback_url(self.public_url, self.app_id)
        await self.register_card_callback(url, card_api_secret(self._creds.app_secret, self._creds.route_key()))
        result["card_callback_url"] = url
        return result

    async def register_card_callback(self, callback_url: str, api_secret: str, *, force: bool = True) -> None:
        """Point this app's card route key at our `/dingtalk/{app_id}/card` URL (HTTP callback mode)."""
        body = {"callbackRouteKey": self._creds.route_key(), "callbackUrl": callback_url, "apiSecret": api_secret,
                "forceUpdate": force}
        await self._v1("POST", "/v1.0/card/callbacks/register", body, idempotent=True)

    # -- alerts: work notices and custom group robots -----------------------------------------------------------

    @property
    def sends_work_notices(self) -> bool:
        """Whether this app can send work notices (it has an AgentId): the chat channel of alerts then uses them."""
        return self._creds.agent_id is not None

    async def send_work_notice(self, user_ids: Sequence[str], title: str, markdown: str) -> SendResult:
        """A work notice (工作通知) from the app. Asynchronous on DingTalk's side: errcode 0 means accepted."""
        if self._creds.agent_id is None:
            raise ConfigError(f"DingTalk app {self.app_id}: agent_id is needed for work notices")
        if not 0 < len(user_ids) <= WORK_NOTICE_MAX_USERS:
            raise ValueError(f"work notices go to 1..{WORK_NOTICE_MAX_USERS} users")
        started = time.perf_counter()
        body = {"agent_id": self._creds.agent_id, "userid_list": ",".join(user_ids),
                "msg": {"msgtype": "markdown", "markdown": {"title": title, "text": markdown}}}
        answer = await self._oapi("/topapi/message/corpconversation/asyncsend_v2", body, idempotent=False)
        task_id = answer.get("task_id")
        return SendResult(message_id=str(task_id) if task_id is not None else None,
                          request_id=answer.get("request_id"), latency_ms=_ms_since(started))

    def _webhook_target(self, webhook_url: str) -> str:
        # An admin pastes the public URL; with a private or simulated oapi_base, the same path goes there.
        parts = urlsplit(webhook_url)
        if f"{parts.scheme}://{parts.netloc}" == DEFAULT_OAPI_BASE and self.oapi_base != DEFAULT_OAPI_BASE:
            base = urlsplit(self.oapi_base)
            return urlunsplit(parts._replace(scheme=base.scheme, netloc=base.netloc,
                                             path=base.path.rstrip("/") + parts.path))
        return webhook_url

    async def send_group_webhook(self, webhook_url: str, secret: str | None, msg: Mapping[str, Any]) -> SendResult:
        """Post `msg` (text/markdown/actionCard/... JSON) through a custom group robot, signing the URL when the
        robot has a `SEC…` secret. Refuses the 21st message in a minute locally (`RateLimited`)."""
        robot = webhook_robot_id(webhook_url)
        await self._webhook_limit.acquire(robot)
        target = self._webhook_target(webhook_url)
        url = sign_webhook_url(target, secret, now_ms=int(self._clock.time() * 1000)) if secret else target
        started = time.perf_counter()
        try:
            await self._http.oapi(url, dict(msg), params=None, idempotent=False)
        except RateLimited as e:
            await self._webhook_limit.block(robot, e.retry_after_s)  # DingTalk throttles the robot for everyone
            raise
        return SendResult(latency_ms=_ms_since(started))

    # -- media --------------------------------------------------------------------------------------------------

    async def download_media(self, media_ref: str, max_bytes: int) -> bytes:
        """Exchange a message's downloadCode for its short-lived URL, then fetch at most `max_bytes`."""
        answer = await self._v1("POST", "/v1.0/robot/messageFiles/download",
                                {"downloadCode": media_ref, "robotCode": self._creds.robot_code}, idempotent=True)
        url = answer.get("downloadUrl")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise MediaError("no-download-url", "messageFiles/download gave no downloadUrl")
        return await self._http.download(url, max_bytes)


def _raise_for_skipped(answer: Mapping[str, Any], to: str) -> None:
    """batchSend answers 200 even when it skipped the recipient; the lists say why."""
    for key, cls in (("invalidStaffIdList", RecipientError), ("filteredStaffIdList", RecipientError),
                     ("flowControlledStaffIdList", RateLimited)):
        skipped = answer.get(key) or []
        if isinstance(skipped, list) and to in skipped:
            raise cls(key, f"recipient in {key}")


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
