"""The escalation tests' world (a tenant on a simulated WeCom app, SMS simulators, a real SMTP server) serves the
board's tests too."""

from tests.escalation.conftest import services, settings, wecom, world  # noqa: F401 - aliyun, smtp: tests/support plugins
