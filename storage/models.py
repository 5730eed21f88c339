"""Tortoise models: the database is the source of truth.

Sealed columns (`*_sealed`) hold `storage.secrets` ciphertexts; nothing else in the schema is secret. Every
tenant-owned row carries `tenant_id` so a query can always be scoped to one tenant.
"""

from __future__ import annotations

import enum

from tortoise import fields, models


class Role(enum.StrEnum):
    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"


class AppStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class TokenScope(enum.StrEnum):
    """`admin`: the tenant's admin API (apps, users, rules) and its leads; `api`: lead intake and queries only."""

    ADMIN = "admin"
    API = "api"


class TimestampMixin:
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)


class Tenant(TimestampMixin, models.Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=128, unique=True)
    timezone = fields.CharField(max_length=64, default="Asia/Shanghai")
    active = fields.BooleanField(default=True)
    # Workflow, deadline, calendar and alert settings; validated by bot.tenant_settings before they are stored.
    settings = fields.JSONField(default=dict)

    class Meta:
        table = "tenants"


class ApiToken(TimestampMixin, models.Model):
    """A bearer token for one tenant. Only its SHA-256 is stored; the token is shown once, at creation."""

    id = fields.IntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="tokens")
    name = fields.CharField(max_length=128)
    scope = fields.CharEnumField(TokenScope, max_length=16)
    token_sha256 = fields.CharField(max_length=64, unique=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_tokens"


class App(TimestampMixin, models.Model):
    """A registered bot app of one tenant on one platform."""

    id = fields.IntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="apps")
    platform = fields.CharField(max_length=16)
    name = fields.CharField(max_length=128)
    # "wecom:<corp_id>:<agent_id>" or "dingtalk:<app_key>": a second registration of the same app is refused.
    identity = fields.CharField(max_length=200, unique=True)
    status = fields.CharEnumField(AppStatus, max_length=16, default=AppStatus.ACTIVE)
    api_base = fields.CharField(max_length=512, null=True)
    # Non-secret credential fields (corp_id, agent_id, app_key, robot_code, mode...), shown by the API.
    public = fields.JSONField(default=dict)
    # Secret credential fields (secret, token, AES keys) as one sealed JSON object.
    secrets_sealed = fields.TextField()
    verified_at = fields.DatetimeField(null=True)

    class Meta:
        table = "apps"


class User(TimestampMixin, models.Model):
    id = fields.IntField(primary_key=True)
    tenant: fields.ForeignKeyRelation[Tenant] = fields.ForeignKeyField("models.Tenant", related_name="users")
    name = fields.CharField(max_length=128)
    role = fields.CharEnumField(Role, max_length=16, default=Role.REP)
    manager: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="reports", null=True, on_delete=fields.SET_NULL
    )
    wecom_userid = fields.CharField(max_length=64, null=True)
    dingtalk_staff_id = fields.CharField(max_length=64, null=True)
    phone = fields.CharField(max_length=20, null=True)  # E.164
    email = fields.CharField(max_length=254, null=True)
    region = fields.CharField(max_length=64, null=True)
    industries = fields.JSONField(default=list)
    active = fields.BooleanField(default=True)

    class Meta:
        table = "users"
        unique_together = (("tenant", "wecom_userid"), ("tenant", "dingtalk_staff_id"))
