"""Constants and builders shared by the DingTalk tests (conftest.py holds the fixtures)."""

from __future__ import annotations

from typing import Any

from bot.platforms.dingtalk.config import DingTalkCredentials

APP_KEY = "dingsimappkey01"
APP_SECRET = "sim-app-secret-0123456789"
USERS = ("rep1", "rep2", "mgr1")


def credentials(**overrides: Any) -> DingTalkCredentials:
    fields: dict[str, Any] = {"app_key": APP_KEY, "app_secret": APP_SECRET, "card_template_id": "tpl.schema",
                              "agent_id": 4242}
    fields.update(overrides)
    return DingTalkCredentials(**fields)
