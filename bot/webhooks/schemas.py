"""Validated shapes of the webhook admin API and CLI."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, model_validator

from bot.admin.schemas import BIG_ID_MAX, ROW_ID_MAX, Out, Strict
from bot.webhooks.payloads import ALL, SUBSCRIBABLE
from storage.models import DeliveryState

Url = Annotated[str, Field(min_length=1, max_length=2048, description="http(s) URL of the receiver")]


def _types(values: list[str]) -> list[str]:
    unknown = sorted(set(values) - set(SUBSCRIBABLE) - {ALL})
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r}; known: {', '.join(SUBSCRIBABLE)} or {ALL!r}")
    return sorted(set(values))


EventTypes = Annotated[list[str], Field(min_length=1, max_length=20), AfterValidator(_types)]


class SubscriptionIn(Strict):
    tenant_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX, description="Required with the operator token")
    url: Url
    event_types: EventTypes = Field(description=f"Any of {', '.join(SUBSCRIBABLE)}, or {ALL!r} for all")
    description: Annotated[str, Field(max_length=200)] = ""
    enabled: bool = True


class SubscriptionPatch(Strict):
    url: Url | None = None
    event_types: EventTypes | None = None
    description: Annotated[str, Field(max_length=200)] | None = None


class SubscriptionQuery(Strict):
    tenant_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX)
    enabled: bool | None = None


class SubscriptionOut(Out):
    id: int
    tenant_id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None = None
    failing_since: datetime | None = None
    last_success_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="The signing secret, shown once: it is kept only encrypted")


class AttemptOut(Out):
    id: int
    delivery_id: int
    event_id: str
    event_type: str
    attempt: int
    url: str
    status_code: int | None
    outcome: str
    latency_ms: float
    error: str
    response_excerpt: str
    at: datetime


class DeliveryOut(Out):
    id: int
    event_id: str
    event_type: str
    lead_id: int | None
    seq: int | None
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime


class PageQuery(Strict):
    limit: int = Field(default=100, ge=1, le=1000)
    before_id: int | None = Field(default=None, ge=1, le=BIG_ID_MAX,
                                  description="Paging, newest first: rows with a smaller id")


class DeliveryQuery(PageQuery):
    state: DeliveryState | None = None


class RedeliverIn(Strict):
    """Replay one event, or every event of a time range the subscription wants (whatever became of it before)."""

    event_id: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    since: datetime | None = Field(default=None, description="Events created at or after this time")
    until: datetime | None = Field(default=None, description="… and before this time (default: now)")
    only_dead: bool = Field(default=False, description="Replay only events that were given up on")

    @model_validator(mode="after")
    def _one_way(self) -> RedeliverIn:
        if (self.event_id is None) == (self.since is None):
            raise ValueError("give either event_id or since (with an optional until)")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone offset, e.g. 2026-11-23T08:00:00+08:00")
        return self


class RedeliverOut(BaseModel):
    queued: int


class TestOut(BaseModel):
    ok: bool
    event_id: str
    outcome: str
    status_code: int | None
    latency_ms: float
    error: str
    response_excerpt: str
