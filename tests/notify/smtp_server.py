"""A real SMTP server for tests (aiosmtpd in a thread) that records messages and refuses on request.

Like a strict receiving MTA it also refuses a message that is not what RFC 5321/5322 allow on the wire (issue 23):
a bare LF or CR, a line over 998 octets, 8-bit data without `BODY=8BITMIME`, non-ASCII headers without
`SMTPUTF8`, no `Date` or `From` header or more than one, and a `Message-ID` that is not `<id@domain>`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Recorder:
    """The aiosmtpd handler: accepts everything except addresses in `refuse`; `hang` stalls the DATA answer."""

    messages: list[Any] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> SMTP reply, e.g. "550 5.1.1 User unknown"
    data_reply: str | None = None  # a non-250 reply to DATA, e.g. "451 4.3.0 Try again later"
    hang: bool = False
    released: bool = False
    tls_sessions: int = 0
    refused: list[str] = field(default_factory=list)  # replies to messages malformed on the wire

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        while self.hang and not self.released:
            await asyncio.sleep(0.05)
        if self.data_reply:
            return self.data_reply
        if refusal := wire_refusal(envelope.original_content, envelope.mail_options, envelope.smtp_utf8):
            self.refused.append(refusal)
            return refusal
        if server.transport.get_extra_info("ssl_object") is not None:
            self.tls_sessions += 1
        self.messages.append(envelope)
        return "250 2.0.0 Ok: queued as T3ST"


_MESSAGE_ID = re.compile(rb"^\s*<[^<>@\s]+@[^<>@\s]+>\s*$")


def wire_refusal(raw: bytes, mail_options: list[str], smtp_utf8: bool) -> str | None:
    """The reply a strict MTA gives to the message `raw` as received (dot-unstuffed), or None when it conforms."""
    if re.search(rb"(?<!\r)\n|\r(?!\n)", raw):
        return "554 5.6.0 bare LF or CR in message"
    lines = raw.split(b"\r\n")
    if any(len(line) > 998 for line in lines):
        return "554 5.6.0 line longer than 998 octets"
    head = raw.split(b"\r\n\r\n", 1)[0]
    eight_bit = any(b > 127 for b in raw)
    if eight_bit and "BODY=8BITMIME" not in [o.upper() for o in mail_options] and not smtp_utf8:
        return "554 5.6.1 8-bit data without BODY=8BITMIME"
    if any(b > 127 for b in head) and not smtp_utf8:
        return "554 5.6.7 non-ASCII header without SMTPUTF8"
    names = [line.split(b":", 1)[0].strip().lower() for line in head.split(b"\r\n") if line[:1] not in b" \t"]
    for name in (b"date", b"from"):
        if names.count(name) != 1:
            return f"554 5.6.0 exactly one {name.decode().title()} header is required"
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"message-id:") and not _MESSAGE_ID.match(line.split(b":", 1)[1]):
            return "554 5.6.0 malformed Message-ID"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_smtp(recorder: Recorder, **kwargs: Any) -> Controller:
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, made with `cryptography` (tests only)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))
