from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime
from email.header import decode_header, make_header
from pathlib import Path

import pytest

from bot.alerting.notify.base import Alert, DeliveryOutcome, Recipient
from bot.alerting.notify.email import EmailChannel, InvalidEmail, build_message, normalize_email
from tests.notify.smtp_server import Recorder, client_context, self_signed_cert, server_context, start_smtp

SENDER = "alerts@leadbot.example.com"


def channel(port: int, **kwargs) -> EmailChannel:
    return EmailChannel(
        **(
            {
                "host": "127.0.0.1",
                "port": port,
                "sender": SENDER,
                "sender_name": "领客提醒",
                "tls": "none",
                "timeout_s": 5,
            }
            | kwargs
        )
    )


def parse(envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(envelope.original_content, policy=email.policy.default)


async def test_message_arrives_with_both_parts_and_the_links(smtp, alert: Alert, recipient: Recipient) -> None:
    recorder, port = smtp
    result = await channel(port).send(alert, recipient)
    assert (result.outcome, result.code) == (DeliveryOutcome.OK, "250")
    assert "queued as T3ST" in result.detail
    [envelope] = recorder.messages
    assert envelope.mail_from == SENDER and envelope.rcpt_tos == ["li.manager@example.com"]
    msg = parse(envelope)
    assert msg["Subject"] == "线索超时未联系：华东电力 数据中心项目"
    assert msg["Message-ID"] == result.request_id and msg["Message-ID"].endswith("@leadbot.example.com>")
    assert msg["Date"] and msg["X-Leadbot-Alert"] == "alert-42"
    assert msg["To"].addresses[0].display_name == "李经理"
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",)).get_content()
    rich = msg.get_body(("html",)).get_content()
    for part in (plain, rich):
        assert "张三" in part
        assert "https://leadbot.example.com/leads/42" in part
    assert "https://leadbot.example.com/ack/alert-42?t=abc" in plain
    assert 'href="https://leadbot.example.com/ack/alert-42?t=abc"' in rich


def test_raw_headers_are_7bit_and_the_subject_is_rfc2047(alert: Alert) -> None:
    msg = build_message(
        alert,
        sender=SENDER,
        sender_name="领客提醒",
        to="li@example.com",
        to_name="李经理",
        now=datetime(2026, 6, 3, 8, 0, tzinfo=UTC),
    )
    raw = msg.as_bytes()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    subject = email.message_from_bytes(raw)["Subject"]  # compat32: the raw, still-encoded header
    assert "=?utf-8?" in subject.lower()
    assert str(make_header(decode_header(subject))) == alert.subject
    assert b"Date: Wed, 03 Jun 2026 08:00:00 +0000" in head


def test_html_is_escaped(alert: Alert) -> None:
    hostile = replace(alert, text="<script>alert(1)</script>", link='https://x.cn/?a=1&b="2"')
    msg = build_message(
        hostile, sender=SENDER, sender_name="x", to="li@example.com", to_name="", now=datetime(2026, 6, 3, tzinfo=UTC)
    )
    rich = msg.get_body(("html",)).get_content()
    assert "<script>" not in rich and "&lt;script&gt;" in rich
    assert 'href="https://x.cn/?a=1&amp;b=&quot;2&quot;"' in rich


async def test_refused_recipient_is_recorded_with_the_smtp_reply(smtp, alert: Alert, recipient: Recipient) -> None:
    recorder, port = smtp
    recorder.refuse["li.manager@example.com"] = "550 5.1.1 <li.manager@example.com>: Recipient address rejected"
    result = await channel(port).send(alert, recipient)
    assert (result.outcome, result.code) == (DeliveryOutcome.FAILED, "550")
    assert "Recipient address rejected" in result.detail
    assert recorder.messages == []


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    pytest.importorskip("cryptography")
    return self_signed_cert(tmp_path)


async def test_starttls_upgrades_before_sending(tls_files, alert: Alert, recipient: Recipient) -> None:
    cert, key = tls_files
    recorder = Recorder()
    controller = start_smtp(recorder, tls_context=server_context(cert, key), require_starttls=True)
    try:
        result = await channel(controller.port, tls="starttls", tls_context=client_context(cert)).send(alert, recipient)
    finally:
        controller.stop()
    assert result.ok
    assert recorder.tls_sessions == 1


async def test_starttls_mode_never_falls_back_to_clear_text(smtp, alert: Alert, recipient: Recipient) -> None:
    recorder, port = smtp  # this server offers no STARTTLS
    result = await channel(port, tls="starttls").send(alert, recipient)
    assert result.outcome is DeliveryOutcome.FAILED
    assert recorder.messages == []


async def test_implicit_tls(tls_files, alert: Alert, recipient: Recipient) -> None:
    cert, key = tls_files
    recorder = Recorder()
    controller = start_smtp(recorder, ssl_context=server_context(cert, key))
    try:
        result = await channel(controller.port, tls="implicit", tls_context=client_context(cert)).send(alert, recipient)
    finally:
        controller.stop()
    assert result.ok and recorder.tls_sessions == 1


async def test_untrusted_certificate_is_a_failed_result(tls_files, alert: Alert, recipient: Recipient) -> None:
    cert, key = tls_files
    recorder = Recorder()
    controller = start_smtp(recorder, ssl_context=server_context(cert, key))
    try:
        result = await channel(controller.port, tls="implicit").send(alert, recipient)  # system CAs only
    finally:
        controller.stop()
    assert result.outcome is DeliveryOutcome.FAILED
    assert recorder.messages == []


def _accept_only(username: str, password: str):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            username.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False)

    return authenticator


@pytest.mark.parametrize(
    ("password", "outcome", "code"), [("right", DeliveryOutcome.OK, "250"), ("wrong", DeliveryOutcome.FAILED, "535")]
)
async def test_login_over_starttls(tls_files, alert, recipient, password, outcome, code) -> None:
    cert, key = tls_files
    recorder = Recorder()
    controller = start_smtp(
        recorder,
        tls_context=server_context(cert, key),
        require_starttls=True,
        authenticator=_accept_only("bot", "right"),
        auth_required=True,
    )
    try:
        ch = channel(
            controller.port, tls="starttls", tls_context=client_context(cert), username="bot", password=password
        )
        result = await ch.send(alert, recipient)
    finally:
        controller.stop()
    assert (result.outcome, result.code) == (outcome, code)
    assert len(recorder.messages) == (1 if outcome is DeliveryOutcome.OK else 0)
    assert "wrong" not in repr(ch) and "right" not in repr(ch)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("li.manager@example.com", "li.manager@example.com"),
        (" Li.Manager+crm@Example.COM ", "Li.Manager+crm@example.com"),
        ("sales@例子.中国", "sales@xn--fsqu00a.xn--fiqs8s"),
    ],
)
def test_normalize_email(raw: str, normalized: str) -> None:
    assert normalize_email(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "bad address@example.com",
        "张三@example.com",
        "<li@example.com>",
        "li@example",
        "li..x@example.com",
        "li@-example.com",
        "@example.com",
        "li.example.com",
    ],
)
def test_unusable_addresses(raw: str) -> None:
    with pytest.raises(InvalidEmail):
        normalize_email(raw)


async def test_unusable_address_is_a_failed_result_not_an_exception(smtp, alert, recipient) -> None:
    recorder, port = smtp
    result = await channel(port).send(alert, replace(recipient, email="张三 <zhangsan@example.com>"))
    assert (result.outcome, result.code) == (DeliveryOutcome.FAILED, "invalid_email")
    assert recorder.messages == []


def test_line_breaks_in_subject_and_names_cannot_inject_headers(alert: Alert) -> None:
    sneaky = replace(alert, subject="线索超时\r\nBcc: everyone@example.com")
    msg = build_message(
        sneaky,
        sender=SENDER,
        sender_name="领客\n提醒",
        to="li@example.com",
        to_name="李\r\n经理",
        now=datetime(2026, 6, 3, tzinfo=UTC),
    )
    parsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert parsed["Subject"] == "线索超时 Bcc: everyone@example.com"
    assert parsed["To"].addresses[0].display_name == "李 经理"


@pytest.mark.parametrize(
    ("raw", "options", "reply"),
    [
        (b"From: a@example.com\r\n\r\nno date\r\n", [], "554 5.6.0 exactly one Date"),
        (b"From: a@example.com\r\nDate: Mon, 1 Jan 2029 00:00:00 +0000\r\n\r\n" + "中文".encode() + b"\r\n", [],
         "554 5.6.1"),
        (b"From: a@example.com\r\nDate: Mon, 1 Jan 2029 00:00:00 +0000\r\n\r\n" + b"x" * 999 + b"\r\n",
         ["BODY=8BITMIME"], "554 5.6.0 line longer"),
        (b"From: a@example.com\r\nDate: Mon, 1 Jan 2029 00:00:00 +0000\r\nMessage-ID: 42\r\n\r\nx\r\n", [],
         "554 5.6.0 malformed Message-ID"),
    ],
    ids=["no-date", "8bit-undeclared", "long-line", "bad-message-id"],
)
async def test_the_smtp_server_refuses_what_a_strict_mta_refuses(smtp, raw: bytes, options, reply: str) -> None:
    """The stand-in is as strict as a receiving MTA, so the channel's own messages passing it means something."""
    import aiosmtplib

    recorder, port = smtp
    with pytest.raises(aiosmtplib.SMTPDataError) as raised:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=False, start_tls=False) as client:
            await client.sendmail("a@example.com", ["b@example.com"], raw, mail_options=options)
    assert f"{raised.value.code} {raised.value.message}".startswith(reply)
    assert recorder.messages == [] and len(recorder.refused) == 1


async def test_a_short_chinese_alert_goes_as_7bit(smtp, alert: Alert, recipient: Recipient) -> None:
    """Every line within 78 octets: the SMTP policy alone would send the body as raw 8-bit, which a server
    without 8BITMIME refuses (554 5.6.1, as the test server does)."""
    recorder, port = smtp
    short = replace(alert, text="张三的线索已超时", link=None, ack_link=None)
    result = await channel(port).send(short, recipient)
    assert (result.outcome, result.code) == (DeliveryOutcome.OK, "250")
    assert "张三的线索已超时" in parse(recorder.messages[0]).get_body(("plain",)).get_content()
