"""DingTalk's own channel for an app's alerts: the work notice (工作通知)."""

from __future__ import annotations

from bot.alerting.notify.base import Alert, DeliveryOutcome, Recipient, Reply, clip, one_line
from bot.alerting.notify.chat import ChatChannel, markdown, reply_for
from bot.errors import PlatformError
from bot.platforms.dingtalk.adapter import DingTalkAdapter
from cards.limits import inert_markdown


class WorkNoticeChat(ChatChannel):
    """On DingTalk an alert is a work notice (工作通知) when the app has an AgentId: the platform's channel for an
    app's alerts, shown under 工作通知 with its own notification, reaching anyone in the app's visible range
    whether or not they ever opened the robot's chat. A work notice has no callback buttons, so it carries the
    lead link and the ack link (the e-mail's two-step ack page). Without an AgentId the robot's card (or its
    markdown) goes instead, as on the other platforms.

    DingTalk accepts a work notice asynchronously: errcode 0 is "accepted", and a person it cannot reach after
    that is caught by the ack timeout like an unread message. Its refusals (33012 invalid userid, 40056 bad
    AgentId, 60020 IP not allowed, 90018 rate limit, HTTP 5xx, no answer) are failed attempts: the chain goes on.
    """

    async def _deliver(self, alert: Alert, recipient: Recipient, address: str) -> Reply:
        adapter = self.adapter
        if not isinstance(adapter, DingTalkAdapter) or not adapter.sends_work_notices:
            return await super()._deliver(alert, recipient, address)
        try:
            result = await adapter.send_work_notice([address], inert_markdown(one_line(clip(alert.subject, 60))),
                                                    markdown(alert))
        except PlatformError as e:
            return reply_for(e)
        return Reply(DeliveryOutcome.OK, "0", f"task_id={result.message_id or ''}",
                     result.request_id or result.message_id)
