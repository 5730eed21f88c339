"""A WeCom stand-in for tests: the server side of the API (`WeComSimulator`) and the callback side (`CallbackSender`).

The simulator answers on 127.0.0.1 under `/cgi-bin/` like qyapi.weixin.qq.com: tokens that expire on a clock the
test controls and can be revoked, message/send with recipient checks and WeCom's silent per-member drop,
single-use response codes on update_template_card, media/get with its JSON error body, and per-endpoint error
injection. Every request is logged for assertions. It checks what it receives the way WeCom answers it: the method
of each API (43001/43002), the access token in the query string and nowhere else (41001), a JSON body sent as JSON
(47001 for a form or other content type, or a body that is not a UTF-8 JSON object), required fields (41002
corpid, 41004 corpsecret, 41011 agentid, 40035 response_code, 82001 no recipient) and sizes (45002 text over 2048
bytes / markdown over 4096, 42019 a button key over 1024 bytes, 44005 a body over 512 KiB).

`CallbackSender` encrypts callbacks with its own implementation of the scheme (pycryptodome and hand-written
framing; it shares no code with `bot.platforms.wecom.crypto` or wechatpy) and delivers them as WeCom does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from Crypto.Cipher import AES

INTERACTIVE_CARDS = frozenset({"button_interaction", "vote_interaction", "multiple_interaction"})
# How each API must be called: WeCom answers 43001/43002 for the other method.
METHODS = {"gettoken": "GET", "message/send": "POST", "message/update_template_card": "POST", "media/get": "GET",
           "agent/get": "GET", "department/list": "GET", "user/list": "GET"}
MAX_BODY_BYTES = 512 * 1024
TEXT_MAX_BYTES = {"text": 2048, "markdown": 4096}
BUTTON_KEY_MAX_BYTES = 1024
_TASK_ID = re.compile(r"^[0-9A-Za-z_\-@]{1,128}$")
_JSON = "application/json; charset=UTF-8"


class SimClock:
    """The simulator's time: starts at a fixed epoch and moves only when a test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class SimApp:
    agent_id: int
    secret: str
    members: set[str]
    unlicensed: set[str] = field(default_factory=set)  # members without an interface licence: never reached
    name: str = "销售助手"
    close: int = 0  # 1: disabled in the console
    # 可见范围 as agent/get answers it; None: exactly `members` as users (no departments or tags)
    allow_users: set[str] | None = None
    allow_parties: set[int] = field(default_factory=set)
    allow_tags: set[int] = field(default_factory=set)
    contacts_readable: bool = True  # department/list and user/list allowed (else 48002)


@dataclass
class Dept:
    id: int
    name: str
    parentid: int
    leaders: list[str] = field(default_factory=list)


@dataclass
class Person:
    userid: str
    name: str
    department: list[int]
    mobile: str = ""
    status: int = 1  # 1 active, 2 disabled, 4 not activated, 5 left
    leader_in: set[int] = field(default_factory=set)


@dataclass
class Request:
    method: str
    api: str
    query: dict[str, str]
    body: Any
    at: float


@dataclass
class Delivery:
    agent_id: int
    to: str
    message: dict[str, Any]
    at: float
    dropped: bool = False  # over the per-member limit: WeCom said ok and showed nothing


@dataclass
class SentCard:
    agent_id: int
    task_id: str
    to: list[str]
    card: dict[str, Any]
    updates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def shown(self) -> dict[str, Any]:
        """The card as its holder sees it now: an update replaces the whole card, as on WeCom."""
        for update in reversed(self.updates):
            if update.get("template_card"):
                return update["template_card"]
        return self.card

    def keys(self) -> set[str]:
        """The keys a click can carry now; none once an update turned the buttons into a grey label."""
        if self.updates and not self.updates[-1].get("template_card"):
            return set()
        shown = self.shown
        keys = {b.get("key") for b in shown.get("button_list") or []}
        return keys | {a.get("key") for a in (shown.get("action_menu") or {}).get("action_list") or []}


@dataclass
class Code:
    agent_id: int
    task_id: str
    issued_at: float
    used: bool = False


@dataclass
class Fault:
    errcode: int | None = None
    status: int | None = None
    hang_s: float | None = None
    times: int = 1


@dataclass
class Hold:
    """Requests of one API that match are held unanswered until `release()`: a process can be killed while it
    waits on the platform, at a moment the test chooses. `arrived` is set when the first one comes in."""

    match: Callable[[Request], bool]
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    held: int = 0
    applied: bool = False  # carry the call out first, then hold its answer (the caller dies before hearing it)

    def release(self) -> None:
        self.released.set()


def _err(errcode: int, errmsg: str, *, hinted: bool = True) -> web.Response:
    # Real answers carry a per-request hint inside errmsg; the adapter reads it as the request id.
    hint = secrets.token_hex(8)
    return web.json_response({"errcode": errcode, "errmsg": f"{errmsg}, hint: [{hint}]" if hinted else errmsg})


class WeComSimulator:
    TOKEN_LIFETIME_S = 7200
    USED_CODE_ERRCODE = 42022  # the documented answer to a spent response_code (40150 has been seen too)
    RESPONSE_CODE_TTL_S = 24 * 3600  # the safe reading of the 24 h / 72 h conflict
    MEDIA_TTL_S = 3 * 24 * 3600
    PER_MEMBER_PER_MINUTE = 30
    PER_MEMBER_PER_HOUR = 1000

    def __init__(
        self,
        corp_id: str = "wwsimcorp0000001",
        *,
        clock: SimClock | None = None,
        api_limit_per_minute: int | None = None,
    ) -> None:
        self.corp_id = corp_id
        self.clock = clock or SimClock()
        self.api_limit_per_minute = api_limit_per_minute
        self.chunked_media = False  # stream media without Content-Length, as a proxy may
        self.apps: dict[int, SimApp] = {}
        self.requests: list[Request] = []
        self.deliveries: list[Delivery] = []
        self.cards: dict[tuple[int, str], SentCard] = {}
        self.codes: dict[str, Code] = {}
        self.gettoken_calls: Counter[int] = Counter()
        self._tokens: dict[str, tuple[int, float]] = {}
        self._media: dict[str, tuple[bytes, str, float]] = {}
        self._faults: dict[str, list[Fault]] = {}
        self._holds: dict[str, list[Hold]] = {}
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""
        # The address WeCom sees us call from, when it is not in the apps' 企业可信IP: every API but gettoken then
        # answers 60020, naming it (as WeCom does for apps created after 2022-06-20).
        self.untrusted_ip: str | None = None
        self.departments: dict[int, Dept] = {}
        self.people: dict[str, Person] = {}
        self._routes = {
            "gettoken": self._gettoken,
            "message/send": self._send,
            "message/update_template_card": self._update_card,
            "media/get": self._media_get,
            "agent/get": self._agent_get,
            "department/list": self._department_list,
            "user/list": self._user_list,
        }

    # -- set-up and control ------------------------------------------------------------------------------------

    def add_app(
        self, agent_id: int, secret: str, members: set[str] | list[str], *, unlicensed: set[str] | None = None
    ) -> SimApp:
        app = SimApp(agent_id, secret, set(members) | (unlicensed or set()), unlicensed or set())
        self.apps[agent_id] = app
        return app

    def add_department(self, dept_id: int, name: str, parentid: int = 0, leaders: list[str] | None = None) -> Dept:
        self.departments[dept_id] = Dept(dept_id, name, parentid, list(leaders or []))
        return self.departments[dept_id]

    def add_person(self, userid: str, name: str, department: list[int], **fields: Any) -> Person:
        self.people[userid] = Person(userid, name, list(department), **fields)
        return self.people[userid]

    def add_media(self, media_id: str, data: bytes, content_type: str = "audio/amr") -> None:
        self._media[media_id] = (data, content_type, self.clock())

    def revoke_tokens(self, agent_id: int | None = None) -> None:
        """Invalidate issued tokens (as a secret reset does): their next use answers 40014."""
        for token, (owner, _) in list(self._tokens.items()):
            if agent_id is None or owner == agent_id:
                del self._tokens[token]

    def inject(
        self,
        api: str,
        *,
        errcode: int | None = None,
        status: int | None = None,
        hang_s: float | None = None,
        times: int = 1,
    ) -> None:
        """The next `times` calls of `api` answer `errcode`, or HTTP `status`, or hang for `hang_s` seconds."""
        self._faults.setdefault(api, []).append(Fault(errcode, status, hang_s, times))

    def hold(self, api: str, match: Callable[[Request], bool] | None = None, *, applied: bool = False) -> Hold:
        """Hold every call of `api` (that `match` accepts) unanswered until the hold is released; a held call is
        then answered "system busy" (its caller is usually gone by then), later calls are served normally.
        `applied`: WeCom carries the call out (a code is spent, a card updated) and only its answer is held."""
        hold = Hold(match or (lambda _: True), applied=applied)
        self._holds.setdefault(api, []).append(hold)
        return hold

    def issue_response_code(self, agent_id: int, task_id: str) -> str:
        code = "rc-" + secrets.token_urlsafe(24)
        self.codes[code] = Code(agent_id, task_id, self.clock())
        return code

    def inbox(self, userid: str) -> list[Delivery]:
        """What `userid` actually got to see."""
        return [d for d in self.deliveries if d.to == userid and not d.dropped]

    def calls(self, api: str) -> list[Request]:
        return [r for r in self.requests if r.api == api]

    async def start(self) -> WeComSimulator:
        app = web.Application()
        app.router.add_route("*", "/cgi-bin/{api:.+}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> WeComSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- request plumbing --------------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        api = request.match_info["api"]
        body: Any = None
        if request.method == "POST":
            raw = await request.read()
            if len(raw) > MAX_BODY_BYTES:
                return _err(44005, "empty or too large post data")
            kind = request.headers.get("Content-Type")
            # wechatpy posts without a content type; a form or other type is not read as JSON by WeCom
            if kind is not None and (request.content_type not in ("application/json", "text/plain")
                                     or (request.charset or "utf-8").lower() not in ("utf-8", "utf8")):
                return _err(47001, "data format error: content type " + kind)
            try:
                body = json.loads(raw.decode()) if raw else None
            except ValueError:
                return _err(47001, "data format error")
        self.requests.append(Request(request.method, api, dict(request.query), body, self.clock()))
        if (bad := self._check_call(request, api, body)) is not None:
            return bad
        if self.untrusted_ip and api != "gettoken":
            return _err(60020, f"not allow to access from your ip, hint: [{secrets.token_hex(8)}], from ip: "
                        f"{self.untrusted_ip}, more info at https://open.work.weixin.qq.com/devtool/query?e=60020",
                        hinted=False)
        for hold in self._holds.get(api, []):
            if not hold.released.is_set() and hold.match(self.requests[-1]):
                if hold.applied and (handler := self._routes.get(api)) is not None:
                    await handler(request, body)
                return await self._wait_out(hold)
        fault = self._take_fault(api)
        if fault is not None:
            return await self._apply(fault)
        handler = self._routes.get(api)
        if handler is None:
            return web.Response(status=404)
        return await handler(request, body)

    @staticmethod
    def _check_call(request: web.Request, api: str, body: Any) -> web.Response | None:
        """What WeCom refuses before looking at the call itself: method, token placement, body shape."""
        wanted = METHODS.get(api)
        if wanted is not None and request.method != wanted:
            return _err(43001 if wanted == "GET" else 43002, f"require {wanted} method")
        if request.method == "POST" and not isinstance(body, dict):
            return _err(47001, "data format error")
        return None  # the token is read from the query string only (`_auth`): one in the body or a header is not

    def _take_fault(self, api: str) -> Fault | None:
        queue = self._faults.get(api)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    async def _wait_out(self, hold: Hold) -> web.Response:
        hold.held += 1
        hold.arrived.set()
        waits = [asyncio.ensure_future(hold.released.wait()), asyncio.ensure_future(self._closing.wait())]
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in pending:
            w.cancel()
        return web.json_response({"errcode": -1, "errmsg": "system busy"})

    async def _apply(self, fault: Fault) -> web.StreamResponse:
        if fault.hang_s is not None:
            try:
                await asyncio.wait_for(self._closing.wait(), fault.hang_s)
            except TimeoutError:
                pass
            return web.json_response({"errcode": -1, "errmsg": "system busy"})
        if fault.status is not None:
            return web.Response(status=fault.status, text="<html>server error</html>", content_type="text/html")
        return _err(fault.errcode or -1, "injected")

    def _auth(self, request: web.Request) -> SimApp | web.Response:
        token = request.query.get("access_token")
        if not token:
            return _err(41001, "access_token missing")
        issued = self._tokens.get(token)
        if issued is None:
            return _err(40014, "invalid access_token")
        agent_id, expires_at = issued
        if self.clock() >= expires_at:
            return _err(42001, "access_token expired")
        return self.apps[agent_id]

    def _check_agent(self, app: SimApp, body: dict[str, Any]) -> web.Response | None:
        try:
            agent_id = int(body.get("agentid"))
        except (TypeError, ValueError):
            return _err(41011, "missing agentid")
        if agent_id != app.agent_id:
            return _err(301002, "not allow to operate another agent with this accesstoken")
        return None

    def _over_api_limit(self, api: str) -> bool:
        if self.api_limit_per_minute is None:
            return False
        since = self.clock() - 60
        return sum(1 for r in self.requests if r.api == api and r.at > since) > self.api_limit_per_minute

    # -- endpoints ---------------------------------------------------------------------------------------------

    async def _gettoken(self, request: web.Request, _: Any) -> web.Response:
        if not request.query.get("corpid"):
            return _err(41002, "corpid missing")
        if not request.query.get("corpsecret"):
            return _err(41004, "corpsecret missing")
        if request.query.get("corpid") != self.corp_id:
            return _err(40013, "invalid corpid")
        secret = request.query.get("corpsecret", "")
        app = next((a for a in self.apps.values() if secrets.compare_digest(a.secret, secret)), None)
        if app is None:
            return _err(40001, "invalid credential")
        self.gettoken_calls[app.agent_id] += 1
        # A fresh token on every call: newer docs no longer promise the same one within its lifetime.
        token = secrets.token_urlsafe(48)
        self._tokens[token] = (app.agent_id, self.clock() + self.TOKEN_LIFETIME_S)
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.TOKEN_LIFETIME_S}
        )

    async def _send(self, request: web.Request, body: Any) -> web.Response:
        app = self._auth(request)
        if isinstance(app, web.Response):
            return app
        if not isinstance(body, dict):
            return _err(47001, "data format error")
        if (bad := self._check_agent(app, body)) is not None:
            return bad
        if self._over_api_limit("message/send"):
            return _err(45009, "api freq out of limit")
        if (bad := self._check_message(app, body)) is not None:
            return bad
        wanted = [u for u in str(body.get("touser", "")).split("|") if u]
        if not wanted and not body.get("toparty") and not body.get("totag"):
            return _err(82001, "All touser & toparty & totag invalid")
        targets = sorted(app.members) if wanted == ["@all"] else wanted
        valid = [u for u in targets if u in app.members]
        if not valid:
            return _err(81013, "user & party & tag all invalid")
        answer: dict[str, Any] = {
            "errcode": 0,
            "errmsg": "ok",
            "invaliduser": "|".join(u for u in targets if u not in app.members),
            "unlicenseduser": "|".join(u for u in valid if u in app.unlicensed),
        }
        for userid in (u for u in valid if u not in app.unlicensed):
            self.deliveries.append(
                Delivery(app.agent_id, userid, body, self.clock(), self._over_member_limit(app, userid))
            )
        answer["msgid"] = secrets.token_urlsafe(32)
        card = body.get("template_card") or {}
        if body.get("msgtype") == "template_card" and card.get("card_type") in INTERACTIVE_CARDS:
            self.cards[(app.agent_id, card["task_id"])] = SentCard(app.agent_id, card["task_id"], valid, card)
            answer["response_code"] = self.issue_response_code(app.agent_id, card["task_id"])
        return web.json_response(answer)

    def _check_message(self, app: SimApp, body: dict[str, Any]) -> web.Response | None:
        msgtype = body.get("msgtype")
        if msgtype in ("text", "markdown"):
            content = str((body.get(msgtype) or {}).get("content") or "")
            if not content:
                return _err(44004, "empty content")
            if len(content.encode()) > TEXT_MAX_BYTES[msgtype]:
                return _err(45002, "content size out of limit")
            return None
        if msgtype != "template_card":
            return _err(40008, "invalid message type")
        card = body.get("template_card") or {}
        if card.get("card_type") not in INTERACTIVE_CARDS | {"text_notice", "news_notice"}:
            return _err(40058, "invalid card_type")
        if card.get("card_type") not in INTERACTIVE_CARDS:
            return None
        task_id = str(card.get("task_id", ""))
        if not _TASK_ID.match(task_id):
            return _err(42014, "invalid task_id")
        if (app.agent_id, task_id) in self.cards:
            return _err(42014, "task_id already used by this app")
        buttons = card.get("button_list") or []
        if card.get("card_type") == "button_interaction" and not 1 <= len(buttons) <= 6:
            return _err(40058, "button_list must hold 1 to 6 buttons")
        for button in buttons:
            if button.get("type", 0) == 0 and not button.get("key"):
                return _err(42019, "button key missing")
            if len(str(button.get("key", "")).encode()) > BUTTON_KEY_MAX_BYTES:
                return _err(42019, "button key too long")
        return None

    def _over_member_limit(self, app: SimApp, userid: str) -> bool:
        now = self.clock()
        shown = [d.at for d in self.deliveries if d.agent_id == app.agent_id and d.to == userid and not d.dropped]
        in_minute = sum(1 for at in shown if at > now - 60)
        in_hour = sum(1 for at in shown if at > now - 3600)
        return in_minute >= self.PER_MEMBER_PER_MINUTE or in_hour >= self.PER_MEMBER_PER_HOUR

    async def _update_card(self, request: web.Request, body: Any) -> web.Response:
        app = self._auth(request)
        if isinstance(app, web.Response):
            return app
        if not isinstance(body, dict):
            return _err(47001, "data format error")
        if (bad := self._check_agent(app, body)) is not None:
            return bad
        if not body.get("response_code"):
            return _err(40035, "response_code missing")
        code = self.codes.get(str(body.get("response_code", "")))
        if code is None or self.clock() >= code.issued_at + self.RESPONSE_CODE_TTL_S:
            return _err(40058, "invalid response_code")
        if code.agent_id != app.agent_id:
            return _err(42015, "app does not match the app that sent the card")
        if code.used:
            return _err(self.USED_CODE_ERRCODE, "response_code has been used")
        card = self.cards.get((app.agent_id, code.task_id))
        if card is None:
            return _err(42016, "task_id not found")
        if not body.get("template_card") and not (body.get("button") or {}).get("replace_name"):
            return _err(40058, "template_card or button.replace_name required")
        userids = [str(u) for u in body.get("userids") or []] or list(card.to)
        invalid = [u for u in userids if u not in card.to]
        if len(invalid) == len(userids):
            return _err(81013, "user & party & tag all invalid")
        code.used = True
        card.updates.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": invalid})

    async def _agent_get(self, request: web.Request, _: Any) -> web.Response:
        app = self._auth(request)
        if isinstance(app, web.Response):
            return app
        if request.query.get("agentid") != str(app.agent_id):
            return _err(40056, "invalid agentid")
        users = app.members if app.allow_users is None else app.allow_users
        return web.json_response({
            "errcode": 0, "errmsg": "ok", "agentid": app.agent_id, "name": app.name, "square_logo_url": "",
            "description": "", "allow_userinfos": {"user": [{"userid": u} for u in sorted(users)]},
            "allow_partys": {"partyid": sorted(app.allow_parties)}, "allow_tags": {"tagid": sorted(app.allow_tags)},
            "close": app.close, "redirect_domain": "", "report_location_flag": 0, "isreportenter": 0, "home_url": ""})

    def _subtree(self, root: int) -> list[Dept]:
        out, queue = [], [root]
        while queue:
            dept = self.departments.get(queue.pop(0))
            if dept is not None:
                out.append(dept)
                queue += [d.id for d in self.departments.values() if d.parentid == dept.id]
        return out

    async def _department_list(self, request: web.Request, _: Any) -> web.Response:
        app = self._auth(request)
        if isinstance(app, web.Response):
            return app
        if not app.contacts_readable:
            return _err(48002, "api forbidden")
        raw = request.query.get("id")
        depts = self._subtree(int(raw)) if raw else sorted(self.departments.values(), key=lambda d: d.id)
        return web.json_response({"errcode": 0, "errmsg": "ok", "department": [
            {"id": d.id, "name": d.name, "parentid": d.parentid, "order": 0, "department_leader": d.leaders}
            for d in depts]})

    async def _user_list(self, request: web.Request, _: Any) -> web.Response:
        app = self._auth(request)
        if isinstance(app, web.Response):
            return app
        if not app.contacts_readable:
            return _err(48002, "api forbidden")
        try:
            dept_id = int(request.query.get("department_id", ""))
        except ValueError:
            return _err(60003, "department not found")
        if dept_id not in self.departments:
            return _err(60003, "department not found")
        members = [p for p in self.people.values() if dept_id in p.department]
        return web.json_response({"errcode": 0, "errmsg": "ok", "userlist": [
            {"userid": p.userid, "name": p.name, "department": p.department, "main_department": p.department[0],
             "is_leader_in_dept": [1 if d in p.leader_in else 0 for d in p.department], "mobile": p.mobile,
             "status": p.status} for p in sorted(members, key=lambda p: p.userid)]})

    async def _media_get(self, request: web.Request, _: Any) -> web.StreamResponse:
        app = self._auth(request)
        if isinstance(app, web.Response):
            return app
        media_id = request.query.get("media_id", "")
        if not media_id:
            return _err(41006, "media_id missing")
        stored = self._media.get(media_id)
        if stored is None or self.clock() >= stored[2] + self.MEDIA_TTL_S:
            return _err(40007, "invalid media_id")
        data, content_type, _ = stored
        headers = {"Content-Disposition": f'attachment; filename="{media_id}.amr"', "Content-Type": content_type}
        if not self.chunked_media:
            return web.Response(body=data, headers=headers)
        resp = web.StreamResponse(headers=headers)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(data), 4096):
            await resp.write(data[i : i + 4096])
        await resp.write_eof()
        return resp


# -- callbacks -------------------------------------------------------------------------------------------------


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


@dataclass
class CallbackDelivery:
    statuses: list[int | None]  # one per attempt; None = no answer within the timeout

    @property
    def ok(self) -> bool:
        return bool(self.statuses) and self.statuses[-1] == 200


class CallbackSender:
    """Encrypts and delivers callbacks like WeCom: 5 s to answer 200, three deliveries in all.

    Each attempt is encrypted and signed afresh (new random prefix, nonce and timestamp), so the receiver can only
    recognise a retry by what is inside.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        token: str,
        encoding_aes_key: str,
        corp_id: str,
        agent_id: int,
        simulator: WeComSimulator | None = None,
        timeout_s: float = 5.0,
        attempts: int = 3,
    ) -> None:
        self._session = session
        self.token = token
        self._key = base64.b64decode(encoding_aes_key + "=")
        self.corp_id = corp_id
        self.agent_id = agent_id
        self._sim = simulator
        self.timeout_s = timeout_s
        self.attempts = attempts
        self._msg_ids = iter(range(7_000_000_000_000_000_000, 8_000_000_000_000_000_000))

    def _now(self) -> int:
        return int(self._sim.clock() if self._sim else time.time())

    @staticmethod
    def _signed_at() -> str:
        # The query's timestamp is when WeCom sends, on its real clock, which the receiver checks against its own
        # (a window against replays); the simulator's clock, which a test moves, is WeCom's bookkeeping.
        return str(int(time.time()))

    # -- the scheme, written independently -------------------------------------------------------------------

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        parts = sorted([self.token, timestamp, nonce, encrypt])
        return hashlib.sha1("".join(parts).encode("utf-8")).hexdigest()

    def encrypt(self, plaintext: bytes, receive_id: str | None = None) -> str:
        rid = (self.corp_id if receive_id is None else receive_id).encode()
        frame = os.urandom(16) + len(plaintext).to_bytes(4, "big") + plaintext + rid
        pad = 32 - len(frame) % 32
        frame += bytes([pad]) * pad
        cipher = AES.new(self._key, AES.MODE_CBC, iv=self._key[:16])
        return base64.b64encode(cipher.encrypt(frame)).decode()

    def decrypt(self, encrypt: str) -> tuple[bytes, str]:
        """(message, receive id) of an encrypted value, e.g. a passive reply."""
        cipher = AES.new(self._key, AES.MODE_CBC, iv=self._key[:16])
        plain = cipher.decrypt(base64.b64decode(encrypt))
        plain = plain[: -plain[-1]]
        n = int.from_bytes(plain[16:20], "big")
        return plain[20 : 20 + n], plain[20 + n :].decode()

    def signed(self, inner_xml: bytes, *, receive_id: str | None = None) -> tuple[dict[str, str], bytes]:
        """(query params, POST body) of one delivery of `inner_xml`."""
        encrypt = self.encrypt(inner_xml, receive_id)
        timestamp, nonce = self._signed_at(), str(secrets.randbelow(10**10))
        body = (
            f"<xml><ToUserName>{_cdata(self.corp_id)}</ToUserName><AgentID>{_cdata(str(self.agent_id))}</AgentID>"
            f"<Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
        ).encode()
        return {"msg_signature": self.sign(timestamp, nonce, encrypt), "timestamp": timestamp, "nonce": nonce}, body

    def verification(self, echo: str | None = None) -> tuple[dict[str, str], str]:
        """(query params of the GET URL check, the plaintext the receiver must answer)."""
        echo = echo or str(secrets.randbelow(10**19))
        echostr = self.encrypt(echo.encode())
        timestamp, nonce = self._signed_at(), str(secrets.randbelow(10**10))
        params = {"msg_signature": self.sign(timestamp, nonce, echostr), "timestamp": timestamp, "nonce": nonce}
        return {**params, "echostr": echostr}, echo

    # -- delivery --------------------------------------------------------------------------------------------

    async def deliver(self, url: str, inner_xml: bytes, *, until_ok: bool = True) -> CallbackDelivery:
        """POST `inner_xml` until answered 200 in time, `attempts` deliveries at most.

        `until_ok=False` makes all `attempts` deliveries whatever the answers, as when WeCom never saw the 200
        (an acknowledgement lost on the way back): the receiver must process the message once all the same.
        """
        statuses: list[int | None] = []
        for _ in range(self.attempts):
            params, body = self.signed(inner_xml)
            statuses.append(await self._post(url, params, body))
            if until_ok and statuses[-1] == 200:
                break
        return CallbackDelivery(statuses)

    async def _post(self, url: str, params: dict[str, str], body: bytes) -> int | None:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with self._session.post(url, params=params, data=body, timeout=timeout) as resp:
                await resp.read()
                return resp.status
        except (TimeoutError, aiohttp.ClientError):
            return None

    async def verify(self, url: str) -> tuple[int, str, str]:
        """Run the GET URL check: (status, answered text, expected echo)."""
        params, echo = self.verification()
        async with self._session.get(url, params=params) as resp:
            return resp.status, await resp.text(), echo

    # -- what WeCom sends ------------------------------------------------------------------------------------

    def _xml(self, from_user: str, msg_type: str, fields: dict[str, str], create_time: int | None) -> bytes:
        head = {"ToUserName": self.corp_id, "FromUserName": from_user}
        parts = [f"<{k}>{_cdata(v)}</{k}>" for k, v in head.items()]
        parts.append(f"<CreateTime>{create_time or self._now()}</CreateTime><MsgType>{_cdata(msg_type)}</MsgType>")
        parts += [f"<{k}>{_cdata(v)}</{k}>" for k, v in fields.items()]
        parts.append(f"<AgentID>{self.agent_id}</AgentID>")
        return ("<xml>" + "".join(parts) + "</xml>").encode()

    def _message(
        self, from_user: str, msg_type: str, fields: dict[str, str], msg_id: int | None, at: int | None
    ) -> bytes:
        return self._xml(from_user, msg_type, {**fields, "MsgId": str(msg_id or next(self._msg_ids))}, at)

    def text(self, from_user: str, content: str, *, msg_id: int | None = None, create_time: int | None = None) -> bytes:
        return self._message(from_user, "text", {"Content": content}, msg_id, create_time)

    def voice(self, from_user: str, media_id: str, *, fmt: str = "amr", msg_id: int | None = None) -> bytes:
        return self._message(from_user, "voice", {"MediaId": media_id, "Format": fmt}, msg_id, None)

    def image(self, from_user: str, media_id: str, *, msg_id: int | None = None) -> bytes:
        fields = {"PicUrl": f"https://wework.qpic.cn/{media_id}", "MediaId": media_id}
        return self._message(from_user, "image", fields, msg_id, None)

    def event(self, from_user: str, event: str, *, create_time: int | None = None, **fields: str) -> bytes:
        return self._xml(from_user, "event", {"Event": event, **fields}, create_time)

    def click(
        self, from_user: str, task_id: str, key: str, *, create_time: int | None = None, menu: bool = False
    ) -> bytes:
        """A click on a card the simulator saw sent, carrying a fresh single-use ResponseCode."""
        if self._sim is None:
            raise RuntimeError("click needs the simulator that sent the card")
        card = self._sim.cards.get((self.agent_id, task_id))
        if card is None or from_user not in card.to:
            raise LookupError(f"no card {task_id!r} was sent to {from_user!r} by agent {self.agent_id}")
        if key not in card.keys():
            raise LookupError(f"card {task_id!r} has no button or menu item {key!r}")
        fields = {
            "EventKey": key,
            "TaskId": task_id,
            "CardType": str(card.card.get("card_type", "")),
            "ResponseCode": self._sim.issue_response_code(self.agent_id, task_id),
        }
        event = "template_card_menu_event" if menu else "template_card_event"
        return self.event(from_user, event, create_time=create_time, **fields)
