"""Hostile input against the real routes: the WeCom world of tests/e2e_wecom and the DingTalk team of
tests/e2e_dingtalk, reused as they are."""

from tests.e2e_dingtalk.conftest import counted, dt, team, worker  # noqa: F401
from tests.e2e_wecom.conftest import wecom_app, world  # noqa: F401 - sim, sender: tests/support/wecom.py
