"""E-mail over SMTP (aiosmtplib): plain text plus HTML, the lead's link and an acknowledge link in both.

One connection per alert, one recipient per transaction, so the reply code recorded is the server's answer for
that person: 250 from DATA when accepted, the RCPT refusal (550 5.1.1...) when not. TLS is explicit in the
configuration: "starttls" (submission, port 587) insists on the upgrade instead of silently sending in clear when
the server does not offer it; "implicit" is SMTPS (port 465); "none" only for a local relay or test server.
"""

from __future__ import annotations

import html
import re
import secrets
import ssl
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime
from typing import ClassVar, Literal

import aiosmtplib

from bot.alerting.notify.base import Alert, Channel, DeliveryOutcome, Recipient, Reply, clip, one_line
from bot.alerting.notify.phone import mask_email
from bot.errors import LeadbotError
from bot.runtime.clock import Clock, SystemClock

TlsMode = Literal["starttls", "implicit", "none"]
# A deliberately plain address: ASCII local part (SMTPUTF8 is rarely offered), a dotted domain. IDN domains are
# accepted and sent in their ASCII (punycode) form.
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}$")


# 7-bit bodies: the SMTP policy alone sends a body whose lines all fit in 78 octets (a short Chinese alert) as
# raw 8-bit, which a server without 8BITMIME refuses (554 5.6.1), as we never ask for BODY=8BITMIME.
BODY_POLICY = SMTP_POLICY.clone(cte_type="7bit")


class InvalidEmail(LeadbotError):
    """An e-mail address this channel will not send to."""


def normalize_email(raw: str) -> str:
    """`raw` stripped, with an IDN domain in ASCII; raises `InvalidEmail` (the message masks the address)."""
    local, at, domain = raw.strip().rpartition("@")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_domain = ""
    if not at or not _LOCAL_PART.match(local) or ".." in local or not _DOMAIN.match(ascii_domain):
        raise InvalidEmail(f"not a usable e-mail address: {mask_email(raw)}")
    return f"{local}@{ascii_domain.lower()}"


def build_message(alert: Alert, *, sender: str, sender_name: str, to: str, to_name: str, now: datetime) -> EmailMessage:
    """The MIME message (multipart/alternative: text/plain, then text/html). Pure: the clock comes in."""
    msg = EmailMessage(policy=BODY_POLICY)
    # The SMTP policy encodes non-ASCII headers (Chinese subject and names) as RFC 2047 words and wraps at 78.
    msg["Subject"] = clip(one_line(alert.subject), EmailChannel.subject_maxlen)
    msg["From"] = Address(display_name=one_line(sender_name), addr_spec=sender)
    msg["To"] = Address(display_name=one_line(to_name), addr_spec=to)
    msg["Date"] = format_datetime(now.astimezone(UTC))
    msg["Message-ID"] = message_id(alert.id, sender)
    msg["X-Leadbot-Alert"] = alert.id
    # An alert is a machine message: ask auto-responders (out-of-office) not to answer it.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(plain_text(alert))
    msg.add_alternative(alert.html or html_body(alert), subtype="html")
    return msg


def plain_text(alert: Alert) -> str:
    lines = [clip(alert.text.rstrip(), EmailChannel.text_maxlen), ""]
    if alert.link:
        lines.append(f"查看线索 / Open the lead: {alert.link}")
    if alert.ack_link:
        lines.append(f"确认收到 / Acknowledge: {alert.ack_link}")
    return "\n".join(lines).rstrip() + "\n"


def html_body(alert: Alert) -> str:
    text = clip(alert.text, EmailChannel.text_maxlen)
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n") if p.strip())
    links = []
    if alert.link:
        links.append(f'<a href="{html.escape(alert.link, quote=True)}">查看线索 / Open the lead</a>')
    if alert.ack_link:
        links.append(f'<a href="{html.escape(alert.ack_link, quote=True)}">确认收到 / Acknowledge</a>')
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
        f"<h3>{html.escape(alert.subject)}</h3>{paragraphs}<p>{' &nbsp; '.join(links)}</p></body></html>"
    )


def message_id(alert_id: str, sender: str) -> str:
    """`<alert-id.random@sender-domain>`: a bounce can be traced to its alert; short enough not to be folded."""
    token = "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in alert_id)[:40]
    domain = sender.rpartition("@")[2] or "leadbot.invalid"
    return f"<{token}.{secrets.token_hex(8)}@{domain}>"


class EmailChannel(Channel):
    """SMTP submission with one sender account. The password arrives decrypted and is never logged."""

    channel: ClassVar[str] = "email"
    provider: ClassVar[str] = "smtp"
    subject_maxlen: ClassVar[int] = 200
    text_maxlen: ClassVar[int] = 100_000
    default_timeout_s: ClassVar[float] = 30.0

    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        sender_name: str = "leadbot",
        tls: TlsMode = "starttls",
        username: str | None = None,
        password: str | None = None,
        tls_context: ssl.SSLContext | None = None,
        timeout_s: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(timeout_s=timeout_s)
        self.clock = clock or SystemClock()  # the message's Date header
        if tls not in ("starttls", "implicit", "none"):
            raise ValueError(f"tls must be 'starttls', 'implicit' or 'none', not {tls!r}")
        self.host, self.port, self.tls = host, port, tls
        self.sender, self.sender_name = sender, sender_name
        self.username = username
        self._password = password
        self._tls_context = tls_context

    def __repr__(self) -> str:
        sender = mask_email(self.sender)
        return f"EmailChannel(host={self.host!r}, port={self.port}, tls={self.tls!r}, sender={sender!r})"

    def address(self, recipient: Recipient) -> str | None:
        return recipient.email or None

    def masked(self, address: str) -> str:
        return mask_email(address)

    def client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.tls == "implicit",
            start_tls=self.tls == "starttls",
            tls_context=self._tls_context,
            timeout=self.timeout_s,
        )

    async def _deliver(self, alert: Alert, recipient: Recipient, address: str) -> Reply:
        try:
            address = normalize_email(address)
        except InvalidEmail as exc:
            return Reply.failed("invalid_email", str(exc))
        message = build_message(
            alert,
            sender=self.sender,
            sender_name=self.sender_name,
            to=address,
            to_name=recipient.name,
            now=self.clock.now(),
        )
        smtp = self.client()
        try:
            await smtp.connect()
            if self.username:
                await smtp.login(self.username, self._password or "")
            await smtp.mail(self.sender)
            await smtp.rcpt(address)
            response = await smtp.data(message.as_bytes())
        except aiosmtplib.SMTPTimeoutError as exc:
            return Reply(DeliveryOutcome.TIMEOUT, "timeout", str(exc)[:500])
        except aiosmtplib.SMTPResponseException as exc:
            return Reply.failed(str(exc.code), exc.message[:500])
        except aiosmtplib.SMTPException as exc:
            return Reply.failed(type(exc).__name__, str(exc)[:500])
        finally:
            if smtp.is_connected:
                await _quit_quietly(smtp)
        return Reply(DeliveryOutcome.OK, str(response.code), response.message[:500], message["Message-ID"])


async def _quit_quietly(smtp: aiosmtplib.SMTP) -> None:
    try:
        await smtp.quit()
    except (aiosmtplib.SMTPException, OSError):
        smtp.close()
