"""The escalation tests' world (a tenant on a simulated WeCom app, SMS simulators, a real SMTP server) serves the
console's tests too, over plain http on 127.0.0.1 (so its cookie is not Secure, as the service decides)."""

import pytest

from bot.runtime.config import Settings
from tests.board.test_browser import browser_ready, chromium  # noqa: F401 - the board's browser fixtures
from tests.escalation.conftest import services, wecom, world  # noqa: F401 - aliyun, smtp: tests/support plugins
from tests.notify.smtp_server import Recorder
from tests.support.alerting import with_smtp


@pytest.fixture
def settings(settings: Settings, smtp: Recorder) -> Settings:
    return with_smtp(settings, smtp).model_copy(update={"public_url": "http://127.0.0.1"})
