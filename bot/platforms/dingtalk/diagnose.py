"""What DingTalk can tell us about whether an app works, and its directory: the platform half of `bot.admin.app_verify`
and `bot.admin.directory`.

Permissions are learnt the way DingTalk reports them: a v1.0 call the app may not make answers 403
`Forbidden.AccessDenied.AccessTokenPermissionDenied` with `accessdenieddetail.requiredScopes`; an old (oapi) call
answers errcode 88 with sub_code 60011, or 60011 itself; a caller outside the app's IP allow-list gets 60020 (oapi)
or `Forbidden.AccessDenied.IpNotInWhiteList` (v1.0). Each probe is a call that changes nothing: an update of a
card that does not exist, a file download under a code that does not exist, a directory read.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from bot.errors import PlatformError
from bot.platforms.base import Check, DirectoryPerson
from bot.platforms.dingtalk.adapter import DingTalkAdapter

_IP = re.compile(r"(\d{1,3}(?:\.\d{1,3}){3})")

# The scope each probe needs when DingTalk does not name it.
_PROBES: tuple[tuple[str, str, str], ...] = (
    ("card_api", "Card.Instance.Write", "互动卡片"),
    ("robot", "qyapi_robot_sendmsg", "机器人"),
    ("directory", "qyapi_get_department_list", "通讯录部门"),
    ("members", "qyapi_get_member", "通讯录成员"),
)


def _permission_denied(e: PlatformError) -> bool:
    code = str(e.errcode)
    return (code.startswith("Forbidden.AccessDenied") and "Ip" not in code) or e.sub_code == "60011" \
        or code == "60011"


def _ip_refused(e: PlatformError) -> bool:
    code = str(e.errcode)
    return code == "60020" or e.sub_code == "60020" or (code.startswith("Forbidden.AccessDenied") and "Ip" in code)


def _ip_check(e: PlatformError) -> Check:
    m = _IP.search(e.errmsg or "")
    ip = m.group(1) if m else "this server's public address"
    return Check("ip_allowlist", "fail", f"DingTalk refused calls from {ip} (errcode {e.errcode})",
                 f"在钉钉开发者后台 本应用 → 开发管理 → 服务器出口IP 中添加 {ip}",
                 f"Add {ip} under this app → 开发管理 → 服务器出口IP in the DingTalk developer console")


async def _probe(name: str, scope: str, label: str, call: Callable[[], Awaitable[Any]],
                 fine: tuple[str, ...]) -> Check:
    try:
        await call()
    except PlatformError as e:
        code = str(e.errcode)
        if code in fine:
            return Check(name, "ok", f"{label}: allowed")
        if _ip_refused(e):
            return _ip_check(e)
        if _permission_denied(e):
            scopes = ", ".join(e.required_scopes) or scope
            return Check(name, "fail", f"{label}: permission missing ({scopes}; errcode {code})",
                         f"在钉钉开发者后台 本应用 → 权限管理 中申请：{scopes}",
                         f"Request {scopes} under this app → 权限管理 in the DingTalk developer console")
        if code == "invalidParameter.robotCode":
            return Check(name, "fail", "the robot code is not this app's robot",
                         "在 本应用 → 应用功能 → 机器人 中确认机器人已发布，并把其 RobotCode 填入",
                         "Publish the robot under this app → 机器人 and register its RobotCode")
        if e.retryable:
            return Check(name, "warn", f"{label}: DingTalk could not be reached")
        return Check(name, "warn", f"{label}: unexpected answer (errcode {code})")
    return Check(name, "ok", f"{label}: allowed")


async def diagnose(adapter: DingTalkAdapter, *, card_template_id: str | None) -> list[Check]:
    """The checks after the token: robot, card template and API, directory permissions."""
    calls = {"card_api": (adapter.probe_card_api, ("param.cardNotExist",)),
             "robot": (adapter.probe_robot, ("invalidParameter.downloadCode",)),
             "directory": (lambda: adapter.list_departments(1), ()),
             "members": (lambda: adapter.list_users(1), ())}
    checks = []
    for name, scope, label in _PROBES:
        call, fine = calls[name]
        checks.append(await _probe(name, scope, label, call, fine))
    if card_template_id:
        checks.append(Check("card_template", "ok", f"card template {card_template_id} is registered (the test card "
                            "proves DingTalk accepts it: `leadbot apps test`)"))
    else:
        checks.append(Check("card_template", "fail", "no card_template_id: lead cards cannot be sent",
                            "在 卡片平台 按 cards/DINGTALK_TEMPLATE.md 创建模板，并把模板ID填入 card_template_id",
                            "Build the template of cards/DINGTALK_TEMPLATE.md in the card platform and set "
                            "card_template_id"))
    # Directory permissions matter to directory sync only, not to whether cards reach people: a warning.
    return [Check(c.name, "warn", c.detail, c.zh, c.en) if c.name in ("directory", "members") and c.failed else c
            for c in checks]


TOKEN_STEP = ("核对钉钉开发者后台 本应用 → 凭证与基础信息 中的 Client ID (AppKey) 与 Client Secret",
              "Check the Client ID (AppKey) and Client Secret under this app → 凭证与基础信息 in the DingTalk "
              "developer console")


async def app_checks(adapter: DingTalkAdapter, context: Any) -> list[Check]:
    """Every check after the token (`bot.admin.app_verify`): robot, cards, permissions, and how DingTalk reaches us
    (Stream: a process holds the connection; HTTP: callbacks seen, the card callback route registered)."""
    from bot.admin.app_verify import refusal
    from bot.platforms.dingtalk.stream import lease_name
    from storage import redis_keys

    creds = context.app.credentials
    checks = await diagnose(adapter, card_template_id=creds.card_template_id)
    if creds.mode == "stream":
        holder = await context.redis.get(redis_keys.lease(lease_name(context.app.id)))
        checks.append(Check("stream", "ok", "a process holds this app's Stream connection") if holder else Check(
            "stream", "fail", "no process holds this app's Stream connection",
            "运行 leadbot serve 或 leadbot worker（LEADBOT_DINGTALK_STREAM 不为 false），并在 机器人 中选择 Stream "
            "模式", "Run leadbot serve or leadbot worker (LEADBOT_DINGTALK_STREAM not false) and choose Stream "
            "mode for the robot"))
        checks.append(context.last_callback(needed=False))
        checks.append(Check("card_callback", "ok", "card clicks arrive on the stream"))
        return checks
    checks.append(context.last_callback(needed=True))
    url = context.url("callback")
    checks.append(context.callback_url_warning("callback") or Check(
        "callback_url", "ok", f"robot message URL: {url}", f"在 本应用 → 机器人 → 消息接收模式 选 HTTP 并填入 {url}",
        f"Set the robot's receive mode to HTTP with {url}"))
    try:
        registered = await adapter.register_card_route()
    except PlatformError as e:
        checks.append(Check("card_callback", "fail", f"card callback route not registered: "
                            f"{refusal('dingtalk', e)}", "在 权限管理 中申请 互动卡片 权限后重试 verify",
                            "Request the interactive card permission, then verify again"))
        return checks
    if registered:
        checks.append(Check("card_callback", "ok", f"card callbacks registered at {registered}"))
    else:
        checks.append(Check("card_callback", "fail", "LEADBOT_PUBLIC_URL is not set: card callbacks cannot be "
                            "registered", "设置 LEADBOT_PUBLIC_URL 后重试 verify",
                            "Set LEADBOT_PUBLIC_URL, then verify again"))
    return checks


async def directory(adapter: DingTalkAdapter) -> list[DirectoryPerson]:
    """Everyone in the org the app may see: department/listsub from the root down, user/list per department."""
    departments: dict[int, int] = {1: 0}
    queue = [1]
    while queue:
        parent = queue.pop()
        for d in await adapter.list_departments(parent):
            dept_id = int(d.get("dept_id") or 0)
            if dept_id and dept_id not in departments:
                departments[dept_id] = parent
                queue.append(dept_id)
    leaders: dict[int, list[str]] = {}
    people: dict[str, dict[str, Any]] = {}
    for dept_id in sorted(departments):
        for user in await adapter.list_users(dept_id):
            uid = str(user.get("userid") or "")
            if not uid:
                continue
            people.setdefault(uid, {**user, "_dept": dept_id})
            if user.get("leader"):
                leaders.setdefault(dept_id, []).append(uid)
    out = []
    for uid, u in sorted(people.items()):
        dept: int | None = u["_dept"]
        manager = None
        while dept:
            manager = next((x for x in leaders.get(dept, []) if x != uid), None)
            if manager:
                break
            dept = departments.get(dept)
        out.append(DirectoryPerson(
            user_id=uid, name=str(u.get("name") or uid), active=bool(u.get("active", True)),
            mobile=str(u["mobile"]) if u.get("mobile") else None, email=str(u["email"]) if u.get("email") else None,
            manager_user_id=manager, departments=tuple(int(x) for x in u.get("dept_id_list") or [u["_dept"]])))
    return out
