"""A DingTalk stand-in for tests: the HTTP APIs an app calls, and a sender of the callbacks DingTalk makes.

`DingTalkSimulator` is an aiohttp app on 127.0.0.1:0 that speaks the real wire format (v1.0 JSON errors with HTTP
status, oapi errcodes, msgParam as a JSON string, card instance lifecycle, custom robot signing and its 20/min
limit). Point an app's `api_base` at `sim.base_url`. What it receives is checked as DingTalk does: a body sent as
`application/json` (v1.0: HTTP 400 `InvalidParameter.ContentType`; oapi: errcode 43004), a JSON object, at most
1 MiB, and the token where each generation takes it (v1.0: the `x-acs-dingtalk-access-token` header only; oapi:
the `access_token` query parameter only). `CallbackSender` posts what DingTalk posts to us: robot
messages with `timestamp`/`sign` headers, encrypted events (sealed with wechatpy, an implementation independent of
ours), card callbacks, and redeliveries of any of them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

V1_TOKEN_HEADER = "x-acs-dingtalk-access-token"
MSG_KEYS = {"sampleText": ("content",), "sampleMarkdown": ("title", "text"), "sampleImageMsg": ("photoURL",),
            "sampleLink": ("text", "title", "messageUrl"), "sampleActionCard": ("title", "text")}
WEBHOOK_MSGTYPES = {"text", "markdown", "link", "actionCard", "feedCard"}
JSON_BODY = web.RequestKey("json_body", object)
MAX_BODY_BYTES = 1 << 20


@dataclass
class SimApp:
    app_key: str
    app_secret: str
    robot_code: str
    agent_id: int | None
    users: set[str]
    # Permissions the app was not granted (权限管理): v1.0 calls needing one answer 403 with requiredScopes,
    # oapi calls errcode 88 / sub_code 60011.
    denied_scopes: set[str] = field(default_factory=set)


@dataclass
class SimCard:
    out_track_id: str
    app_key: str
    template_id: str
    to: str
    callback_type: str
    route_key: str | None
    card_data: dict[str, str]
    private_data: dict[str, dict[str, str]]
    updates: int = 0


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Injection:
    status: int | None
    code: str | None
    message: str
    errcode: int | None
    hang_s: float | None
    times: int


@dataclass
class WebhookRobot:
    secret: str | None
    sent: list[dict[str, Any]] = field(default_factory=list)
    window: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0


def _v1_error(status: int, code: str, message: str) -> web.Response:
    rid = uuid.uuid4().hex
    return web.json_response({"code": code, "message": message, "requestid": rid}, status=status,
                             headers={"x-acs-request-id": rid})


def _oapi_error(errcode: int, errmsg: str) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg, "request_id": uuid.uuid4().hex})


class DingTalkSimulator:
    def __init__(self, *, token_ttl_s: int = 7200, webhook_limit: int = 20, webhook_block_s: float = 600,
                 user_flow_limit: int | None = None, file_url_ttl_s: float = 300) -> None:
        self.token_ttl_s = token_ttl_s
        self.webhook_limit = webhook_limit
        self.webhook_block_s = webhook_block_s
        self.user_flow_limit = user_flow_limit
        self.file_url_ttl_s = file_url_ttl_s
        self.apps: dict[str, SimApp] = {}
        self.tokens: dict[str, tuple[str, float]] = {}
        self.token_fetches = 0
        self.requests: list[LoggedRequest] = []
        self.messages: list[dict[str, Any]] = []
        self.cards: dict[str, SimCard] = {}
        self.notices: list[dict[str, Any]] = []
        self.callbacks: dict[str, tuple[str, str | None]] = {}
        self.robots: dict[str, WebhookRobot] = {}
        self.files: dict[str, tuple[bytes, str]] = {}
        self._file_urls: dict[str, tuple[str, float]] = {}
        self._injections: dict[str, deque[Injection]] = defaultdict(deque)
        self._user_sends: dict[str, deque[float]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        # The address DingTalk sees us call from, when it is outside the app's 服务器出口IP list: then every API
        # call but the token answers the IP refusal (v1.0 403 Forbidden.AccessDenied.IpNotInWhiteList, oapi 60020).
        self.untrusted_ip: str | None = None
        # The org chart: dept_id -> (name, parent_id); members: userid -> (name, dept ids, leader of, mobile, active)
        self.departments: dict[int, tuple[str, int]] = {1: ("根部门", 0)}
        self.people: dict[str, dict[str, Any]] = {}

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=4 * MAX_BODY_BYTES)
        app.router.add_post("/v1.0/oauth2/accessToken", self._access_token)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self._batch_send)
        app.router.add_post("/v1.0/card/instances/createAndDeliver", self._create_and_deliver)
        app.router.add_put("/v1.0/card/instances", self._update_card)
        app.router.add_post("/v1.0/card/callbacks/register", self._register_callback)
        app.router.add_post("/v1.0/robot/messageFiles/download", self._file_download)
        app.router.add_get("/sim/files/{nonce}", self._file_get)
        app.router.add_post("/topapi/message/corpconversation/asyncsend_v2", self._work_notice)
        app.router.add_post("/robot/send", self._webhook)
        app.router.add_post("/topapi/v2/department/listsub", self._listsub)
        app.router.add_post("/topapi/v2/user/list", self._user_list)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self._app(), handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> DingTalkSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- test controls ------------------------------------------------------------------------------------------

    def add_app(self, app_key: str, app_secret: str, *, robot_code: str | None = None, agent_id: int | None = None,
                users: tuple[str, ...] | list[str] = ()) -> SimApp:
        app = SimApp(app_key, app_secret, robot_code or app_key, agent_id, set(users))
        self.apps[app_key] = app
        return app

    def add_person(self, userid: str, name: str, dept_ids: list[int], *, leader: bool = False, mobile: str = "",
                   active: bool = True) -> None:
        self.people[userid] = {"userid": userid, "name": name, "dept_id_list": list(dept_ids), "leader": leader,
                               "mobile": mobile, "active": active}

    def add_file(self, download_code: str, data: bytes, content_type: str = "audio/amr") -> None:
        self.files[download_code] = (data, content_type)

    def add_webhook_robot(self, secret: str | None = None) -> str:
        token = secrets.token_hex(16)
        self.robots[token] = WebhookRobot(secret)
        return f"{self.base_url}/robot/send?access_token={token}"

    def expire_tokens(self) -> None:
        self.tokens = {t: (app, 0.0) for t, (app, _) in self.tokens.items()}

    def revoke_token(self, token: str) -> None:
        self.tokens.pop(token, None)

    def inject(self, path: str, *, status: int | None = None, code: str | None = None, message: str = "injected",
               errcode: int | None = None, hang_s: float | None = None, times: int = 1) -> None:
        """The next `times` requests to `path` answer with this error (or hang `hang_s` first)."""
        self._injections[path].append(Injection(status, code, message, errcode, hang_s, times))

    def requests_to(self, path: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.path == path]

    # -- plumbing -----------------------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        request[JSON_BODY] = body
        self.requests.append(LoggedRequest(request.method, request.path, dict(request.query),
                                           dict(request.headers), body))
        if (refusal := _wire_refusal(request, raw, body)) is not None:
            return refusal
        queue = self._injections.get(request.path)
        if queue:
            inj = queue[0]
            inj.times -= 1
            if inj.times <= 0:
                queue.popleft()
            if inj.hang_s:
                await asyncio.sleep(inj.hang_s)
            if inj.errcode is not None:
                return _oapi_error(inj.errcode, inj.message)
            if inj.status is not None:
                return _v1_error(inj.status, inj.code or f"HTTP{inj.status}", inj.message)
        return await handler(request)

    def _v1_app(self, request: web.Request, scope: str | None = None) -> SimApp | web.Response:
        token = request.headers.get(V1_TOKEN_HEADER)
        if not token:
            return _v1_error(400, "AuthenticationFailed.MissingParameter", "缺少参数 x-acs-dingtalk-access-token")
        app_key, expires_at = self.tokens.get(token, ("", 0.0))
        if not app_key or expires_at <= time.time():
            return _v1_error(401, "InvalidAuthentication", "不合法的access_token")
        if self.untrusted_ip:
            return _v1_error(403, "Forbidden.AccessDenied.IpNotInWhiteList",
                             f"访问ip不在白名单之中，请求ip为：{self.untrusted_ip}")
        app = self.apps[app_key]
        if scope is not None and scope in app.denied_scopes:
            rid = uuid.uuid4().hex
            return web.json_response({
                "code": "Forbidden.AccessDenied.AccessTokenPermissionDenied", "requestid": rid,
                "message": "没有调用该接口的权限，接口权限申请参考：https://open.dingtalk.com/document/orgapp-server/"
                           "add-api-permission", "accessdenieddetail": {"requiredScopes": [scope]}},
                status=403, headers={"x-acs-request-id": rid})
        return app

    def _oapi_app(self, request: web.Request, scope: str | None = None) -> SimApp | web.Response:
        app_key, expires_at = self.tokens.get(request.query.get("access_token", ""), ("", 0.0))
        if not app_key or expires_at <= time.time():
            return _oapi_error(40014, "不合法的access_token")
        if self.untrusted_ip:
            return _oapi_error(60020, f"访问ip不在白名单之中，请求ip为：{self.untrusted_ip}")
        app = self.apps[app_key]
        if scope is not None and scope in app.denied_scopes:
            return web.json_response({"errcode": 88, "errmsg": f"ding talk error[subcode=60011,submsg=没有调用该接口的"
                                      f"权限，接口权限申请参考：https://open.dingtalk.com (scope {scope})]",
                                      "sub_code": "60011", "sub_msg": "没有调用该接口的权限",
                                      "request_id": uuid.uuid4().hex})
        return app

    async def _listsub(self, request: web.Request) -> web.Response:
        app = self._oapi_app(request, "qyapi_get_department_list")
        if isinstance(app, web.Response):
            return app
        parent = int(self._body(request).get("dept_id") or 1)
        if parent not in self.departments:
            return _oapi_error(60003, "部门不存在")
        return web.json_response({"errcode": 0, "errmsg": "ok", "request_id": uuid.uuid4().hex, "result": [
            {"dept_id": d, "name": name, "parent_id": p, "create_dept_group": False, "auto_add_user": False}
            for d, (name, p) in sorted(self.departments.items()) if p == parent]})

    async def _user_list(self, request: web.Request) -> web.Response:
        app = self._oapi_app(request, "qyapi_get_member")
        if isinstance(app, web.Response):
            return app
        body = self._body(request)
        dept, cursor, size = int(body.get("dept_id") or 0), int(body.get("cursor") or 0), int(body.get("size") or 0)
        if dept not in self.departments or not 0 < size <= 100:
            return _oapi_error(40035, "缺少参数或参数不合法")
        members = [p for _, p in sorted(self.people.items()) if dept in p["dept_id_list"]]
        page = members[cursor:cursor + size]
        more = cursor + size < len(members)
        result: dict[str, Any] = {"has_more": more, "list": [
            {**{k: v for k, v in p.items() if k != "leader"}, "leader": bool(p["leader"]) and dept == p["dept_id_list"][0]}
            for p in page]}
        if more:
            result["next_cursor"] = cursor + size
        return web.json_response({"errcode": 0, "errmsg": "ok", "request_id": uuid.uuid4().hex, "result": result})

    @staticmethod
    def _body(request: web.Request) -> dict[str, Any]:
        body = request[JSON_BODY]
        return body if isinstance(body, dict) else {}

    # -- v1.0 ---------------------------------------------------------------------------------------------------

    async def _access_token(self, request: web.Request) -> web.Response:
        body = self._body(request)
        app = self.apps.get(str(body.get("appKey")))
        if app is None or body.get("appSecret") != app.app_secret:
            return _v1_error(400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
        token = secrets.token_hex(16)
        self.tokens[token] = (app.app_key, time.time() + self.token_ttl_s)
        self.token_fetches += 1
        return web.json_response({"accessToken": token, "expireIn": self.token_ttl_s})

    def _flow_controlled(self, user: str) -> bool:
        if self.user_flow_limit is None:
            return False
        window = self._user_sends[user]
        now = time.time()
        while window and window[0] < now - 60:
            window.popleft()
        if len(window) >= self.user_flow_limit:
            return True
        window.append(now)
        return False

    async def _batch_send(self, request: web.Request) -> web.Response:
        app = self._v1_app(request, "qyapi_robot_sendmsg")
        if isinstance(app, web.Response):
            return app
        body = self._body(request)
        if body.get("robotCode") != app.robot_code:
            return _v1_error(400, "invalidParameter.robotCode", "robotCode 不存在")
        fields = MSG_KEYS.get(str(body.get("msgKey")))
        param_text = body.get("msgParam")
        if fields is None:
            return _v1_error(400, "invalidParameter.msgKey", "机器人模板已经停用")
        try:
            param = json.loads(param_text) if isinstance(param_text, str) else None
        except ValueError:
            param = None
        if not isinstance(param, dict) or any(not isinstance(param.get(f), str) for f in fields):
            return _v1_error(400, "invalidParameter.msgParam", "msgParam 必须是 JSON 字符串")
        users = body.get("userIds")
        if not isinstance(users, list) or not 0 < len(users) <= 20:
            return _v1_error(400, "invalidParameter.userIds", "userIds 1..20")
        invalid = [u for u in users if u not in app.users]
        limited = [u for u in users if u in app.users and self._flow_controlled(u)]
        for user in users:
            if user not in invalid and user not in limited:
                self.messages.append({"app": app.app_key, "to": user, "msgKey": body["msgKey"], "param": param})
        return web.json_response({"processQueryKey": uuid.uuid4().hex, "invalidStaffIdList": invalid,
                                  "flowControlledStaffIdList": limited})

    async def _create_and_deliver(self, request: web.Request) -> web.Response:
        app = self._v1_app(request, "Card.Instance.Write")
        if isinstance(app, web.Response):
            return app
        body = self._body(request)
        problem = _card_create_problem(body, app)
        if problem:
            return _v1_error(400, *problem)
        track = body["outTrackId"]
        if track in self.cards:
            return _v1_error(400, "param.cardAlreadyExist", "卡片已经存在")
        user = body["openSpaceId"].split("IM_ROBOT.", 1)[1]
        if user not in app.users:
            return _v1_error(400, "param.userIdNotExist", "用户user不存在")
        self.cards[track] = SimCard(track, app.app_key, body["cardTemplateId"], user, body["callbackType"],
                                    body.get("callbackRouteKey"), dict(body["cardData"]["cardParamMap"]),
                                    _private_maps(body.get("privateData")))
        return web.json_response({"success": True, "result": {"outTrackId": track, "deliverResults": [
            {"spaceType": "IM_ROBOT", "spaceId": user, "success": True, "carrierId": uuid.uuid4().hex}]}})

    async def _update_card(self, request: web.Request) -> web.Response:
        app = self._v1_app(request, "Card.Instance.Write")
        if isinstance(app, web.Response):
            return app
        body = self._body(request)
        card = self.cards.get(str(body.get("outTrackId")))
        if card is None or card.app_key != app.app_key:
            return _v1_error(400, "param.cardNotExist", "卡片不存在")
        params = (body.get("cardData") or {}).get("cardParamMap")
        if params is not None and not _str_map(params):
            return _v1_error(400, "param.invalid", "cardParamMap 只支持 String")
        by_key = (body.get("cardUpdateOptions") or {}).get("updateCardDataByKey", False)
        if params is not None:
            card.card_data = {**card.card_data, **params} if by_key else dict(params)
        for uid, data in _private_maps(body.get("privateData")).items():
            card.private_data[uid] = {**card.private_data.get(uid, {}), **data}
        card.updates += 1
        return web.json_response({"success": True, "result": True})

    async def _register_callback(self, request: web.Request) -> web.Response:
        app = self._v1_app(request)
        if isinstance(app, web.Response):
            return app
        body = self._body(request)
        key, url = body.get("callbackRouteKey"), body.get("callbackUrl")
        if not key or not url:
            return _v1_error(400, "param.callbackRouteKeyEmpty" if not key else "param.callbackUrlEmpty", "empty")
        if key in self.callbacks and not body.get("forceUpdate"):
            return _v1_error(500, "param.callbackRouteKeyExist", "回调 RouteKey 已存在")
        self.callbacks[key] = (url, body.get("apiSecret"))
        return web.json_response({"success": True, "result": {"callbackUrl": url, "apiSecret": body.get("apiSecret")}})

    async def _file_download(self, request: web.Request) -> web.Response:
        app = self._v1_app(request, "qyapi_robot_sendmsg")
        if isinstance(app, web.Response):
            return app
        body = self._body(request)
        if body.get("robotCode") != app.robot_code:
            return _v1_error(400, "invalidParameter.robotCode", "robotCode 不存在")
        code = body.get("downloadCode")
        if code not in self.files:
            return _v1_error(400, "invalidParameter.downloadCode", "downloadCode 无效")
        nonce = secrets.token_urlsafe(16)
        self._file_urls[nonce] = (code, time.time() + self.file_url_ttl_s)
        return web.json_response({"downloadUrl": f"{self.base_url}/sim/files/{nonce}"})

    async def _file_get(self, request: web.Request) -> web.Response:
        code, expires_at = self._file_urls.get(request.match_info["nonce"], ("", 0.0))
        if not code or expires_at <= time.time():
            return web.Response(status=403, text="<Error><Code>AccessDenied</Code></Error>",
                                content_type="application/xml")
        data, content_type = self.files[code]
        return web.Response(body=data, content_type=content_type)

    # -- oapi ---------------------------------------------------------------------------------------------------

    async def _work_notice(self, request: web.Request) -> web.Response:
        app = self._oapi_app(request)
        if isinstance(app, web.Response):
            return app
        body = self._body(request)
        if app.agent_id is None or body.get("agent_id") != app.agent_id:
            return _oapi_error(40056, "不合法的agentid")
        users = str(body.get("userid_list") or "")
        msg = body.get("msg")
        if not users or not isinstance(msg, dict) or msg.get("msgtype") not in msg:
            return _oapi_error(40035, "缺少参数")
        task_id = len(self.notices) + 1
        self.notices.append({"app": app.app_key, "users": users.split(","), "msg": msg, "task_id": task_id})
        return web.json_response({"errcode": 0, "errmsg": "ok", "task_id": task_id, "request_id": uuid.uuid4().hex})

    async def _webhook(self, request: web.Request) -> web.Response:
        robot = self.robots.get(request.query.get("access_token", ""))
        if robot is None:
            return _oapi_error(300005, "token is not exist")
        if robot.secret is not None and not _webhook_sign_ok(request.query, robot.secret):
            return _oapi_error(310000, "sign not match")
        now = time.time()
        if robot.blocked_until > now:
            return _oapi_error(130101, "send too fast, exceed 20 times per minute")
        while robot.window and robot.window[0] < now - 60:
            robot.window.popleft()
        if len(robot.window) >= self.webhook_limit:
            robot.blocked_until = now + self.webhook_block_s
            return _oapi_error(130101, "send too fast, exceed 20 times per minute")
        body = self._body(request)
        msgtype = body.get("msgtype")
        if msgtype not in WEBHOOK_MSGTYPES or not isinstance(body.get(msgtype), dict):
            return _oapi_error(40035, "缺少参数 msgtype")
        robot.window.append(now)
        robot.sent.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})


def _wire_refusal(request: web.Request, raw: bytes, body: Any) -> web.Response | None:
    """What DingTalk refuses before reading a call: a body that is not JSON sent as JSON, or too large."""
    if request.method not in ("POST", "PUT") or request.path.startswith("/sim/"):
        return None
    v1 = request.path.startswith("/v1.0/")
    if len(raw) > MAX_BODY_BYTES:
        return _v1_error(413, "RequestTooLarge", "请求体过大") if v1 else _oapi_error(40058, "请求体过大")
    if request.content_type != "application/json":
        if v1:
            return _v1_error(400, "InvalidParameter.ContentType", f"不支持的Content-Type: {request.content_type}")
        return _oapi_error(43004, "无效的HTTP HEADER Content-Type")
    if not isinstance(body, dict):
        return _v1_error(400, "InvalidParameter", "请求体不是合法的JSON") if v1 else _oapi_error(40058, "不合法的参数")
    return None


def _str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _private_maps(private: Any) -> dict[str, dict[str, str]]:
    if not isinstance(private, dict):
        return {}
    return {uid: dict(v["cardParamMap"]) for uid, v in private.items()
            if isinstance(v, dict) and _str_map(v.get("cardParamMap"))}


def _card_create_problem(body: dict[str, Any], app: SimApp) -> tuple[str, str] | None:
    """What DingTalk would refuse in a createAndDeliver body for a robot 1:1 chat, as (code, message)."""
    if not body.get("cardTemplateId"):
        return "param.cardTemplateIdEmpty", "卡片模板Id为空"
    if not body.get("outTrackId"):
        return "param.outTrackIdEmpty", "业务标识outTrackId为空"
    if not _str_map((body.get("cardData") or {}).get("cardParamMap")):
        return "param.cardPublicDataEmpty", "卡片公共数据为空或不是 String"
    space = body.get("openSpaceId")
    if not isinstance(space, str) or not space.startswith("dtv1.card//IM_ROBOT."):
        return "param.openSpaceIdInvalid", "openSpaceId不符合规范"
    deliver = body.get("imRobotOpenDeliverModel")
    if not isinstance(deliver, dict) or deliver.get("spaceType") != "IM_ROBOT":
        return "param.openDeliverModelEmpty", "场域投放模型为空"
    if deliver.get("robotCode") not in (None, app.robot_code):
        return "param.invalid", "robotCode 不存在"
    if body.get("callbackType") not in ("STREAM", "HTTP"):
        return "param.invalid", "callbackType 只能是 STREAM 或 HTTP"
    if body["callbackType"] == "HTTP" and not body.get("callbackRouteKey"):
        return "param.invalid", "HTTP 回调需要 callbackRouteKey"
    return None


def _dingtalk_sign(timestamp: str, secret: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def _webhook_sign_ok(query: Any, secret: str) -> bool:
    ts, sign = query.get("timestamp", ""), query.get("sign", "")
    if not ts.isdigit() or abs(time.time() * 1000 - int(ts)) > 3_600_000:
        return False
    return hmac.compare_digest(_dingtalk_sign(ts, secret), sign)


# -- callbacks DingTalk makes to us -----------------------------------------------------------------------------


@dataclass
class Delivery:
    """One callback as sent (kept whole so it can be redelivered byte for byte) and what we answered."""

    url: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    answer: bytes = b""
    accepted: bool = False
    attempts: int = 0


def robot_message(msg_id: str, sender: str, msgtype: str = "text", *, text: str = "",
                  content: dict[str, Any] | None = None, robot_code: str = "", create_at_ms: int | None = None,
                  conversation_id: str = "cid-single") -> dict[str, Any]:
    """A robot message body as DingTalk posts it for a 1:1 chat."""
    now = create_at_ms or int(time.time() * 1000)
    payload: dict[str, Any] = {
        "conversationId": conversation_id, "chatbotCorpId": "dingcorp", "chatbotUserId": "$:LWCP_v1:$bot",
        "msgId": msg_id, "senderNick": sender, "isAdmin": False, "senderStaffId": sender,
        "sessionWebhookExpiredTime": now + 90 * 60 * 1000, "createAt": now, "senderCorpId": "dingcorp",
        "conversationType": "1", "senderId": f"$:LWCP_v1:${sender}", "robotCode": robot_code,
        "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=" + uuid.uuid4().hex,
        "msgtype": msgtype,
    }
    if msgtype == "text":
        payload["text"] = {"content": text}
    else:
        payload["content"] = content or {}
    return payload


def card_click(out_track_id: str, user_id: str, action_id: str, params: dict[str, Any] | None = None,
               *, corp_id: str = "dingcorp") -> dict[str, Any]:
    """A card callback body (unified card instances; `content` and `value` both carry the JSON string)."""
    content = json.dumps({"cardPrivateData": {"actionIds": [action_id], "params": params or {}}})
    return {"extension": "{}", "corpId": corp_id, "spaceType": "IM_ROBOT", "userIdType": 1,
            "type": "actionCallback", "userId": user_id, "content": content, "spaceId": user_id,
            "outTrackId": out_track_id, "value": content}


class CallbackSender:
    """Posts callbacks the way DingTalk does and retries the way it does when our answer is not right."""

    def __init__(self, session: aiohttp.ClientSession, *, reply_timeout_s: float = 5.0) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=reply_timeout_s)

    async def _post(self, delivery: Delivery, accept: Any) -> Delivery:
        delivery.attempts += 1
        try:
            async with self._session.post(delivery.url, data=delivery.body, headers=delivery.headers,
                                          timeout=self._timeout) as resp:
                delivery.status, delivery.answer = resp.status, await resp.read()
        except (TimeoutError, aiohttp.ClientError):
            delivery.status, delivery.answer = 0, b""
        delivery.accepted = delivery.status == 200 and accept(delivery.answer)
        return delivery

    async def _deliver(self, delivery: Delivery, accept: Any, attempts: int) -> Delivery:
        for _ in range(attempts):
            if (await self._post(delivery, accept)).accepted:
                break
        return delivery

    async def redeliver(self, delivery: Delivery) -> Delivery:
        """The same request again, as DingTalk's retry would send it."""
        return await self._post(delivery, lambda _: True)

    async def robot_message(self, url: str, app_secret: str, payload: dict[str, Any], *,
                            timestamp_ms: int | None = None, sign: str | None = None,
                            attempts: int = 1) -> Delivery:
        ts = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
        headers = {"Content-Type": "application/json; charset=utf-8", "timestamp": ts,
                   "sign": sign if sign is not None else _dingtalk_sign(ts, app_secret)}
        body = json.dumps(payload, ensure_ascii=False).encode()
        return await self._deliver(Delivery(url, headers, body), lambda _: True, attempts)

    async def card_callback(self, url: str, api_secret: str, payload: dict[str, Any], *,
                            attempts: int = 1) -> Delivery:
        """HTTP-mode card callback. DingTalk's docs do not show how `apiSecret` signs it; we sign it like a
        robot callback (timestamp/sign headers keyed with the registered apiSecret)."""
        return await self.robot_message(url, api_secret, payload, attempts=attempts)

    async def event(self, url: str, *, token: str, aes_key: str, owner_key: str, event: dict[str, Any],
                    attempts: int = 3, nonce: str | None = None) -> Delivery:
        """An encrypted event push; accepted only when the answer is the encrypted `success` map."""
        from wechatpy.crypto import PrpCrypto, _get_signature  # an independent implementation of the scheme

        key = base64.b64decode(aes_key + "=")
        encrypt = PrpCrypto(key).encrypt(json.dumps(event, ensure_ascii=False), owner_key).decode()
        ts, nonce = str(int(time.time() * 1000)), nonce or secrets.token_hex(4)
        query = f"signature={_get_signature(token, ts, nonce, encrypt)}&timestamp={ts}&nonce={nonce}"
        sep = "&" if "?" in url else "?"
        delivery = Delivery(f"{url}{sep}{query}", {"Content-Type": "application/json"},
                            json.dumps({"encrypt": encrypt}).encode())

        def accept(answer: bytes) -> bool:
            return _success_reply_ok(answer, token, key, owner_key)

        return await self._deliver(delivery, accept, attempts)


def _success_reply_ok(answer: bytes, token: str, key: bytes, owner_key: str) -> bool:
    from wechatpy.crypto import PrpCrypto, _get_signature

    try:
        reply = json.loads(answer)
        expected = _get_signature(token, reply["timeStamp"], reply["nonce"], reply["encrypt"])
        return expected == reply["msg_signature"] and PrpCrypto(key).decrypt(reply["encrypt"], owner_key) == "success"
    except Exception:  # any malformed answer is simply "not accepted", as DingTalk counts it
        return False
