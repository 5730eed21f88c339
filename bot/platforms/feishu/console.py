"""What an admin pastes into and does in the Feishu / Lark developer console after registering an app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.platforms.feishu.config import NAME


def callback_urls(base_url: str, app_id: int) -> dict[str, str]:
    return {"events": f"{base_url}/{NAME}/{app_id}/events", "card": f"{base_url}/{NAME}/{app_id}/card"}


def checklist(app: Any, urls: Mapping[str, str]) -> list[tuple[str, str]]:
    """The console steps, (zh, en), in the order the Feishu developer console allows them (`app`: the stored row;
    its `public` holds the readable credentials and which secrets are set)."""
    app_id = app.id
    console = "open.larksuite.com/app" if app.public.get("lark") else "open.feishu.cn/app"
    ws = app.public.get("mode") == "ws"
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
    if "encrypt_key" not in app.public.get("secrets_set", []):
        steps.insert(0, ("注意：未设置 Encrypt Key 时飞书不加密也不签名推送，仅凭 Verification Token 校验；"
                         "请设置 Encrypt Key",
                         "Warning: without an Encrypt Key Feishu neither encrypts nor signs pushes (only the "
                         "Verification Token proves them); set one"))
    return steps
