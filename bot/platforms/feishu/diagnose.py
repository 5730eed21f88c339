"""What Feishu can tell us about whether an app works, its directory, and what to do in its developer console: the
platform half of `bot.admin.app_verify` and `bot.admin.directory` (the console checklist is `console`).

`bot.admin.app_verify` fetches the token itself (`TOKEN_STEP` says what to do when it is refused); each probe here
changes nothing: the bot's own info (refused when the bot ability is off), a message resource that does not exist
(a permission refusal names the scope; "not found" proves the call is allowed).
"""

from __future__ import annotations

from typing import Any

from bot.errors import PlatformError
from bot.platforms.base import Check, DirectoryPerson
from bot.platforms.feishu.adapter import FeishuAdapter

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
