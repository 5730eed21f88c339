"""Bearer-token authentication and tenant scoping.

Two kinds of caller: the operator (the `LEADBOT_ADMIN_TOKEN`, compared in constant time) who may act on any tenant,
and a tenant token (stored as its SHA-256) that only ever sees its own tenant. A tenant caller naming another tenant
gets 404, exactly as if that tenant did not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass, field

from aiohttp import web

from bot.runtime import quotas
from bot.runtime.appkeys import SERVICES
from bot.runtime.logs import bind
from handlers.http import HttpProblem
from storage.models import ApiToken, Tenant, TokenScope

log = logging.getLogger("leadbot.auth")


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: int | None  # None: the operator, over every tenant
    scope: TokenScope
    token_id: int | None = None
    # A tenant token's tenant as read with the token for this request (active), so a route need not read it again.
    tenant: Tenant | None = field(default=None, compare=False, repr=False)

    @property
    def is_operator(self) -> bool:
        return self.tenant_id is None

    def tenant_for(self, requested: int | None) -> int:
        """The tenant a call acts on: the token's own, or (for the operator) the one requested."""
        if self.tenant_id is None:
            if requested is None:
                raise HttpProblem(400, "invalid", "tenant_id is required with the operator token", field="tenant_id")
            return requested
        if requested is not None and requested != self.tenant_id:
            raise HttpProblem(404, "not_found", f"tenant {requested} not found")
        return self.tenant_id

    def check_tenant(self, tenant_id: int, what: str = "object") -> None:
        """404 (not 403) for another tenant's object: its existence is not the caller's business."""
        if self.tenant_id is not None and tenant_id != self.tenant_id:
            raise HttpProblem(404, "not_found", f"{what} not found")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HttpProblem(401, "unauthorized", "a bearer token is required")
    return token.strip()


async def authenticate(request: web.Request, *, need: TokenScope) -> Principal:
    token = _bearer(request)
    services = request.app[SERVICES]
    if hmac.compare_digest(token.encode(), services.admin_token.encode()):
        return Principal(None, TokenScope.ADMIN)
    row = await ApiToken.get_or_none(token_sha256=token_digest(token), revoked_at=None).select_related("tenant")
    if row is None:
        log.warning("refused: unknown or revoked bearer token on %s %s", request.method, request.path)
        raise HttpProblem(401, "unauthorized", "unknown or revoked token")
    if not row.tenant.active:
        # Every token of a deactivated tenant, admin tokens included: it mints nothing, changes nothing, reads
        # nothing, until the operator activates the tenant again.
        log.warning("refused: token %d of deactivated tenant %d on %s %s", row.id, row.tenant_id, request.method,
                    request.path)
        raise HttpProblem(403, "tenant_inactive", "this tenant is deactivated")
    if need is TokenScope.ADMIN and row.scope is not TokenScope.ADMIN:
        log.warning("refused: api-scope token %d on admin route %s", row.id, request.path)
        raise HttpProblem(403, "forbidden", "this token may only use the lead API")
    settings = services.settings
    await quotas.take(services.redis, "api_calls", str(row.id), amount=1, limit=settings.api_calls_per_token_per_min,
                      length_s=60, what=f"API calls with token {row.id}", now=services.clock.time())
    # Touch last_used at most once a minute: a busy integration must not turn every read into a write.
    now = services.clock.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        await ApiToken.filter(id=row.id).update(last_used_at=now)
    bind(tenant=row.tenant_id)  # the rest of the request's log lines are about this tenant
    return Principal(row.tenant_id, row.scope, row.id, row.tenant)
