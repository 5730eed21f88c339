"""The fallback chain's rules: which channel next, when, and why. Pure: the runner (`bot.alerting.alerts`) does the I/O.

An alert goes down an ordered chain (chat -> SMS -> e-mail by default). A failed attempt (a platform errcode, an
HTTP error, a timeout, no address on that channel, a channel the tenant has not configured) moves on at once. A
successful one waits: an alert that asks someone to act moves on when nobody acknowledges it within the channel's
ack timeout; news is done once it went out. The chain is frozen onto the alert when it is raised (`ChainPlan`),
so a settings change does not reshape an alert half-way down its chain.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.alerting.notify.base import Channel, DeliveryOutcome, DeliveryResult
from bot.alerting.notify.email import EmailChannel
from bot.runtime.clock import Clock
from bot.runtime.logs import register_secret

if TYPE_CHECKING:
    from bot.runtime.config import Settings

CHANNELS = ("chat", "sms", "email")
DEFAULT_ACK_TIMEOUT_S: Mapping[str, int] = {"chat": 15 * 60, "sms": 30 * 60, "email": 60 * 60}

# Codes that mean the channel could not even be tried for this person.
NO_ADDRESS = "no_address"
NOT_CONFIGURED = "not_configured"
_UNREACHABLE = frozenset({NO_ADDRESS, NOT_CONFIGURED, "invalid_phone", "invalid_email"})


class AlertState(enum.StrEnum):
    PENDING = "pending"  # raised, first attempt not started
    SENDING = "sending"  # an attempt is under way (next_at is its lease)
    WAITING = "waiting"  # sent; waiting for an ack until next_at, then the next channel
    ACKED = "acked"
    DELIVERED = "delivered"  # went out, nothing more to try (news, or the last channel took it)
    FAILED = "failed"  # every channel failed
    MOOT = "moot"  # what it was about no longer holds (the lead was contacted)


OPEN_STATES = (AlertState.PENDING, AlertState.SENDING, AlertState.WAITING)


class Move(enum.StrEnum):
    NEXT = "next"  # try the next channel now
    WAIT = "wait"  # wait for an ack until `at`, then the next channel
    DONE = "done"


@dataclass(frozen=True, slots=True)
class NextMove:
    move: Move
    at: datetime | None = None
    state: AlertState | None = None  # for DONE: how the alert ends


@dataclass(frozen=True, slots=True)
class ChainPlan:
    channels: tuple[str, ...] = CHANNELS
    ack_timeout_s: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_ACK_TIMEOUT_S))
    needs_ack: bool = True

    def __post_init__(self) -> None:
        unknown = [c for c in self.channels if c not in CHANNELS]
        if unknown or len(set(self.channels)) != len(self.channels):
            raise ValueError(f"a chain is distinct channels among {CHANNELS}, got {self.channels}")

    def ack_timeout(self, channel: str) -> timedelta:
        return timedelta(seconds=self.ack_timeout_s.get(channel, DEFAULT_ACK_TIMEOUT_S.get(channel, 0)))

    def to_json(self) -> dict[str, Any]:
        return {"channels": list(self.channels), "ack_timeout_s": dict(self.ack_timeout_s), "needs_ack": self.needs_ack}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ChainPlan:
        return cls(tuple(d["channels"]), dict(d.get("ack_timeout_s") or {}), bool(d.get("needs_ack", True)))


def after_attempt(plan: ChainPlan, index: int, ok: bool, now: datetime, *, reached_before: bool) -> NextMove:
    """What follows attempt `index`. `reached_before`: an earlier channel already got the alert out."""
    last = index + 1 >= len(plan.channels)
    if not ok:
        if not last:
            return NextMove(Move.NEXT)
        return NextMove(Move.DONE, state=AlertState.DELIVERED if reached_before else AlertState.FAILED)
    if not plan.needs_ack or last:
        # Sent on the last channel: there is nothing left to fall back to, so waiting for an ack changes nothing.
        return NextMove(Move.DONE, state=AlertState.DELIVERED)
    return NextMove(Move.WAIT, at=now + plan.ack_timeout(plan.channels[index]))


def fallback_reason(result: DeliveryResult | None, skipped: str | None = None) -> str:
    """Why the chain moved past a channel, as a metrics label: timeout, http_error, refused (a provider's own
    code), no_address, not_configured, invalid_address; `no_ack` is given by the runner."""
    if skipped is not None:
        return skipped
    assert result is not None
    if result.outcome is DeliveryOutcome.TIMEOUT:
        return "timeout"
    code = result.code or ""
    if code in _UNREACHABLE:
        return "invalid_address" if code.startswith("invalid") else code
    if code.startswith("HTTP "):  # only a status, no answer of the provider's own
        return "http_error"
    if code in ("ClientConnectorError", "ServerDisconnectedError", "ClientOSError", "OSError", "transport"):
        return "connection"
    return "refused"


# --- the channels behind the names ------------------------------------------------------------------------------


def skipped(channel: str, code: str, detail: str) -> DeliveryResult:
    """The record of a channel that could not be tried (not configured, no address): it counts as failed."""
    return DeliveryResult(channel=channel, provider="", outcome=DeliveryOutcome.FAILED, latency_ms=0.0, code=code,
                          detail=detail)


def open_email(settings: Settings, clock: Clock | None = None) -> Channel | None:
    """E-mail through the service's SMTP account (LEADBOT_SMTP_*), or None when there is none."""
    if not settings.smtp_host or not settings.smtp_sender:
        return None
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    register_secret(password)
    return EmailChannel(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_sender,
                        sender_name=settings.smtp_sender_name, tls=settings.smtp_tls, username=settings.smtp_username,
                        password=password, timeout_s=settings.smtp_timeout_s, clock=clock)
