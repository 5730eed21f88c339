"""The rows of a tenant every API request reads (its token with the tenant, its routing rules, its webhook
subscriptions), kept by each process between requests while the tenant's version in Redis stays the same.

An API call reads its tenant's version in the round trip its API-call quota already makes (`quotas.take_reading`),
so keeping the rows costs no round trip, and each of them is read once per process and change instead of once per
request (intake: three of its statements). Whatever writes one of those rows calls `changed` once its transaction has
committed; the version becomes a new value and every process reads the rows again at its next request. A row read
after the version was read is kept under it: a change committed before the read is in the row, one committed after
it changes the version again. The version is random, not a count: a Redis that lost its data (restarted, flushed)
cannot come back to a value a process still holds.

Kept rows are used only within a request that read the version (`verify`, by `handlers.auth`): a job, a CLI command
or the operator's token reads the database as before. They are shared between requests: never change one.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from storage import redis_keys

log = logging.getLogger(__name__)

T = TypeVar("T")


def version_key(tenant_id: int) -> str:
    return redis_keys.tenant_version(tenant_id)


def fresh_version() -> str:
    return secrets.token_hex(8)


async def changed(redis: Any, tenant_id: int) -> None:
    """The tenant's token, tenant, routing rule or webhook subscription rows changed (committed): every process reads
    them again at its next request."""
    await redis.set(version_key(tenant_id), fresh_version())


@dataclass
class _Held:
    tenant_id: int
    version: Any
    rows: dict[Hashable, Any] = field(default_factory=dict)


# The tenant's rows this request may use: held under the version it read.
_current: ContextVar[_Held | None] = ContextVar("tenant_cache_current", default=None)


class TenantCache:
    """One process's kept rows, by tenant (`Services.tenants`)."""

    def __init__(self) -> None:
        self._held: dict[int, _Held] = {}
        # A token digest's (token id, tenant id): never changes (the digest is unique; a token's tenant is fixed), so
        # a request knows which version to read before reading the token.
        self.token_ids: dict[str, tuple[int, int]] = {}

    def verify(self, tenant_id: int, version: Any) -> None:
        """This request read `version` of the tenant: from here on it uses the rows kept under it, and keeps under it
        those it reads (rows kept under another version are dropped)."""
        held = self._held.get(tenant_id)
        if held is None or held.version != version:
            held = self._held[tenant_id] = _Held(tenant_id, version)
        _current.set(held)


async def kept(tenant_id: int, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
    """What `read()` gives, kept under the tenant's version this request verified; outside such a request (or for
    another tenant) `read()` each time."""
    held = _current.get()
    if held is None or held.tenant_id != tenant_id:
        return await read()
    if key in held.rows:
        return held.rows[key]
    value = held.rows[key] = await read()
    return value
