"""Bearer-token authentication and tenant scoping.

Two kinds of caller: the operator (the `LEADBOT_ADMIN_TOKEN`, compared in constant time) who may act on any tenant,
and a tenant token (stored as its SHA-256) that only ever sees its own tenant. A tenant caller naming another tenant
gets 404, exactly as if that tenant did not exist.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from dataclasses import dataclass, field

from aiohttp import web

from bot.runtime import quotas, tenant_cache
from bot.runtime.appkeys import SERVICES
from bot.runtime.logs import bind
from bot.runtime.services import Services
from handlers.http import HttpProblem
from storage import db
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


@functools.cache
def _token_sql() -> str:
    """The unrevoked token of a digest with its tenant, every column of both (the tenant's as `db.columns_of`). Built
    at the first call: the models' columns are known once Tortoise is initialised."""
    return (f'SELECT a.*, {db.columns_of(Tenant, "t")} FROM "api_tokens" a JOIN "tenants" t ON t."id" = a."tenant_id" '
            'WHERE a."token_sha256" = ? AND a."revoked_at" IS NULL')


async def _token(digest: str) -> tuple[ApiToken, Tenant] | None:
    """The unrevoked token of `digest` and its tenant, in one parameterised read (`storage.db.fetch_two`): every API
    call authenticates, and the ORM's query builder and its join cost more CPU than the read itself."""
    found = await db.fetch_two(ApiToken, Tenant, "t", _token_sql(), [digest])
    return found[0] if found else None


async def authenticate(request: web.Request, *, need: TokenScope) -> Principal:
    token = _bearer(request)
    services = request.app[SERVICES]
    if hmac.compare_digest(token.encode(), services.admin_token.encode()):
        return Principal(None, TokenScope.ADMIN)
    digest = token_digest(token)
    cache = services.tenants
    known = cache.token_ids.get(digest)
    over: quotas.QuotaExceeded | None = None
    if known is not None:
        # A token seen before: its tenant's version is read with its quota, then the token and tenant as kept under
        # that version (read again once it changed: revoked, deactivated). A refused token has been counted here.
        try:
            await _take(services, known[0], known[1])
        except quotas.QuotaExceeded as refused:
            # Over its quota, a revoked token or a deactivated tenant is still told so (401, 403), not to wait and
            # try again (429). The version read with the refusal says whether the kept rows hold: a flood over the
            # quota reads the database once per change of the tenant, not once per request.
            services.tenants.verify(known[1], refused.reading)
            over = refused
        found = await tenant_cache.kept(known[1], ("token", digest), lambda: _token(digest))
    else:
        found = await _token(digest)
    if found is None:
        log.warning("refused: unknown or revoked bearer token on %s %s", request.method, request.path)
        raise HttpProblem(401, "unauthorized", "unknown or revoked token")
    row, tenant = found
    if not tenant.active:
        # Every token of a deactivated tenant, admin tokens included: it mints nothing, changes nothing, reads
        # nothing, until the operator activates the tenant again.
        log.warning("refused: token %d of deactivated tenant %d on %s %s", row.id, row.tenant_id, request.method,
                    request.path)
        raise HttpProblem(403, "tenant_inactive", "this tenant is deactivated")
    if need is TokenScope.ADMIN and row.scope is not TokenScope.ADMIN:
        log.warning("refused: api-scope token %d on admin route %s", row.id, request.path)
        raise HttpProblem(403, "forbidden", "this token may only use the lead API")
    if over is not None:
        raise over
    if known is None:
        # First seen: counted now; the token read before the version is used for this request only, the rows read
        # from here on are kept under the version.
        cache.token_ids[digest] = (row.id, row.tenant_id)
        await _take(services, row.id, row.tenant_id)
    # Touch last_used at most once a minute: a busy integration must not turn every read into a write.
    now = services.clock.now()
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        await ApiToken.filter(id=row.id).update(last_used_at=now)
        row.last_used_at = now  # the kept row too: not written again by every request of the next minute
    bind(tenant=row.tenant_id)  # the rest of the request's log lines are about this tenant
    return Principal(row.tenant_id, row.scope, row.id, tenant)


async def _take(services: Services, token_id: int, tenant_id: int) -> None:
    """Count one API call of the token against its quota, reading its tenant's version in the same round trip; the
    request uses the tenant's rows kept under that version from here on (`bot.runtime.tenant_cache`)."""
    limit = services.settings.api_calls_per_token_per_min
    version = await quotas.take_reading(
        services.redis, "api_calls", str(token_id), tenant_cache.version_key(tenant_id), tenant_cache.fresh_version(),
        amount=1, limit=limit, length_s=60, what=f"API calls with token {token_id}", now=services.clock.time())
    services.tenants.verify(tenant_id, version)
