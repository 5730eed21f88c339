"""A Feishu / Lark stand-in for tests: the Open APIs an app calls, and a sender of the pushes Feishu makes.

`FeishuSimulator` is an aiohttp app on 127.0.0.1:0 speaking the real wire format: `{"code", "msg", "data"}` answers,
errors with both an HTTP status and a code, the `X-Tt-Logid` header. It checks each request as Feishu does: a JSON
body sent as `application/json`, `Authorization: Bearer t-…` valid and unexpired (99991661 missing, 99991663
invalid), the token endpoint's body (app_id / app_secret: 10003 / 10014), `receive_id_type` and a known recipient
visible to the app (230001 / 230013), `msg_type` and a `content` that is a JSON *string* of the right shape, card
JSON 2.0 (schema, header, body elements, buttons with callback behaviors), the 30 KB card limit (230025), the
per-recipient 5/s limit (230020) and an app-wide limit answered HTTP 429 / 99991400. `uuid` de-duplicates sends.

`PushSender` posts what Feishu posts: schema 2.0 events and card actions, encrypted with the Encrypt Key (by code of
its own, not the service's) and signed with the `X-Lark-*` headers, and redeliveries of any of them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from Crypto.Cipher import AES

MAX_CARD_BYTES = 30 * 1024
MSG_TYPES = {"text", "post", "image", "file", "audio", "media", "sticker", "interactive", "share_chat", "share_user"}
ID_TYPES = {"open_id", "user_id", "union_id", "email", "chat_id"}
BODY = web.RequestKey("feishu_body", dict)
BUTTON_TYPES = {"default", "primary", "danger", "text", "primary_text", "danger_text", "primary_filled",
                "danger_filled", "laser"}


@dataclass
class SimApp:
    app_id: str
    app_secret: str
    bot_enabled: bool = True


@dataclass
class SimUser:
    open_id: str
    user_id: str
    union_id: str
    name: str
    visible: bool = True  # inside the app's availability (可用范围)
    department: str = "0"  # open_department_id; "0" is the root
    mobile: str = ""
    resigned: bool = False


@dataclass
class SimMessage:
    message_id: str
    to: str  # the user's open_id
    msg_type: str
    content: dict[str, Any]
    uuid: str | None
    updates: int = 0
    recalled: bool = False


@dataclass
class Injection:
    status: int
    code: int
    msg: str
    times: int


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class CardToken:
    message_id: str
    expires_at: float
    uses_left: int = 2  # a click's token updates the card at most twice, within 30 minutes


def _answer(data: dict[str, Any] | None = None, *, status: int = 200, code: int = 0, msg: str = "success",
            extra: dict[str, Any] | None = None) -> web.Response:
    log_id = uuid.uuid4().hex
    body: dict[str, Any] = {"code": code, "msg": msg, **(extra or {})}
    if data is not None:
        body["data"] = data
    if code:
        body["error"] = {"log_id": log_id}
    return web.json_response(body, status=status, headers={"X-Tt-Logid": log_id})


def _error(status: int, code: int, msg: str, **headers: str) -> web.Response:
    r = _answer(status=status, code=code, msg=msg)
    r.headers.update(headers)
    return r


class FeishuSimulator:
    def __init__(self, *, token_ttl_s: int = 7200, per_user_per_s: int = 5, app_per_s: int = 50) -> None:
        self.token_ttl_s = token_ttl_s
        self.per_user_per_s = per_user_per_s
        self.app_per_s = app_per_s
        self.apps: dict[str, SimApp] = {}
        self.users: dict[str, SimUser] = {}  # by open_id
        self.tokens: dict[str, tuple[str, float]] = {}  # token -> (app_id, expires_at)
        self.token_fetches = 0
        self.requests: list[LoggedRequest] = []
        self.messages: dict[str, SimMessage] = {}
        self.files: dict[tuple[str, str], bytes] = {}  # (message_id, file_key) -> bytes
        self.card_tokens: dict[str, CardToken] = {}
        self.departments: dict[str, str] = {}  # open_department_id -> leader's open_id
        self._uuids: dict[str, str] = {}
        self._sends: dict[str, deque[float]] = defaultdict(deque)
        self._app_sends: deque[float] = deque()
        self._injections: dict[str, deque[Injection]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_post("/open-apis/auth/v3/tenant_access_token/internal", self._token)
        r.add_post("/open-apis/im/v1/messages", self._send)
        r.add_patch("/open-apis/im/v1/messages/{message_id}", self._patch)
        r.add_get("/open-apis/im/v1/messages/{message_id}/resources/{file_key}", self._resource)
        r.add_post("/open-apis/interactive/v1/card/update", self._card_update)
        r.add_get("/open-apis/bot/v3/info", self._bot_info)
        r.add_get("/open-apis/contact/v3/users/find_by_department", self._department_users)
        r.add_get("/open-apis/contact/v3/users/{user_id}", self._user)
        r.add_get("/open-apis/contact/v3/departments/0/children", self._departments)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self._app())
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FeishuSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- set-up ---------------------------------------------------------------------------------------------------

    def add_app(self, app_id: str, app_secret: str) -> SimApp:
        self.apps[app_id] = SimApp(app_id, app_secret)
        return self.apps[app_id]

    def add_user(self, open_id: str, *, user_id: str | None = None, name: str = "", visible: bool = True,
                 **details: Any) -> SimUser:
        user = SimUser(open_id, user_id or "u" + open_id[3:], "on_" + open_id[3:], name or open_id, visible,
                       **details)
        self.users[open_id] = user
        return user

    def add_department(self, open_department_id: str, leader_open_id: str = "") -> None:
        self.departments[open_department_id] = leader_open_id

    def add_file(self, message_id: str, file_key: str, data: bytes) -> None:
        self.files[(message_id, file_key)] = data

    def issue_card_token(self, message_id: str, ttl_s: float = 1800) -> str:
        """The `token` of a card action on `message_id` (what a click's event carries)."""
        token = "c-" + secrets.token_hex(16)
        self.card_tokens[token] = CardToken(message_id, time.time() + ttl_s)
        return token

    def expire_tokens(self) -> None:
        for token, (app, _) in list(self.tokens.items()):
            self.tokens[token] = (app, 0.0)

    def inject(self, path: str, *, status: int = 400, code: int, msg: str = "injected", times: int = 1) -> None:
        """The next `times` calls of `path` answer this error."""
        self._injections[path].append(Injection(status, code, msg, times))

    def requests_to(self, path: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.path == path]

    def cards_to(self, open_id: str) -> list[SimMessage]:
        return [m for m in self.messages.values() if m.to == open_id and m.msg_type == "interactive"]

    # -- the checks every call gets -------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        body: Any = None
        if raw:
            if request.content_type != "application/json":
                return _error(400, 99992402, "field validation failed: content-type must be application/json")
            try:
                body = json.loads(raw)
            except ValueError:
                return _error(400, 9499, "Bad Request: invalid JSON")
            if not isinstance(body, dict):
                return _error(400, 9499, "Bad Request: body is not an object")
        self.requests.append(LoggedRequest(request.method, request.path, dict(request.query),
                                           dict(request.headers), body))
        request[BODY] = body or {}
        queue = self._injections.get(request.path)
        if queue:
            inj = queue[0]
            inj.times -= 1
            if inj.times <= 0:
                queue.popleft()
            return _error(inj.status, inj.code, inj.msg)
        return await handler(request)

    def _authorized(self, request: web.Request) -> SimApp | web.Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return _error(400, 99991661, "Missing access token for authorization")
        token = auth.removeprefix("Bearer ")
        held = self.tokens.get(token)
        if not token.startswith("t-") or held is None or held[1] <= time.time():
            return _error(400, 99991663, "Invalid access token for authorization")
        return self.apps[held[0]]

    # -- token ----------------------------------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        body = request[BODY]
        app = self.apps.get(body.get("app_id") if isinstance(body.get("app_id"), str) else "")
        if app is None:
            return _error(400, 10003, "invalid param: app_id")
        if body.get("app_secret") != app.app_secret:
            return _error(400, 10014, "app secret invalid")
        self.token_fetches += 1
        token = "t-" + secrets.token_hex(20)
        self.tokens[token] = (app.app_id, time.time() + self.token_ttl_s)
        return web.json_response({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": self.token_ttl_s})

    # -- messages -------------------------------------------------------------------------------------------------

    def _recipient(self, id_type: str, receive_id: Any) -> SimUser | None:
        if not isinstance(receive_id, str):
            return None
        for user in self.users.values():
            if getattr(user, id_type, None) == receive_id:
                return user
        return None

    def _throttled(self, open_id: str) -> web.Response | None:
        now = time.monotonic()
        for window in (self._app_sends, self._sends[open_id]):
            while window and window[0] <= now - 1:
                window.popleft()
        if len(self._app_sends) >= self.app_per_s:
            return _error(429, 99991400, "request trigger frequency limit", **{"x-ogw-ratelimit-reset": "1"})
        if len(self._sends[open_id]) >= self.per_user_per_s:
            return _error(400, 230020, "This operation triggers the frequency limit.")
        self._app_sends.append(now)
        self._sends[open_id].append(now)
        return None

    async def _send(self, request: web.Request) -> web.Response:
        app = self._authorized(request)
        if isinstance(app, web.Response):
            return app
        if not app.bot_enabled:
            return _error(400, 230006, "Bot ability is not activated.")
        id_type = request.query.get("receive_id_type")
        if id_type not in ID_TYPES:
            return _error(400, 99992402, "field validation failed: receive_id_type")
        body = request[BODY]
        problem = _message_problem(body)
        if problem is not None:
            return _error(400, *problem)
        user = self._recipient(id_type, body.get("receive_id"))
        if user is None:
            return _error(400, 230001, "Your request contains an invalid request parameter, ext=invalid receive_id.")
        if not user.visible:
            return _error(400, 230013, "Bot has NO availability to this user.")
        dedup = body.get("uuid")
        if isinstance(dedup, str) and dedup in self._uuids:
            return _answer({"message_id": self._uuids[dedup]})
        if (throttled := self._throttled(user.open_id)) is not None:
            return throttled
        message_id = "om_" + secrets.token_hex(16)
        self.messages[message_id] = SimMessage(message_id, user.open_id, body["msg_type"],
                                               json.loads(body["content"]), dedup)
        if isinstance(dedup, str):
            self._uuids[dedup] = message_id
        return _answer({"message_id": message_id, "msg_type": body["msg_type"], "chat_id": "oc_" + user.open_id[3:]})

    async def _patch(self, request: web.Request) -> web.Response:
        app = self._authorized(request)
        if isinstance(app, web.Response):
            return app
        message = self.messages.get(request.match_info["message_id"])
        if message is None:
            return _error(400, 230001, "Your request contains an invalid request parameter, ext=invalid message_id.")
        if message.recalled:
            return _error(400, 230011, "The message is recalled.")
        content = request[BODY].get("content")
        problem = _card_problem(content) if message.msg_type == "interactive" else (230001, "not a card")
        if problem is not None:
            return _error(400, *problem)
        message.content = json.loads(content)
        message.updates += 1
        return _answer({})

    async def _card_update(self, request: web.Request) -> web.Response:
        app = self._authorized(request)
        if isinstance(app, web.Response):
            return app
        body = request[BODY]
        held = self.card_tokens.get(body.get("token") if isinstance(body.get("token"), str) else "")
        if held is None or held.expires_at <= time.time() or held.uses_left <= 0:
            return _error(400, 200830, "token is invalid or expired")
        card = body.get("card")
        problem = _card_problem(json.dumps(card, ensure_ascii=False) if isinstance(card, dict) else card)
        if problem is not None:
            return _error(400, *problem)
        held.uses_left -= 1
        message = self.messages[held.message_id]
        message.content = card
        message.updates += 1
        return _answer({})

    async def _resource(self, request: web.Request) -> web.StreamResponse:
        app = self._authorized(request)
        if isinstance(app, web.Response):
            return app
        if request.query.get("type") not in ("file", "image"):
            return _error(400, 234001, "Invalid request param: type")
        key = (request.match_info["message_id"], request.match_info["file_key"])
        data = self.files.get(key)
        if data is None:
            return _error(400, 234003, "File not in msg.")
        return web.Response(body=data, content_type="application/octet-stream")

    async def _bot_info(self, request: web.Request) -> web.Response:
        app = self._authorized(request)
        if isinstance(app, web.Response):
            return app
        if not app.bot_enabled:
            return _error(400, 230006, "Bot ability is not activated.")
        return web.json_response({"code": 0, "msg": "ok",
                                  "bot": {"activate_status": 2, "app_name": "leadbot", "open_id": "ou_bot"}})

    async def _user(self, request: web.Request) -> web.Response:
        app = self._authorized(request)
        if isinstance(app, web.Response):
            return app
        id_type = request.query.get("user_id_type", "open_id")
        if id_type not in ("open_id", "user_id", "union_id"):
            return _error(400, 99992402, "field validation failed: user_id_type")
        user = self._recipient(id_type, request.match_info["user_id"])
        if user is None:
            return _error(400, 41050, "no user authority error")
        return _answer({"user": {"open_id": user.open_id, "user_id": user.user_id, "union_id": user.union_id,
                                 "name": user.name}})


    def _id_of(self, open_id: str, id_type: str) -> str:
        user = self.users.get(open_id)
        return getattr(user, id_type) if user is not None else ""

    def _paged(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        size = int(request.query.get("page_size", "20"))
        if not 1 <= size <= 50:
            return _error(400, 99992402, "field validation failed: page_size")
        start = int(request.query.get("page_token") or 0)
        page = items[start:start + size]
        more = start + size < len(items)
        return _answer({"items": page, "has_more": more, **({"page_token": str(start + size)} if more else {})})

    async def _departments(self, request: web.Request) -> web.Response:
        app = self._authorized(request)
        if isinstance(app, web.Response):
            return app
        id_type = request.query.get("user_id_type", "open_id")
        items = [{"open_department_id": d, "department_id": d, "parent_department_id": "0",
                  "leader_user_id": self._id_of(leader, id_type)} for d, leader in sorted(self.departments.items())]
        return self._paged(request, items)

    async def _department_users(self, request: web.Request) -> web.Response:
        app = self._authorized(request)
        if isinstance(app, web.Response):
            return app
        dept = request.query.get("department_id")
        if dept is None or (dept != "0" and dept not in self.departments):
            return _error(400, 40003, "invalid department_id")
        items = [{"open_id": u.open_id, "user_id": u.user_id, "union_id": u.union_id, "name": u.name,
                  "mobile": u.mobile, "department_ids": [u.department],
                  "status": {"is_activated": not u.resigned, "is_resigned": u.resigned, "is_frozen": False}}
                 for u in sorted(self.users.values(), key=lambda u: u.open_id)
                 if u.department == dept and u.visible]
        return self._paged(request, items)


def _message_problem(body: dict[str, Any]) -> tuple[int, str] | None:
    msg_type, content = body.get("msg_type"), body.get("content")
    if msg_type not in MSG_TYPES:
        return 230001, "invalid msg_type"
    if not isinstance(content, str):
        return 99992402, "field validation failed: content must be a JSON string"
    if "uuid" in body and (not isinstance(body["uuid"], str) or len(body["uuid"]) > 50):
        return 99992402, "field validation failed: uuid"
    if msg_type == "interactive":
        return _card_problem(content)
    try:
        parsed = json.loads(content)
    except ValueError:
        return 230001, "content is not JSON"
    if msg_type == "text" and not (isinstance(parsed, dict) and isinstance(parsed.get("text"), str)):
        return 230001, "text content needs text"
    return None


def _card_problem(content: Any) -> tuple[int, str] | None:
    """Card JSON 2.0 as Feishu checks it (the parts our cards use)."""
    if not isinstance(content, str):
        return 99992402, "field validation failed: content must be a JSON string"
    if len(content.encode()) > MAX_CARD_BYTES:
        return 230025, "The length of the message content reaches its limit."
    try:
        card = json.loads(content)
    except ValueError:
        return 230099, "Failed to create card content: not JSON"
    if not isinstance(card, dict) or card.get("schema") != "2.0":
        return 230099, "Failed to create card content: schema 2.0 expected"
    header = card.get("header")
    if header is not None and not (isinstance(header, dict) and _plain_text(header.get("title"))):
        return 230099, "Failed to create card content: header.title"
    elements = (card.get("body") or {}).get("elements") if isinstance(card.get("body"), dict) else None
    if not isinstance(elements, list):
        return 230099, "Failed to create card content: body.elements"
    for element in _walk(elements):
        problem = _element_problem(element)
        if problem is not None:
            return 230099, f"Failed to create card content: {problem}"
    return None


def _plain_text(value: Any) -> bool:
    return isinstance(value, dict) and value.get("tag") in ("plain_text", "lark_md") and isinstance(
        value.get("content"), str)


def _walk(elements: list[Any]) -> list[Any]:
    out = []
    for e in elements:
        out.append(e)
        if isinstance(e, dict) and e.get("tag") == "column_set":
            for column in e.get("columns") or []:
                out += _walk(column.get("elements") or []) if isinstance(column, dict) else [column]
    return out


def _element_problem(e: Any) -> str | None:
    if not isinstance(e, dict) or not isinstance(e.get("tag"), str):
        return "element without a tag"
    if e["tag"] == "markdown" and not isinstance(e.get("content"), str):
        return "markdown.content"
    if e["tag"] == "button":
        if not _plain_text(e.get("text")) or e.get("type", "default") not in BUTTON_TYPES:
            return "button.text/type"
        behaviors = e.get("behaviors")
        if not isinstance(behaviors, list) or not behaviors:
            return "button.behaviors"
        for b in behaviors:
            if not isinstance(b, dict) or b.get("type") not in ("callback", "open_url"):
                return "button.behaviors.type"
            if b["type"] == "callback" and not isinstance(b.get("value"), dict):
                return "button.behaviors.value"
            if b["type"] == "open_url" and not isinstance(b.get("default_url"), str):
                return "button.behaviors.default_url"
    return None


# -- what Feishu pushes ----------------------------------------------------------------------------------------------


def seal(encrypt_key: str, plaintext: str) -> str:
    """Feishu's envelope: base64(iv | AES-256-CBC(SHA-256(key), iv, PKCS#7(plaintext)))."""
    iv = secrets.token_bytes(16)
    data = plaintext.encode()
    pad = 16 - len(data) % 16
    cipher = AES.new(hashlib.sha256(encrypt_key.encode()).digest(), AES.MODE_CBC, iv)
    return base64.b64encode(iv + cipher.encrypt(data + bytes([pad]) * pad)).decode()


def sign(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def event(event_type: str, body: dict[str, Any], *, token: str, app_id: str, event_id: str | None = None,
          create_time_ms: int | None = None) -> dict[str, Any]:
    return {"schema": "2.0",
            "header": {"event_id": event_id or uuid.uuid4().hex, "event_type": event_type,
                       "create_time": str(create_time_ms if create_time_ms is not None else int(time.time() * 1000)),
                       "token": token, "app_id": app_id, "tenant_key": "tenant-sim"},
            "event": body}


def message_event(user: SimUser, message_type: str, content: dict[str, Any], *, token: str, app_id: str,
                  message_id: str | None = None, **kw: Any) -> dict[str, Any]:
    body = {"sender": {"sender_id": {"open_id": user.open_id, "user_id": user.user_id, "union_id": user.union_id},
                       "sender_type": "user", "tenant_key": "tenant-sim"},
            "message": {"message_id": message_id or "om_" + secrets.token_hex(16),
                        "create_time": str(int(time.time() * 1000)), "chat_id": "oc_" + user.open_id[3:],
                        "chat_type": "p2p", "message_type": message_type,
                        "content": json.dumps(content, ensure_ascii=False)}}
    return event("im.message.receive_v1", body, token=token, app_id=app_id, **kw)


def card_action_event(user: SimUser, value: dict[str, Any], *, message_id: str, card_token: str, token: str,
                      app_id: str, **kw: Any) -> dict[str, Any]:
    body = {"operator": {"tenant_key": "tenant-sim", "open_id": user.open_id, "user_id": user.user_id,
                         "union_id": user.union_id},
            "token": card_token,
            "action": {"value": value, "tag": "button"},
            "host": "im_message",
            "context": {"open_message_id": message_id, "open_chat_id": "oc_" + user.open_id[3:]}}
    return event("card.action.trigger", body, token=token, app_id=app_id, **kw)


def url_verification(token: str, challenge: str | None = None) -> dict[str, Any]:
    return {"challenge": challenge or secrets.token_urlsafe(12), "token": token, "type": "url_verification"}


@dataclass
class Push:
    url: str
    body: bytes
    headers: dict[str, str]
    status: int = 0
    answer: bytes = b""
    attempts: int = 0
    history: list[int] = field(default_factory=list)


class PushSender:
    """Posts pushes as Feishu does: encrypted and signed when the app has an Encrypt Key, plain otherwise."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    def build(self, url: str, payload: dict[str, Any], *, encrypt_key: str | None, timestamp: int | None = None,
              signed: bool = True) -> Push:
        plain = json.dumps(payload, ensure_ascii=False)
        body = json.dumps({"encrypt": seal(encrypt_key, plain)}).encode() if encrypt_key else plain.encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if encrypt_key and signed:
            ts = str(timestamp if timestamp is not None else int(time.time()))
            nonce = secrets.token_hex(8)
            headers |= {"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce,
                        "X-Lark-Signature": sign(ts, nonce, encrypt_key, body)}
        return Push(url, body, headers)

    async def post(self, push: Push) -> Push:
        async with self._session.post(push.url, data=push.body, headers=push.headers) as resp:
            push.status = resp.status
            push.answer = await resp.read()
        push.attempts += 1
        push.history.append(push.status)
        return push

    async def send(self, url: str, payload: dict[str, Any], *, encrypt_key: str | None,
                   timestamp: int | None = None, signed: bool = True) -> Push:
        return await self.post(self.build(url, payload, encrypt_key=encrypt_key, timestamp=timestamp, signed=signed))
