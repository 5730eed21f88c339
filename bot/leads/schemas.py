"""Validated shapes of the lead API (`/api/leads`), the lead CSV import and routing rules."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, EmailStr, Field, model_validator

from bot.admin.schemas import BIG_ID_MAX, ROW_ID_MAX, Out, Phone, Strict
from bot.leads.types import LOST_REASONS, IntentTier, Status

Text = Annotated[str, Field(max_length=200)]
Tag = Annotated[str, Field(min_length=1, max_length=32)]
Money = Annotated[int, Field(ge=0, le=10**13)]


class LeadIn(Strict):
    tenant_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX, description="Required with the operator token")
    external_id: Annotated[str, Field(min_length=1, max_length=128)] | None = Field(
        default=None, description="The CRM's id: posting the same one again returns the same lead"
    )
    company: Text = ""
    contact_name: Annotated[str, Field(max_length=100)] = ""
    phone: Phone | None = None
    email: EmailStr | None = None
    source: Annotated[str, Field(max_length=64)] = Field(default="", description="直播, 官网表单, 展会, 转介绍, …")
    region: Annotated[str, Field(max_length=64)] = ""
    industry: Annotated[str, Field(max_length=64)] = ""
    budget_min: Money | None = None
    budget_max: Money | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20, description="急, 招标中, 预算已批, …")
    intent: IntentTier | None = None

    @model_validator(mode="after")
    def _budget_order(self) -> LeadIn:
        if self.budget_min is not None and self.budget_max is not None and self.budget_min > self.budget_max:
            raise ValueError("budget_min is more than budget_max")
        if not (self.company or self.contact_name or self.phone or self.email):
            raise ValueError("a lead needs at least a company, a contact name, a phone or an e-mail")
        return self

    def values(self) -> dict[str, Any]:
        d = self.model_dump(exclude={"tenant_id"})
        d["phone"] = d["phone"] or ""
        d["email"] = d["email"] or ""
        d["intent"] = str(self.intent) if self.intent else None
        return d


class EventOut(BaseModel):
    seq: int
    at: datetime
    actor_id: int | None
    actor_role: str
    source: str
    action: str
    before: dict[str, Any]
    after: dict[str, Any]
    evidence: list[str]
    reason: str


class LeadOut(Out):
    id: int
    tenant_id: int
    external_id: str | None
    company: str
    contact_name: str
    phone: str
    email: str
    source: str
    region: str
    industry: str
    budget_min: int | None
    budget_max: int | None
    tags: list[str]
    intent: str | None
    priority: int
    status: str
    status_label: str
    assignee_id: int | None
    decision_maker: str | None
    contacts: list[dict[str, Any]]
    competitors: list[str]
    tender_date: date | None
    evidence: list[dict[str, Any]]
    lost_reason: str | None
    version: int
    created_at: datetime
    assigned_at: datetime | None
    contacted_at: datetime | None
    closed_at: datetime | None
    response_deadline: datetime | None = None
    overdue: bool = False
    events: list[EventOut] | None = None


class LeadQuery(Strict):
    tenant_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX)
    status: Status | None = None
    assignee_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX)
    overdue: bool | None = Field(default=None, description="Only leads past their response deadline")
    limit: int = Field(default=100, ge=1, le=1000)
    after_id: int = Field(default=0, ge=0, le=BIG_ID_MAX, description="Paging: leads with a larger id")


ActionName = Literal["advance", "mark_lost", "reopen", "claim", "assign", "release", "update_fields"]


class ActionIn(Strict):
    """What a card button does, for CRMs and scripts. `as_user_id` acts as that person (their rights apply);
    without it the tenant's integration acts as the system."""

    action: ActionName
    as_user_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX)
    to: Status | None = Field(default=None, description="advance: the next stage")
    reason: Annotated[str, Field(max_length=200)] = Field(default="", description=f"mark_lost: {list(LOST_REASONS)}")
    assignee_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX, description="assign: the rep")
    expected_version: int | None = Field(default=None, ge=0, description="Refuse if the lead changed since")
    budget_min: Money | None = None
    budget_max: Money | None = None
    tender_date: date | None = None
    decision_maker: Annotated[str, Field(max_length=100)] | None = None

    @model_validator(mode="after")
    def _needs(self) -> ActionIn:
        if self.action == "advance" and self.to is None:
            raise ValueError("advance needs `to`")
        if self.action == "assign" and self.assignee_id is None:
            raise ValueError("assign needs `assignee_id`")
        return self


class ActionOut(BaseModel):
    ok: bool
    code: str | None = None
    message: str | None = None
    missing: list[str] = Field(default_factory=list)
    lead: LeadOut


class RuleIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=128)]
    position: int = Field(default=0, ge=0, le=10_000)
    enabled: bool = True
    regions: list[Tag] = Field(default_factory=list)
    industries: list[Tag] = Field(default_factory=list)
    sources: list[Tag] = Field(default_factory=list)
    tags_any: list[Tag] = Field(default_factory=list)
    budget_min: Money | None = None
    budget_max: Money | None = None
    strategy: Literal["least_loaded", "round_robin", "named"] = "least_loaded"
    rep_ids: list[Annotated[int, Field(ge=1, le=ROW_ID_MAX)]] = Field(default_factory=list, max_length=500)
    named_rep_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX)

    @model_validator(mode="after")
    def _named(self) -> RuleIn:
        if self.strategy == "named" and self.named_rep_id is None:
            raise ValueError("the named strategy needs named_rep_id")
        return self

    def spec(self) -> dict[str, Any]:
        return self.model_dump(exclude={"name", "position", "enabled"})


class RuleOut(Out):
    id: int
    tenant_id: int
    name: str
    position: int
    enabled: bool
    spec: dict[str, Any]


class DisableUserIn(Strict):
    successor_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX,
                                     description="Hand open leads to this rep (else the pool)")
