""""Send me a test": one message on one alert channel (SMS or e-mail) as the tenant has it set up, to an address
the admin gives, so a wrong template, key or mail account shows before a real alert needs it.

The channel is opened exactly as the fallback chain opens it (`providers.open_tenant_sms`, `chain.open_email`); the
answer is the attempt's record (`DeliveryResult`: outcome, the provider's code, latency), shown to the admin, not
stored.
"""

from __future__ import annotations

import secrets

from bot.admin.tenant_settings import TenantSettings
from bot.alerting.notify.base import Alert, DeliveryResult, Recipient
from bot.alerting.notify.chain import open_email
from bot.alerting.notify.email import InvalidEmail, normalize_email
from bot.alerting.notify.phone import InvalidPhone, normalize_mobile
from bot.alerting.notify.providers import open_tenant_sms
from bot.errors import InvalidField
from bot.runtime.services import Services
from storage.models import Tenant

CHANNELS = ("sms", "email")


async def send_trial(services: Services, tenant: Tenant, channel: str, to: str) -> DeliveryResult:
    """Send a test message on `channel` to `to` (a mobile number or an e-mail address); InvalidField when the
    channel is not set up or the address is not one."""
    settings = TenantSettings.of(tenant.settings)
    if channel == "sms":
        try:
            address = normalize_mobile(to)
        except InvalidPhone as e:
            raise InvalidField("to", str(e)) from None
        opened = open_tenant_sms(services.box, services.http, settings.notify, services.clock)
        if opened is None:
            raise InvalidField("channel", "no SMS provider is set up for this tenant")
        recipient = Recipient(name=to, phone=address)
    elif channel == "email":
        try:
            address = normalize_email(to)
        except InvalidEmail as e:
            raise InvalidField("to", str(e)) from None
        opened = open_email(services.settings, services.clock)
        if opened is None:
            raise InvalidField("channel", "no SMTP account is set up for this service (LEADBOT_SMTP_*)")
        recipient = Recipient(name=to, email=address)
    else:
        raise InvalidField("channel", "sms or email")
    alert = Alert(id=f"test-{secrets.token_hex(6)}", kind="test", subject="线索助手测试消息 / leadbot test message",
                  text=f"这是一条测试消息，说明{tenant.name}的提醒可以送达。\nThis is a test: alerts reach you.",
                  sms_params={"title": "测试", "lead": "测试消息", "rep": "管理员"})
    return await opened.send(alert, recipient)
