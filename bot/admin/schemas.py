"""Validated shapes of what the admin API and the CLI accept and return.

Input models forbid unknown fields (a typo must not be silently ignored) and normalise as they validate: phone
numbers to E.164, e-mail addresses to lower-case domain, time zones checked against the tz database.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, RootModel, create_model, field_validator
from pydantic.fields import FieldInfo

from bot.alerting.notify.phone import InvalidPhone, normalize_mobile, normalize_phone
from bot.platforms import registry
from bot.platforms.plugin import PlatformPlugin
from storage.models import AppState, AppStatus, Role, TokenScope

# Ids of tenants, users, apps, tokens, rules and webhook subscriptions are 32-bit columns (PostgreSQL INTEGER); those
# of leads, events and deliveries 64-bit. A larger number in a request can match nothing and must not reach the driver.
ROW_ID_MAX = 2**31 - 1
BIG_ID_MAX = 2**63 - 1
Name = Annotated[str, Field(min_length=1, max_length=128)]
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.@\-]+$")]
Label = Annotated[str, Field(min_length=1, max_length=64)]


def _tz(v: str) -> str:
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {v!r}") from None
    return v


def normalise_phone(v: str) -> str:
    """E.164 ("+8613800138000") from any common writing of a number; mainland numbers need no +86."""
    try:
        return normalize_phone(v)
    except InvalidPhone:
        raise ValueError("not a valid phone number") from None


def normalise_mobile(v: str) -> str:
    """A number alerts can be texted to: E.164, and mobile (a landline is refused, not discovered at 3 a.m.)."""
    try:
        return normalize_mobile(v)
    except InvalidPhone as e:
        raise ValueError("not a mobile number: SMS alerts cannot reach it" if "mobile" in str(e)
                         else "not a valid phone number") from None


TimeZone = Annotated[str, AfterValidator(_tz)]
Phone = Annotated[str, Field(max_length=32), AfterValidator(normalise_phone)]
# A person's own number, where the SMS channel reaches them (a lead's contact number may be any phone).
MobilePhone = Annotated[str, Field(max_length=32), AfterValidator(normalise_mobile)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# Tenants and tokens


class TenantIn(Strict):
    name: Name
    timezone: TimeZone = "Asia/Shanghai"


class TenantPatch(Strict):
    name: Name | None = None
    timezone: TimeZone | None = None
    active: bool | None = None


class TenantOut(Out):
    id: int
    name: str
    timezone: str
    active: bool
    created_at: datetime


class TokenIn(Strict):
    name: Name
    scope: TokenScope = TokenScope.API


class TokenOut(Out):
    id: int
    tenant_id: int
    name: str
    scope: TokenScope
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="Shown once: only its SHA-256 is kept")


# Apps


class _AppCommon(Strict):
    tenant_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX, description="Required with the operator token")
    name: Name
    api_base: Annotated[str, Field(max_length=512)] | None = Field(
        default=None, description="Replaces the platform's API host (private deployments, simulators)"
    )


class AppIn(RootModel):
    """An app to register: its `platform` picks the credentials model (one `<Title>AppIn` per installed platform,
    made by `bind_platforms`; the model cannot validate before then)."""

    root: AnyAppIn  # noqa: F821 - given by bind_platforms


def app_in_model(platform: PlatformPlugin) -> type[_AppCommon]:
    return create_model(f"{platform.title}AppIn", __base__=_AppCommon, platform=(Literal[platform.name], ...),
                        credentials=(platform.credentials_model, ...))


def bind_platforms(platforms: Iterable[PlatformPlugin]) -> None:
    """Make `AppIn` accept an app of each of these platforms, and the user schemas carry a person's id on each
    (the wiring's table, at install)."""
    platforms = tuple(platforms)
    models = tuple(app_in_model(p) for p in platforms)
    one_of: Any = Annotated[Union[models], Field(discriminator="platform")] if len(models) > 1 else models[0]  # noqa: UP007
    AppIn.model_rebuild(force=True, _types_namespace={"AnyAppIn": one_of})
    id_fields = [p.user_id_field for p in platforms]
    _put_fields(UserIn, "manager_id", {name: (Ident | None, None) for name in id_fields})
    _put_fields(UserPatch, "manager_id", {name: (Ident | None, None) for name in id_fields})
    _put_fields(UserOut, "manager_id", {name: (str | None, ...) for name in id_fields})


def _put_fields(model: type[BaseModel], after: str, fields: dict[str, tuple[Any, Any]]) -> None:
    """Give `model` these fields (name -> (annotation, default; ... for required)) right after its field `after`,
    in place: the API's routes hold the class itself, and the JSON and the OpenAPI document keep the field order
    they had when the fields were written out in the class. Pydantic has no public way to add a field to a class
    that exists; its field table is what `model_rebuild` builds the validator and schema from."""
    kept = {name: info for name, info in model.__pydantic_fields__.items() if name not in fields}
    table: dict[str, FieldInfo] = {}
    for name, info in kept.items():
        table[name] = info
        if name == after:
            table |= {new: FieldInfo.from_annotated_attribute(annotation, default)
                      for new, (annotation, default) in fields.items()}
    model.__pydantic_fields__ = table
    model.model_rebuild(force=True)


def _known_platform(name: str) -> str:
    if name not in registry.names():
        raise ValueError(f"one of {', '.join(registry.names())}")
    return name


class AppPatch(Strict):
    name: Name | None = None
    api_base: Annotated[str, Field(max_length=512)] | None = None
    # Only the fields given change; the result is validated as a whole.
    credentials: dict[str, Any] | None = None


class AppOut(Out):
    id: int
    tenant_id: int
    platform: str
    name: str
    status: AppStatus
    api_base: str | None
    public: dict[str, Any] = Field(description="Credential fields that are not secret")
    secrets_set: list[str] = Field(description="Which secret fields are stored (never their values)")
    callback_urls: dict[str, str]
    verified_at: datetime | None = None
    state: AppState = AppState.UNVERIFIED
    state_reason: str | None = None
    last_callback_at: datetime | None = None
    checklist: list[ChecklistStep] | None = Field(
        default=None, description="On registration: what to do in the platform console, in order")
    created_at: datetime
    updated_at: datetime


class AppQuery(Strict):
    tenant_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX)
    platform: Annotated[str, AfterValidator(_known_platform)] | None = None
    status: AppStatus | None = None


class NextStep(BaseModel):
    zh: str
    en: str


class CheckOut(BaseModel):
    name: str
    status: Literal["ok", "warn", "fail"]
    detail: str
    next_step: NextStep | None = None


class VerifyOut(BaseModel):
    ok: bool = Field(description="true only when no check failed")
    detail: str
    state: AppState = AppState.UNVERIFIED
    checks: list[CheckOut] = Field(default_factory=list)


class DirectorySyncIn(Strict):
    apply: bool = Field(default=False, description="false (the default): a dry run that changes nothing")


class DirectorySyncOut(BaseModel):
    dry_run: bool
    added: list[dict[str, Any]]
    changed: list[dict[str, Any]]
    deactivated: list[dict[str, Any]]
    skipped: list[dict[str, Any]] = Field(description="People with fields set by hand that sync left alone")


class TestCardIn(Strict):
    to: Ident = Field(description="The person's user id on the app's platform; they must be mapped")


class TestCardOut(BaseModel):
    test_id: int
    to: str
    delivered: bool
    clicked: bool
    click_after_s: float | None = None
    clicked_by: str | None = None
    summary: str = Field(description='e.g. "card delivered, click received 4.2 s later"')


class ChecklistStep(BaseModel):
    zh: str
    en: str


# Users


class UserIn(Strict):
    tenant_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX, description="Required with the operator token")
    name: Name
    role: Role = Role.REP
    manager_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX)
    # (each platform's id field, `<platform>.user_id_field`: put here by `bind_platforms`)
    phone: MobilePhone | None = None
    email: EmailStr | None = None
    region: Label | None = None
    industries: list[Label] = Field(default_factory=list, max_length=50)
    active: bool = True


class UserPatch(Strict):
    name: Name | None = None
    role: Role | None = None
    manager_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX)
    # (each platform's id field, `<platform>.user_id_field`: put here by `bind_platforms`)
    phone: MobilePhone | None = None
    email: EmailStr | None = None
    region: Label | None = None
    industries: list[Label] | None = Field(default=None, max_length=50)
    active: bool | None = None

    @field_validator("name", "role", "industries", "active")
    @classmethod
    def _not_null(cls, v: object) -> object:
        # Only given fields change, and null clears a field: these four have no "cleared" state.
        if v is None:
            raise ValueError("may be left out but not null")
        return v


class UserOut(Out):
    id: int
    tenant_id: int
    name: str
    role: Role
    manager_id: int | None
    # (each platform's id field, `<platform>.user_id_field`: put here by `bind_platforms`)
    phone: str | None
    email: str | None
    region: str | None
    industries: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime


class UserQuery(Strict):
    tenant_id: int | None = Field(default=None, ge=1, le=ROW_ID_MAX)
    role: Role | None = None
    active: bool | None = None


class RowError(BaseModel):
    row: int
    field: str | None
    reason: str


class ImportReport(BaseModel):
    created: int = 0
    updated: int = 0
    errors: list[RowError] = Field(default_factory=list)
