"""What an admin pastes into and does in the WeCom admin console after registering an app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def callback_urls(base_url: str, app_id: int) -> dict[str, str]:
    return {"callback": f"{base_url}/wecom/{app_id}/callback"}


def checklist(app: Any, urls: Mapping[str, str]) -> list[tuple[str, str]]:
    """The console steps, (zh, en), in the order the console allows them."""
    return [
        (f"应用管理 → 本应用 → 接收消息 → 设置API接收：URL 填 {urls['callback']}，Token 与 EncodingAESKey "
         "填注册时的值，保存"
         "（企业微信会立即校验该 URL）",
         f"应用管理 → the app → 接收消息 → 设置API接收: URL {urls['callback']}, the Token and EncodingAESKey you "
         "registered; save (WeCom checks the URL at once)"),
        ("URL 须为已备案（ICP）域名，备案主体须与本企业一致（或可信域名已验证）",
         "The URL's domain must be ICP-filed by a subject matching the corp (or a verified trusted domain)"),
        ("保存 URL 之后：应用管理 → 本应用 → 企业可信IP 中添加本服务器的出口 IP（约 1 分钟生效）",
         "After the URL is saved: add this server's outbound IP under 应用管理 → the app → 企业可信IP (takes "
         "about a "
         "minute)"),
        ("应用管理 → 本应用 → 可见范围："
         "包含所有要收卡片的销售和经理", "应用管理 → the app → 可见范围: include every rep "
         "and manager who gets cards"),
        (f"运行 leadbot apps verify {app.id}，再用 leadbot apps test {app.id} --to 某人 发一张测试卡片",
         f"Run leadbot apps verify {app.id}, then send a test card: leadbot apps test {app.id} --to SOMEONE"),
    ]
