"""One driver per platform, so a scenario is written once and run on WeCom and DingTalk alike (see base.py)."""

from __future__ import annotations

from tests.parity.drivers.base import HeldCard, Person, PlatformDriver, RouteMissing, SentMessage
from tests.parity.drivers.dingtalk import DingTalkDriver, DingTalkStreamDriver
from tests.parity.drivers.feishu import FeishuDriver
from tests.parity.drivers.wecom import WeComDriver

DRIVERS: dict[str, type[PlatformDriver]] = {"wecom": WeComDriver, "dingtalk": DingTalkDriver,
                                            "dingtalk-stream": DingTalkStreamDriver, "feishu": FeishuDriver}

__all__ = ["DRIVERS", "DingTalkDriver", "DingTalkStreamDriver", "FeishuDriver", "HeldCard", "Person", "PlatformDriver",
           "RouteMissing", "SentMessage", "WeComDriver"]
