"""The outbound half of one WeCom self-built app: token, message/send, update_template_card, media/get.

Every call goes to the app's `api_base` + `/cgi-bin/`. Failures leave as `bot.errors` classes: a refused token is
dropped and the call retried once here; WeCom's own frequency limit (45009) is retried here with a short bounded
backoff; everything else goes to the caller, which knows whether a retry could deliver twice.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, ClassVar, TypeVar

import aiohttp
from redis.asyncio import Redis
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential, wait_random

from bot.errors import (
    CardExpired,
    MediaError,
    PlatformError,
    RecipientError,
    TargetRefused,
    TransientError,
)
from bot.platforms.base import SendResult, mask_user
from bot.platforms.wecom.config import DEFAULT_API_BASE, NAME, WeComCredentials
from bot.platforms.wecom.errors import FrequencyLimited, error_for, not_live_reason, request_id_of
from bot.platforms.wecom.ratelimit import MemberWindow
from bot.platforms.wire import read_limited
from bot.runtime.outbound import refusal
from bot.runtime.tokens import TokenBroker

log = logging.getLogger(__name__)

T = TypeVar("T")

_TASK_ID = re.compile(r"^[0-9A-Za-z_\-@]{1,128}$")
_SECRET_PARAM = re.compile(r"(access_token|corpsecret)=[^&\s'\"]*")
_JSON_TYPES = ("application/json", "text/json")
_NO_TAGS = str.maketrans({"<": "＜", ">": "＞"})


def new_task_id(prefix: str) -> str:
    """A task_id never used before by any app: WeCom refuses (or drops) a reused one, even for a finished card.

    Charset [0-9A-Za-z_-@], at most 128 bytes; the time part keeps ids sortable in logs.
    """
    task_id = f"{prefix}-{time.time_ns() // 1_000_000:x}-{secrets.token_hex(8)}"
    if not _TASK_ID.match(task_id):
        raise ValueError(f"task_id prefix {prefix!r} has characters outside [0-9A-Za-z_-@] or is too long")
    return task_id


def _redact(text: str) -> str:
    return _SECRET_PARAM.sub(r"\1=***", text)


def _id_list(value: Any) -> set[str]:
    """invaliduser is "a|b" on message/send and a JSON array on update_template_card."""
    if not value:
        return set()
    return set(value.split("|")) if isinstance(value, str) else {str(v) for v in value}


class WeComAdapter:
    """Implements `bot.platforms.base.Adapter` for one app (`app_id` is our database id)."""

    platform: ClassVar[str] = NAME
    PER_MEMBER_PER_MINUTE: ClassVar[int] = 30
    PER_MEMBER_PER_HOUR: ClassVar[int] = 1000

    def __init__(
        self,
        app_id: int,
        credentials: WeComCredentials,
        *,
        session: aiohttp.ClientSession,
        broker: TokenBroker,
        redis: Redis,
        api_base: str | None = None,
        timeout_s: float = 10.0,
        media_timeout_s: float = 60.0,
        backoff_s: float = 1.0,
        backoff_attempts: int = 3,
        clock: Callable[[], float] = time.time,
        on_error: Callable[[str, str | None], Awaitable[None]] | None = None,
    ) -> None:
        self.app_id = app_id
        # Told of every errcode WeCom answers (errcode, why the app is not live or None): `bot.admin.app_health`.
        self._on_error = on_error
        self._creds = credentials
        self._base = (api_base or DEFAULT_API_BASE).rstrip("/") + "/cgi-bin/"
        self._session = session
        self._broker = broker
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._media_timeout = aiohttp.ClientTimeout(total=media_timeout_s)
        self._backoff_s = backoff_s
        self._backoff_attempts = backoff_attempts
        self._window = MemberWindow(
            redis, app_id, per_minute=self.PER_MEMBER_PER_MINUTE, per_hour=self.PER_MEMBER_PER_HOUR, clock=clock
        )

    def __repr__(self) -> str:
        return f"WeComAdapter(app_id={self.app_id}, corp_id={self._creds.corp_id!r}, agent_id={self._creds.agent_id})"

    # -- sending -----------------------------------------------------------------------------------------------

    async def send_text(self, to: str, text: str) -> SendResult:
        # WeCom turns <a href="…"> in a text message into a link: text that may quote a lead must not make one.
        return await self._send(to, {"msgtype": "text", "text": {"content": text.translate(_NO_TAGS)}})

    async def send_markdown(self, to: str, title: str, text: str) -> SendResult:
        # App markdown has no title field: the title becomes the first line.
        content = f"**{title}**\n{text}" if title else text
        return await self._send(to, {"msgtype": "markdown", "markdown": {"content": content}})

    async def send_card(self, to: str, card_id: str, card: dict[str, Any]) -> SendResult:
        return await self._send(to, {"msgtype": "template_card", "template_card": self._with_task_id(card, card_id)})

    async def update_card(
        self, to: str, card_id: str, card: dict[str, Any], response_code: str | None = None
    ) -> SendResult:
        """Replace the card for `to` with `card`, consuming `response_code` (single use; `CardExpired` if spent)."""
        return await self._update(to, response_code, {"template_card": self._with_task_id(card, card_id)})

    async def replace_button(self, to: str, response_code: str | None, replace_name: str) -> SendResult:
        """Turn the card's buttons into one grey label (`button.replace_name`), consuming `response_code`."""
        return await self._update(to, response_code, {"button": {"replace_name": replace_name}})

    @staticmethod
    def _with_task_id(card: dict[str, Any], card_id: str) -> dict[str, Any]:
        if not _TASK_ID.match(card_id):
            raise ValueError(f"card id {card_id!r} is not a valid WeCom task_id")
        if card.get("task_id", card_id) != card_id:
            raise ValueError("the rendered card carries another task_id than card_id")
        return {**card, "task_id": card_id}

    async def _send(self, to: str, message: dict[str, Any]) -> SendResult:
        started = time.perf_counter()
        recipients = [u for u in to.split("|") if u and u != "@all"]
        tickets = await self._book(recipients)
        body = {"touser": to, "agentid": self._creds.agent_id, **message}
        try:
            data = await self._call("message/send", body)
        except PlatformError as e:
            # An errcode means WeCom refused the message, so it will not count there: give the slot back. After a
            # timeout or a 5xx it may have been delivered, so the slot stays taken.
            if e.errcode is not None:
                await self._release(tickets)
            raise
        return self._result(to, data, started)

    async def _update(self, to: str, response_code: str | None, change: dict[str, Any]) -> SendResult:
        if not response_code:
            raise CardExpired(None, "no unused response_code left for this card")
        started = time.perf_counter()
        body = {"userids": to.split("|"), "agentid": self._creds.agent_id, "response_code": response_code, **change}
        data = await self._call("message/update_template_card", body)
        return self._result(to, data, started)

    async def _book(self, recipients: list[str]) -> list[tuple[str, str]]:
        tickets: list[tuple[str, str]] = []
        try:
            for userid in recipients:
                tickets.append((userid, await self._window.book(userid)))
        except BaseException:
            await self._release(tickets)
            raise
        return tickets

    async def _release(self, tickets: list[tuple[str, str]]) -> None:
        for userid, ticket in tickets:
            await self._window.release(userid, ticket)

    def _refused(self, to: str, data: dict[str, Any]) -> list[str]:
        """Recipients WeCom refused although it answered errcode 0; `RecipientError` if that is all of ours."""
        refused = _id_list(data.get("invaliduser")) | _id_list(data.get("unlicenseduser"))
        ours = {u for u in to.split("|") if u and u != "@all"}
        if ours and ours <= refused:
            log.warning("wecom app=%s recipient refused: %s", self.app_id, ",".join(mask_user(u) for u in sorted(ours)))
            errmsg = str(data.get("errmsg", ""))
            raise RecipientError(0, "recipient listed in invaliduser/unlicenseduser", request_id=request_id_of(errmsg))
        return sorted(refused)

    def _result(self, to: str, data: dict[str, Any], started: float) -> SendResult:
        invalid = self._refused(to, data)
        msgid = data.get("msgid")
        return SendResult(
            message_id=str(msgid) if msgid else None,
            response_code=data.get("response_code") or None,
            request_id=request_id_of(str(data.get("errmsg", ""))),
            latency_ms=(time.perf_counter() - started) * 1000.0,
            invalid_recipients=invalid,
        )

    # -- media -------------------------------------------------------------------------------------------------

    async def download_media(self, media_ref: str, max_bytes: int) -> bytes:
        """The media bytes (voice: AMR), at most `max_bytes`; a JSON answer is an error, never audio."""
        return await self._retrying(
            lambda: self._with_token(lambda token: self._get_media(token, media_ref, max_bytes))
        )

    async def _get_media(self, token: str, media_id: str, max_bytes: int) -> bytes:
        params = {"access_token": token, "media_id": media_id}
        async with _transport_errors("media/get"):
            async with self._session.get(self._base + "media/get", params=params, timeout=self._media_timeout) as resp:
                self._check_status(resp, "media/get", MediaError)
                data = await read_limited(resp, max_bytes, MediaError)
                declared_json = resp.content_type in _JSON_TYPES
        error = self._error_in(data, declared_json)
        if error is not None:
            raise error
        if not data:
            raise MediaError(None, "empty media body")
        return data

    @staticmethod
    def _error_in(data: bytes, declared_json: bool) -> PlatformError | None:
        """The error a media/get body carries, if any: JSON is checked whatever the declared type (never AMR)."""
        if not declared_json and data[:1] != b"{":
            return None
        try:
            obj = json.loads(data)
            errcode = int(obj["errcode"])
        except (ValueError, KeyError, TypeError):
            # Undecodable as an error: a real JSON or text file only if it was not declared as JSON.
            return MediaError(None, "media/get answered JSON without an errcode") if declared_json else None
        if errcode == 0:
            return MediaError(0, "media/get answered JSON instead of media")
        return error_for(errcode, str(obj.get("errmsg", "")), api="media/get", http_status=200)

    # -- the call path -----------------------------------------------------------------------------------------

    async def fetch_token(self) -> tuple[str, float]:
        """gettoken, for the broker: (access_token, lifetime in seconds). Only the broker should call this."""
        params = {"corpid": self._creds.corp_id, "corpsecret": self._creds.secret}
        data = await self._request_json("GET", "gettoken", params, None)
        return str(data["access_token"]), float(data.get("expires_in", 7200))

    async def verify(self) -> None:
        """Check the credentials with WeCom: a gettoken call now, never the cached token (which proves nothing about
        the secret as stored today). Raises `PlatformError` with WeCom's errcode when they are refused (40001 wrong
        secret, 40013 wrong corp id), `TransientError` when WeCom could not be asked."""
        await self.prove_token()

    async def prove_token(self) -> None:
        """`verify`'s token check: a gettoken now, the token then handed to the broker."""
        token, lifetime_s = await self.fetch_token()

        async def fetched() -> tuple[str, float]:
            return token, lifetime_s

        # The broker takes the fresh token when it holds none: the checks that follow need no second gettoken.
        await self._broker.get(self.platform, self.app_id, fetched)

    async def _get(self, api: str, params: dict[str, str]) -> dict[str, Any]:
        return await self._retrying(lambda: self._with_token(
            lambda token: self._request_json("GET", api, {"access_token": token, **params}, None)))

    async def agent_get(self) -> dict[str, Any]:
        """agent/get: the app as the console has it (name, close, allow_userinfos, allow_partys, allow_tags)."""
        return await self._get("agent/get", {"agentid": str(self._creds.agent_id)})

    async def departments(self, root: int | None = None) -> list[dict[str, Any]]:
        """department/list: `root` and every department under it (all the app may see without one)."""
        data = await self._get("department/list", {"id": str(root)} if root is not None else {})
        return [d for d in data.get("department") or [] if isinstance(d, dict)]

    async def department_users(self, department_id: int) -> list[dict[str, Any]]:
        """user/list: the members of one department (not of its sub-departments), with what the app may read."""
        data = await self._get("user/list", {"department_id": str(department_id)})
        return [u for u in data.get("userlist") or [] if isinstance(u, dict)]

    async def _token(self) -> str:
        return await self._broker.get(self.platform, self.app_id, self.fetch_token)

    async def _call(self, api: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._retrying(
            lambda: self._with_token(lambda token: self._request_json("POST", api, {"access_token": token}, body))
        )

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(FrequencyLimited),
            stop=stop_after_attempt(self._backoff_attempts),
            wait=wait_exponential(multiplier=self._backoff_s, max=self._backoff_s * 8)
            + wait_random(0, self._backoff_s),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    log.info(
                        "wecom app=%s API frequency limit, try %d", self.app_id, attempt.retry_state.attempt_number
                    )
                return await call()
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _with_token(self, call: Callable[[str], Awaitable[T]]) -> T:
        return await self._broker.calling(self.platform, self.app_id, self.fetch_token, call)

    async def _request_json(
        self, method: str, api: str, params: dict[str, str], body: dict[str, Any] | None
    ) -> dict[str, Any]:
        async with _transport_errors(api):
            async with self._session.request(
                method, self._base + api, params=params, json=body, timeout=self._timeout
            ) as resp:
                self._check_status(resp, api, PlatformError)
                data = await resp.json(content_type=None)
        try:
            errcode = int(data.get("errcode", 0))
        except (AttributeError, TypeError, ValueError):
            raise TransientError(None, f"{api}: answer is not a WeCom JSON object") from None
        if errcode:
            errmsg = str(data.get("errmsg", ""))
            if self._on_error is not None:
                await self._on_error(str(errcode), not_live_reason(api, errcode, errmsg))
            raise error_for(errcode, errmsg, api=api, http_status=200)
        return data

    @staticmethod
    def _check_status(resp: aiohttp.ClientResponse, api: str, cls: type[PlatformError]) -> None:
        if resp.status >= 500:
            raise TransientError(None, f"{api}: HTTP {resp.status}", http_status=resp.status)
        if resp.status != 200:
            raise cls(None, f"{api}: HTTP {resp.status}", http_status=resp.status)


@asynccontextmanager
async def _transport_errors(api: str) -> AsyncIterator[None]:
    """Timeouts, connection failures and unreadable answers become `TransientError`, with any secret redacted.

    The original exception is not chained: aiohttp puts the full URL, access_token included, in some messages.
    """
    try:
        yield
    except PlatformError:
        raise
    except TimeoutError:
        raise TransientError(None, f"{api}: timed out") from None
    except (aiohttp.ClientError, ValueError) as e:
        if (message := refusal(e)) is not None:
            raise TargetRefused(f"{api}: {message}") from None
        raise TransientError(None, _redact(f"{api}: {type(e).__name__}: {e}")) from None
