"""What an admin pastes into and does in the DingTalk developer console after registering an app."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def callback_urls(base_url: str, app_id: int) -> dict[str, str]:
    return {
        "robot": f"{base_url}/dingtalk/{app_id}/callback",
        "events": f"{base_url}/dingtalk/{app_id}/events",
        "card": f"{base_url}/dingtalk/{app_id}/card",
    }


def checklist(app: Any, urls: Mapping[str, str]) -> list[tuple[str, str]]:
    """The console steps, (zh, en), in the order the console allows them."""
    stream = app.public.get("mode") == "stream"
    return [
        ("开发者后台 → 本应用 → 应用功能 → 机器人：添加并发布机器人，RobotCode 与注册时一致",
         "Developer console → the app → 机器人: add and publish the robot; its RobotCode must match the one "
         "registered"),
        ("权限管理：申请 互动卡片（Card.Instance.Write）、机器人消息、通讯录部门与成员读取（目录同步用）",
         "权限管理: request the interactive card (Card.Instance.Write), robot message and, for directory sync, "
         "department and member read permissions"),
        ("机器人 → 消息接收模式：Stream 模式（无需公网地址，运行 leadbot serve/worker 即可）" if stream else
         f"机器人 → 消息接收模式：HTTP 模式，URL 填 {urls['robot']}",
         "机器人 → receive mode: Stream (no public URL; leadbot serve/worker connects)" if stream else
         f"机器人 → receive mode: HTTP with {urls['robot']}"),
        ("开发管理 → 服务器出口IP：添加本服务器的出口 "
         "IP", "开发管理 → 服务器出口IP: add this server's outbound IP"),
        (f"运行 leadbot apps verify {app.id}（HTTP 模式会登记卡片回调 {urls['card']}），再用 leadbot apps test "
         "发测试卡片",
         f"Run leadbot apps verify {app.id} (HTTP mode registers the card callback {urls['card']}), then send a "
         "test card with leadbot apps test"),
    ]
