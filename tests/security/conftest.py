"""The escalation world (a WeCom app on the simulator, SMS by Aliyun's simulator, a real SMTP server, users with
phones and e-mail addresses) reused for the security scenario."""

from tests.escalation.conftest import settings, wecom, world  # noqa: F401 - aliyun, smtp, tencent: tests/support plugins
