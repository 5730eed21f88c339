"""What Feishu can tell us about whether an app works, its directory, and what to do in its developer console: the
platform half of `bot.admin.app_verify`, `bot.admin.directory` and the registration checklist.

`bot.admin.app_verify` fetches the token itself (`TOKEN_STEP` says what to do when it is refused); each probe here
changes nothing: the bot's own info (refused when the bot ability is off), a message resource that does not exist
(a permission refusal names the scope; "not found" proves the call is allowed).
"""

from __future__ import annotations

from typing import Any

from bot.errors import PlatformError
from bot.platforms.base import Check, DirectoryPerson
from bot.platforms.feishu.adapter import FeishuAdapter
from bot.platforms.feishu.config import FeishuCredentials

_PERMISSION_DENIED = frozenset({99991672, 99991679, 230027})
_IP_REFUSED = 99991401
_BOT_OFF = 230006


def _refusal(name: str, e: PlatformError, label: str) -> Check:
    if e.errcode == _IP_REFUSED:
        return Check(name, "fail", f"Feishu refused calls from this server (code {e.errcode})",
                     "开发者后台 → 本应用 → 安全设置 → IP 白名单：添加本服务器的出口 IP，或清空白名单",
                     "Developer console → the app → 安全设置 → IP allow-list: add this server's outbound IP")
    if e.errcode in _PERMISSION_DENIED:
        return Check(name, "fail", f"{label}: permission missing (code {e.errcode}: {e.errmsg[:120]})",
                     f"开发者后台 → 本应用 → 权限管理：开通{label}所需权限，并发布新版本",
                     f"Developer console → the app → 权限管理: grant what {label} needs, then publish a version")
    if e.errcode == _BOT_OFF:
        return Check(name, "fail", "the bot ability is not enabled",
                     "开发者后台 → 本应用 → 添加应用能力 → 机器人，并发布新版本",
                     "Developer console → the app → add the Bot ability, then publish a version")
    return Check(name, "fail", f"{label}: code {e.errcode} {e.errmsg[:120]}")


# What to do when the token is refused (`bot.admin.app_verify` shows it under the failed token check).
TOKEN_STEP = ("核对 凭证与基础信息 中的 App ID 与 App Secret（重置 Secret 后需重新登记）；"
              "国际版 Lark 应用需 lark: true",
              "Check App ID and App Secret under 凭证与基础信息 (re-enter the secret after resetting it); a Lark "
              "(international) app needs lark: true")


async def platform_checks(adapter: FeishuAdapter) -> list[Check]:
    """The bot ability and the permission to read message resources (voice notes)."""
    checks = []
    try:
        bot = await adapter.bot_info()
        checks.append(Check("bot", "ok", f"bot {bot.get('app_name') or ''} active"))
    except PlatformError as e:
        checks.append(_refusal("bot", e, "机器人"))
    try:
        await adapter.download_media("om_leadbot_probe/file_leadbot_probe", 1024)
    except PlatformError as e:
        if e.errcode in _PERMISSION_DENIED or e.errcode == _IP_REFUSED:
            checks.append(_refusal("resources", e, "获取消息中的资源文件（im:resource）"))
        else:  # not found / invalid id: the call itself is allowed
            checks.append(Check("resources", "ok", "message resources may be read"))
    return checks


async def app_checks(adapter: FeishuAdapter, context: Any) -> list[Check]:
    """Every check after the token (`bot.admin.app_verify`): the platform's own, then how Feishu reaches us
    (long connection: a process holds it; HTTP: the two URLs, and whether a push ever arrived)."""
    from bot.platforms.feishu.longconn import lease_name
    from storage import redis_keys

    checks = await platform_checks(adapter)
    if context.app.credentials.mode == "ws":
        holder = await context.redis.get(redis_keys.lease(lease_name(context.app.id)))
        checks.append(Check("long_connection", "ok", "a process holds this app's long connection") if holder else
                      Check("long_connection", "fail", "no process holds this app's long connection",
                            "运行 leadbot serve 或 leadbot worker，并在 事件与回调 中选择 使用长连接接收",
                            "Run leadbot serve or leadbot worker, and choose the long connection under 事件与回调"))
        checks.append(context.last_callback(needed=False))
        return checks
    checks.append(context.last_callback(needed=True))
    for path, where in (("events", "事件配置"), ("card", "回调配置")):
        url = context.url(path)
        checks.append(context.callback_url_warning(path) or Check(
            f"{path}_url", "ok", f"{path} URL: {url}", f"在 事件与回调 → {where} 中填入 {url}",
            f"Enter {url} under 事件与回调 → {where}"))
    return checks


async def directory(adapter: FeishuAdapter) -> list[DirectoryPerson]:
    """Everyone in the org the app may see (its contact range): the root's members, then each department's. A
    person's manager is their own `leader_user_id`, else their first department's leader."""
    departments = await adapter.departments()
    leaders = {str(d.get("open_department_id")): str(d.get("leader_user_id") or "") for d in departments}
    people: dict[str, dict[str, Any]] = {}
    for dept_id in ["0", *sorted(k for k in leaders if k)]:
        for user in await adapter.department_users(dept_id):
            uid = str(user.get(adapter.id_type) or "")
            if uid:
                people.setdefault(uid, user)
    out = []
    for uid, u in sorted(people.items()):
        status = u.get("status") if isinstance(u.get("status"), dict) else {}
        active = not (status.get("is_resigned") or status.get("is_frozen") or status.get("is_exited"))
        dept_ids = [str(d) for d in u.get("department_ids") or []]
        manager = str(u.get("leader_user_id") or "") or next(
            (leaders[d] for d in dept_ids if leaders.get(d) and leaders[d] != uid), "")
        out.append(DirectoryPerson(
            user_id=uid, name=str(u.get("name") or uid), active=active,
            mobile=str(u["mobile"]) if u.get("mobile") else None, email=str(u["email"]) if u.get("email") else None,
            manager_user_id=manager if manager and manager != uid else None))
    return out


def checklist(app_id: int, creds: FeishuCredentials, urls: dict[str, str]) -> list[tuple[str, str]]:
    """(zh, en) steps in the order the Feishu developer console allows them."""
    console = "open.larksuite.com/app" if creds.lark else "open.feishu.cn/app"
    ws = creds.mode == "ws"
    steps = [
        (f"{console} → 本应用 → 添加应用能力 → 机器人", f"{console} → the app → add the Bot ability"),
        ("权限管理：开通 以应用身份发消息（im:message:send_as_bot）、读取用户发给机器人的单聊消息"
         "（im:message.p2p_msg:readonly）、获取消息中的资源文件（im:resource）、通讯录用户基本信息",
         "权限管理: grant im:message:send_as_bot, im:message.p2p_msg:readonly, im:resource and basic contact "
         "user info"),
        ("事件与回调 → 加密策略：设置 Encrypt Key（与注册时一致），Verification Token 与注册时一致",
         "事件与回调 → 加密策略: set an Encrypt Key (the one registered); the Verification Token must match too"),
        ("事件与回调 → 订阅方式：使用长连接接收事件（无需公网地址，运行 leadbot serve/worker 即可）" if ws else
         f"事件与回调 → 订阅方式：将事件发送至开发者服务器，请求地址 {urls['events']}（飞书会立即校验）",
         "事件与回调 → subscription: long connection (no public URL; leadbot serve/worker connects)" if ws else
         f"事件与回调 → subscription: send to developer server, URL {urls['events']} (Feishu checks it at once)"),
        ("事件配置：添加 接收消息 v2.0（im.message.receive_v1）",
         "事件配置: add 接收消息 v2.0 (im.message.receive_v1)"),
        ("回调配置：订阅 卡片回传交互（card.action.trigger）"
         + ("，使用长连接" if ws else f"，请求地址 {urls['card']}"),
         "回调配置: subscribe card.action.trigger" + (" over the long connection" if ws else f", URL {urls['card']}")),
        ("版本管理与发布：创建版本，可用范围包含所有要收卡片的销售和经理，提交发布",
         "版本管理与发布: create a version whose availability includes every rep and manager, and publish it"),
        (f"运行 leadbot apps verify {app_id}，再用 leadbot apps test {app_id} --to 某人 发一张测试卡片",
         f"Run leadbot apps verify {app_id}, then send a test card: leadbot apps test {app_id} --to SOMEONE"),
    ]
    if creds.encrypt_key is None:
        steps.insert(0, ("注意：未设置 Encrypt Key 时飞书不加密也不签名推送，仅凭 Verification Token 校验；"
                         "请设置 Encrypt Key",
                         "Warning: without an Encrypt Key Feishu neither encrypts nor signs pushes (only the "
                         "Verification Token proves them); set one"))
    return steps
