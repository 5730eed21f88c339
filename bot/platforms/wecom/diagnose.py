"""What WeCom can tell us about whether an app works, and its directory: the platform half of `bot.admin.app_verify`
and `bot.admin.directory`.

WeCom refuses every API but gettoken from an address missing from the app's 企业可信IP (60020), so a token alone
proves little: agent/get is the first call that needs the trusted IP, and it also answers whether the app is
enabled and whom it may reach (可见范围). Its errmsg names the address WeCom saw ("…, from ip: 1.2.3.4, more info
at …"): the one the admin must add. Only that address is quoted, checked to be an IP literal.
"""

from __future__ import annotations

from typing import Any

from bot.errors import PlatformError
from bot.platforms.base import Check, DirectoryPerson
from bot.platforms.wecom.adapter import WeComAdapter, mask_user
from bot.platforms.wecom.errors import caller_ip

# Active members: 1 activated, 4 not yet activated (still reachable once they join); 2 disabled, 5 left.
_ACTIVE_STATUS = {1, 4}


def _code(e: PlatformError) -> str:
    return str(e.errcode) if isinstance(e.errcode, int) else "no errcode"


TOKEN_STEP = ("核对 企业ID（我的企业 → 企业信息）与本应用的 Secret（应用管理 → 本应用），用 `leadbot apps update` "
              "改正", "Check the 企业ID (我的企业 → 企业信息) and this app's Secret (应用管理 → the app); correct them "
              "with `leadbot apps update`")


async def app_checks(adapter: WeComAdapter, context: Any) -> list[Check]:
    """Every check after the token (`bot.admin.app_verify`): the app, its reach, and how WeCom reaches us."""
    checks = await diagnose(adapter, context.mapped)
    checks.append(context.last_callback(needed=True))
    url = context.url("callback")
    checks.append(context.callback_url_warning("callback") or Check(
        "callback_url", "ok", f"paste {url} in 接收消息 → 设置API接收 with the Token and EncodingAESKey",
        f"在 应用管理 → 本应用 → 接收消息 → 设置API接收 中填入 URL {url}、Token 与 EncodingAESKey 并保存",
        f"Under 接收消息 → 设置API接收 enter {url}, the Token and the EncodingAESKey, and save"))
    return checks


def trusted_ip_fail(e: PlatformError) -> Check:
    ip = caller_ip(e.errmsg) or "this server's public address"
    return Check("trusted_ip", "fail", f"WeCom refused calls from {ip} (errcode 60020)",
                 f"在企业微信管理后台 应用管理 → 本应用 → 企业可信IP 中添加 {ip}（需先保存接收消息的URL；约1分钟生效）",
                 f"Add {ip} under 应用管理 → this app → 企业可信IP in the WeCom admin console (the callback URL must "
                 "be saved first; allow a minute to take effect)")


async def _visible(adapter: WeComAdapter, agent: dict[str, Any]) -> tuple[set[str], bool]:
    """The userids inside the app's visible range, and whether that set is complete (tags are not expanded; a
    department that cannot be listed leaves it incomplete)."""
    users = {str(u.get("userid")) for u in (agent.get("allow_userinfos") or {}).get("user") or [] if u.get("userid")}
    complete = not (agent.get("allow_tags") or {}).get("tagid")
    for party in (agent.get("allow_partys") or {}).get("partyid") or []:
        try:
            for dept in await adapter.departments(int(party)):
                users |= {str(u.get("userid")) for u in await adapter.department_users(int(dept["id"]))}
        except PlatformError:
            complete = False
    return users, complete


async def diagnose(adapter: WeComAdapter, mapped: list[str]) -> list[Check]:
    """The checks after the token: trusted IP, the app itself, its visible range against the people we map."""
    try:
        agent = await adapter.agent_get()
    except PlatformError as e:
        if e.errcode == 60020:
            return [trusted_ip_fail(e), Check("agent", "warn", "not checked: WeCom answers nothing else until the "
                                              "address is trusted")]
        if e.retryable:
            return [Check("agent", "warn", "WeCom could not be reached for agent/get")]
        return [Check("agent", "fail", f"agent/get refused: errcode {_code(e)}",
                      "在 应用管理 中确认 AgentId 与 Secret 属于同一个自建应用",
                      "Check in 应用管理 that the AgentId and the Secret belong to the same self-built app")]
    checks = [Check("trusted_ip", "ok", "WeCom answers this server's address (企业可信IP)")]
    if int(agent.get("close") or 0):
        checks.append(Check("agent", "fail", f"the app {agent.get('name', '')!r} is disabled in the console",
                            "在 应用管理 中启用该应用", "Enable the app in 应用管理"))
        return checks
    checks.append(Check("agent", "ok", f"app {agent.get('name', '')!r} exists and is enabled"))
    visible, complete = await _visible(adapter, agent)
    outside = sorted(u for u in mapped if u not in visible)
    if not outside:
        checks.append(Check("visible_range", "ok", f"all {len(mapped)} mapped people are in the app's 可见范围"))
    else:
        names = ", ".join(mask_user(u) for u in outside[:20]) + (" …" if len(outside) > 20 else "")
        status = "fail" if complete else "warn"
        detail = f"{len(outside)} mapped people outside the app's 可见范围 (cards to them are refused): {names}"
        if not complete:
            detail += " (tags or departments of the range could not be expanded: they may be inside after all)"
        checks.append(Check("visible_range", status, detail,
                            f"在 应用管理 → 本应用 → 可见范围 中加入：{names}",
                            f"Add them under 应用管理 → this app → 可见范围: {names}"))
    return checks


def _manager_of(person: dict[str, Any], leaders: dict[int, list[str]], parents: dict[int, int]) -> str | None:
    """The leader of the person's main department, else of the nearest department above with one."""
    uid = str(person.get("userid"))
    if direct := [str(u) for u in person.get("direct_leader") or [] if str(u) != uid]:
        return direct[0]  # 直属上级, when the console sets one
    dept = person.get("main_department") or next(iter(person.get("department") or []), None)
    seen: set[int] = set()
    while dept is not None and dept not in seen:
        seen.add(dept)
        candidates = [u for u in leaders.get(int(dept), []) if u != uid]
        if candidates:
            return candidates[0]
        dept = parents.get(int(dept))
    return None


async def directory(adapter: WeComAdapter) -> list[DirectoryPerson]:
    """Everyone the app may see: department/list, then user/list per department."""
    departments = await adapter.departments()
    parents = {int(d["id"]): int(d.get("parentid") or 0) for d in departments if "id" in d}
    leaders = {int(d["id"]): [str(u) for u in d.get("department_leader") or []] for d in departments if "id" in d}
    people: dict[str, dict[str, Any]] = {}
    for dept in departments:
        for user in await adapter.department_users(int(dept["id"])):
            uid = str(user.get("userid") or "")
            if uid:
                people.setdefault(uid, user)
                for d, is_leader in zip(user.get("department") or [], user.get("is_leader_in_dept") or []):
                    if is_leader and uid not in leaders.setdefault(int(d), []):
                        leaders[int(d)].append(uid)
    return [DirectoryPerson(
        user_id=uid, name=str(u.get("name") or uid), active=int(u.get("status") or 1) in _ACTIVE_STATUS,
        mobile=str(u["mobile"]) if u.get("mobile") else None, email=str(u["email"]) if u.get("email") else None,
        manager_user_id=_manager_of(u, leaders, parents),
        departments=tuple(int(d) for d in u.get("department") or []))
        for uid, u in sorted(people.items())]
