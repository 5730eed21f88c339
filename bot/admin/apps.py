"""Registering and loading bot apps. Used by the admin API, the CLI, the callback handlers and the jobs.

Credentials are split as they are stored: fields a platform treats as secret (app secret, callback token, AES key)
are sealed together in `secrets_sealed`; the rest (corp id, agent id, app key...) stay readable in `public`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from tortoise.exceptions import IntegrityError

from bot.admin.schemas import AppOut, AppPatch, ChecklistStep, DingTalkAppIn, WeComAppIn
from bot.errors import Conflict, InvalidField, LeadbotError, NotFound
from bot.platforms.dingtalk.config import DingTalkCredentials
from bot.platforms.feishu.config import FeishuCredentials
from bot.platforms.wecom.config import WeComCredentials
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.config import Settings
from bot.runtime.logs import register_secret
from bot.runtime.urlguard import check_literal
from storage.models import App, AppStatus, Tenant
from storage.secrets import SecretBox

log = logging.getLogger(__name__)

SECRETS_PURPOSE = "app.secrets"
CREDENTIAL_MODELS: dict[str, type[WeComCredentials] | type[DingTalkCredentials] | type[FeishuCredentials]] = {
    "wecom": WeComCredentials,
    "dingtalk": DingTalkCredentials,
    "feishu": FeishuCredentials,
}
# How long a process trusts its copy of an app: a disable or key change reaches every process within this.
APP_CACHE_TTL_S = 5.0


@dataclass(frozen=True, slots=True)
class LoadedApp:
    """An app with its credentials opened: what a handler or a job needs, without another database read."""

    id: int
    tenant_id: int
    platform: str
    status: AppStatus
    api_base: str | None
    credentials: WeComCredentials | DingTalkCredentials | FeishuCredentials
    loaded_at: float
    tenant_active: bool = True

    @property
    def active(self) -> bool:
        """Enabled, and its tenant too: a deactivated tenant's apps take no callbacks and send nothing."""
        return self.status is AppStatus.ACTIVE and self.tenant_active


def callback_urls(app: App, base_url: str) -> dict[str, str]:
    if app.platform == "wecom":
        return {"callback": f"{base_url}/wecom/{app.id}/callback"}
    if app.platform == "feishu":
        return {"events": f"{base_url}/feishu/{app.id}/events", "card": f"{base_url}/feishu/{app.id}/card"}
    return {
        "robot": f"{base_url}/dingtalk/{app.id}/callback",
        "events": f"{base_url}/dingtalk/{app.id}/events",
        "card": f"{base_url}/dingtalk/{app.id}/card",
    }


def console_checklist(app: App, base_url: str) -> list[ChecklistStep]:
    """What an admin does in the platform console after registering, in the order the console allows it."""
    urls = callback_urls(app, base_url)
    if app.platform == "feishu":
        from bot.platforms.feishu.diagnose import checklist

        creds = FeishuCredentials.model_construct(**{k: v for k, v in app.public.items() if k != "secrets_set"},
                                                  encrypt_key="set" if "encrypt_key" in app.public.get(
                                                      "secrets_set", []) else None)
        return [ChecklistStep(zh=zh, en=en) for zh, en in checklist(app.id, creds, urls)]
    if app.platform == "wecom":
        steps = [
            (f"应用管理 → 本应用 → 接收消息 → 设置API接收：URL 填 {urls['callback']}，Token 与 EncodingAESKey "
             "填注册时的值，保存"
             "（企业微信会立即校验该 URL）",
             f"应用管理 → the app → 接收消息 → 设置API接收: URL {urls['callback']}, the Token and EncodingAESKey you "
             "registered; save (WeCom checks the URL at once)"),
            ("URL 须为已备案（ICP）域名，备案主体须与本企业一致（或可信域名已验证）",
             "The URL's domain must be ICP-filed by a subject matching the corp (or a verified trusted domain)"),
            ("保存 URL 之后：应用管理 → 本应用 → 企业可信IP 中添加本服务器的出口 IP（约 1 分钟生效）",
             "After the URL is saved: add this server's outbound IP under 应用管理 → the app → 企业可信IP (takes "
             "about a "
             "minute)"),
            ("应用管理 → 本应用 → 可见范围："
             "包含所有要收卡片的销售和经理", "应用管理 → the app → 可见范围: include every rep "
             "and manager who gets cards"),
            (f"运行 leadbot apps verify {app.id}，再用 leadbot apps test {app.id} --to 某人 发一张测试卡片",
             f"Run leadbot apps verify {app.id}, then send a test card: leadbot apps test {app.id} --to SOMEONE"),
        ]
    else:
        stream = app.public.get("mode") == "stream"
        steps = [
            ("开发者后台 → 本应用 → 应用功能 → 机器人：添加并发布机器人，RobotCode 与注册时一致",
             "Developer console → the app → 机器人: add and publish the robot; its RobotCode must match the one "
             "registered"),
            ("权限管理：申请 互动卡片（Card.Instance.Write）、机器人消息、通讯录部门与成员读取（目录同步用）",
             "权限管理: request the interactive card (Card.Instance.Write), robot message and, for directory sync, "
             "department and member read permissions"),
            ("机器人 → 消息接收模式：Stream 模式（无需公网地址，运行 leadbot serve/worker 即可）" if stream else
             f"机器人 → 消息接收模式：HTTP 模式，URL 填 {urls['robot']}",
             "机器人 → receive mode: Stream (no public URL; leadbot serve/worker connects)" if stream else
             f"机器人 → receive mode: HTTP with {urls['robot']}"),
            ("开发管理 → 服务器出口IP：添加本服务器的出口 "
             "IP", "开发管理 → 服务器出口IP: add this server's outbound IP"),
            (f"运行 leadbot apps verify {app.id}（HTTP 模式会登记卡片回调 {urls['card']}），再用 leadbot apps test "
             "发测试卡片",
             f"Run leadbot apps verify {app.id} (HTTP mode registers the card callback {urls['card']}), then send a "
             "test card with leadbot apps test"),
        ]
    return [ChecklistStep(zh=zh, en=en) for zh, en in steps]


def app_out(app: App, base_url: str, *, checklist: bool = False) -> AppOut:
    public = {k: v for k, v in app.public.items() if k != "secrets_set"}
    return AppOut(
        id=app.id, tenant_id=app.tenant_id, platform=app.platform, name=app.name, status=app.status,
        api_base=app.api_base, public=public, secrets_set=app.public.get("secrets_set", []),
        callback_urls=callback_urls(app, base_url), verified_at=app.verified_at, state=app.state,
        state_reason=app.state_reason, last_callback_at=app.last_callback_at,
        checklist=console_checklist(app, base_url) if checklist else None,
        created_at=app.created_at, updated_at=app.updated_at,
    )


def _split(creds: BaseModel) -> tuple[dict[str, Any], dict[str, Any]]:
    data = creds.model_dump()
    secret_names = type(creds).SECRET_FIELDS
    secrets = {k: v for k, v in data.items() if k in secret_names and v is not None}
    public = {k: v for k, v in data.items() if k not in secret_names}
    public["secrets_set"] = sorted(secrets)
    return public, secrets


def identity_of(tenant_id: int, credentials: WeComCredentials | DingTalkCredentials) -> str:
    """What makes two registrations the same app, within one tenant: another tenant registering the same corp or
    app key is none of this tenant's business (and must not be able to block it)."""
    return f"{tenant_id}:{credentials.identity()}"


def _check_api_base(api_base: str | None, settings: Settings) -> None:
    if api_base is None:
        return
    try:
        check_literal(api_base, settings.allow_private_urls)
    except LeadbotError as e:
        raise InvalidField("api_base", str(e)) from None


async def register_app(box: SecretBox, settings: Settings, tenant_id: int, data: WeComAppIn | DingTalkAppIn) -> App:
    if not await Tenant.exists(id=tenant_id):
        raise NotFound(f"tenant {tenant_id} not found")
    _check_api_base(data.api_base, settings)
    identity = identity_of(tenant_id, data.credentials)
    if await App.exists(identity=identity):
        raise Conflict(f"this {data.platform} app is already registered")
    public, secrets = _split(data.credentials)
    try:
        app = await App.create(
            tenant_id=tenant_id, platform=data.platform, name=data.name, identity=identity,
            api_base=data.api_base.rstrip("/") if data.api_base else None, public=public,
            secrets_sealed=box.seal(json.dumps(secrets), SECRETS_PURPOSE),
        )
    except IntegrityError:
        raise Conflict(f"this {data.platform} app is already registered") from None  # a concurrent registration
    log.info("app registered id=%d tenant=%d platform=%s", app.id, tenant_id, app.platform)
    return app


def open_credentials(box: SecretBox, app: App) -> WeComCredentials | DingTalkCredentials:
    secrets = json.loads(box.open(app.secrets_sealed, SECRETS_PURPOSE))
    for value in secrets.values():
        register_secret(str(value))
    public = {k: v for k, v in app.public.items() if k != "secrets_set"}
    return CREDENTIAL_MODELS[app.platform].model_validate({**public, **secrets})


def _require_host_secrets(platform: str, patch: AppPatch) -> None:
    """A stored secret goes only to the host it was entered for: moving the app to another `api_base` takes the
    secrets that are sent there, entered again (whoever may change the address must also know the secret)."""
    needed = CREDENTIAL_MODELS[platform].HOST_SECRETS
    missing = [name for name in needed if not (patch.credentials or {}).get(name)]
    if missing:
        raise InvalidField("credentials." + missing[0], "a new api_base needs the app's secret entered again: "
                           "stored secrets are only sent to the host they were entered for")


async def update_app(box: SecretBox, settings: Settings, app: App, patch: AppPatch) -> App:
    if patch.name is not None:
        app.name = patch.name
    if "api_base" in patch.model_fields_set:
        _check_api_base(patch.api_base, settings)
        api_base = patch.api_base.rstrip("/") if patch.api_base else None
        if api_base != app.api_base:
            _require_host_secrets(app.platform, patch)
        app.api_base = api_base
    if patch.credentials:
        merged = open_credentials(box, app).model_dump() | patch.credentials
        try:
            creds = CREDENTIAL_MODELS[app.platform].model_validate(merged)
        except ValidationError as e:
            err = e.errors()[0]
            raise InvalidField("credentials." + ".".join(map(str, err["loc"])), err["msg"]) from None
        identity = identity_of(app.tenant_id, creds)
        if identity != app.identity and await App.exists(identity=identity):
            raise Conflict(f"this {app.platform} app is already registered")
        app.identity = identity
        app.public, secrets = _split(creds)
        app.secrets_sealed = box.seal(json.dumps(secrets), SECRETS_PURPOSE)
    try:
        await app.save()
    except IntegrityError:
        raise Conflict(f"this {app.platform} app is already registered") from None
    return app


async def set_status(app: App, status: AppStatus) -> App:
    app.status = status
    await app.save(update_fields=["status", "updated_at"])
    log.info("app %d is now %s", app.id, status)
    return app


class AppCache:
    """Per-process cache of loaded apps; the callback hot path reads the database at most every few seconds."""

    def __init__(self, box: SecretBox, ttl_s: float = APP_CACHE_TTL_S, *, clock: Clock | None = None) -> None:
        self._box = box
        self.clock = clock or SystemClock()
        self._ttl_s = ttl_s
        self._apps: dict[int, LoadedApp | None] = {}
        self._loaded_at: dict[int, float] = {}

    def forget(self, app_id: int) -> None:
        self._apps.pop(app_id, None)

    async def get(self, app_id: int) -> LoadedApp | None:
        now = self.clock.monotonic()
        if app_id in self._apps and now - self._loaded_at[app_id] < self._ttl_s:
            return self._apps[app_id]
        row = await App.get_or_none(id=app_id).select_related("tenant")
        loaded = None
        if row is not None:
            loaded = LoadedApp(row.id, row.tenant_id, row.platform, row.status, row.api_base,
                               open_credentials(self._box, row), now, row.tenant.active)
        self._apps[app_id] = loaded
        self._loaded_at[app_id] = now
        return loaded

    async def require(self, app_id: int) -> LoadedApp:
        app = await self.get(app_id)
        if app is None:
            raise NotFound(f"app {app_id} not found")
        return app
