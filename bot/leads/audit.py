"""The audit chain: every change to a lead is an event hashed over the previous event's hash.

`hash_n = sha256(hash_{n-1} "\\n" canonical(event_n))`, starting from `GENESIS`. An edited, deleted or reordered
row breaks the chain at that row; cutting the tail is caught by comparing with the head the lead row keeps.

The canonical form must come out byte-identical after the event went into SQLite or PostgreSQL and back, so it
never trusts what a driver returns: times become UTC at millisecond precision (a driver may return naive or
offset datetimes; MySQL-style columns keep only milliseconds), numbers become int when they are whole (JSONB and
`numeric` hand back 80.0 or Decimal("80") for 80), JSON object keys are sorted, sets are sorted lists, enums are
their values. `AuditEvent` normalises on construction, so what is stored is already what is hashed.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

GENESIS = "0" * 64


def canonical_time(dt: datetime) -> datetime:
    """UTC, floored to the millisecond. Naive datetimes are taken as UTC (the service stores UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def _time_text(dt: datetime) -> str:
    dt = canonical_time(dt)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _number(value: float | Decimal) -> int | float:
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"audit values must be finite numbers, got {value!r}")
    return int(f) if f.is_integer() else f


def to_plain(value: Any) -> Any:
    """A JSON value with one spelling per meaning (see the module docstring)."""
    if isinstance(value, enum.Enum):
        return to_plain(value.value)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, (float, Decimal)):
        return _number(value)
    if isinstance(value, datetime):
        return _time_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"audit mappings need string keys, got {list(value)!r}")
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((to_plain(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True, ensure_ascii=False))
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    raise ValueError(f"cannot put {type(value).__name__} into an audit event")


def _json_field(value: Any) -> Any:
    # SQLite without a JSON column type hands back the text we stored.
    return json.loads(value) if isinstance(value, str) else value


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One change to one lead. `seq` is its 1-based place in the lead's chain (the store assigns it)."""

    tenant_id: int
    lead_id: int
    at: datetime
    actor_id: int | None
    actor_role: str
    source: str
    action: str
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    evidence: tuple[str, ...] = ()
    reason: str = ""
    seq: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "at", canonical_time(self.at))
        set_(self, "actor_role", str(to_plain(self.actor_role)))
        set_(self, "source", str(to_plain(self.source)))
        set_(self, "before", to_plain(dict(self.before)))
        set_(self, "after", to_plain(dict(self.after)))
        set_(self, "evidence", tuple(str(e) for e in self.evidence))

    def to_record(self) -> dict[str, Any]:
        """Plain values for the store; `at` stays a datetime (UTC, milliseconds) for a timestamp column."""
        return {
            "tenant_id": self.tenant_id,
            "lead_id": self.lead_id,
            "seq": self.seq,
            "at": self.at,
            "actor_id": self.actor_id,
            "actor_role": self.actor_role,
            "source": self.source,
            "action": self.action,
            "before": dict(self.before),
            "after": dict(self.after),
            "evidence": list(self.evidence),
            "reason": self.reason,
        }

    @classmethod
    def from_record(cls, row: Mapping[str, Any]) -> AuditEvent:
        """Rebuild from a stored row, whatever the driver did to it (JSON as text, Decimal ids, naive times)."""
        at = row["at"]
        if isinstance(at, str):
            at = datetime.fromisoformat(at.replace("Z", "+00:00"))
        actor_id = row.get("actor_id")
        return cls(
            tenant_id=int(row["tenant_id"]),
            lead_id=int(row["lead_id"]),
            seq=int(row["seq"]),
            at=at,
            actor_id=None if actor_id is None else int(actor_id),
            actor_role=row["actor_role"],
            source=row["source"],
            action=row["action"],
            before=_json_field(row.get("before")) or {},
            after=_json_field(row.get("after")) or {},
            evidence=tuple(_json_field(row.get("evidence")) or ()),
            reason=row.get("reason") or "",
        )


def canonical_bytes(event: AuditEvent) -> bytes:
    payload = {k: to_plain(v) for k, v in event.to_record().items()}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    """SHA-256 hex of the previous hash and this event's canonical form."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + canonical_bytes(event)).hexdigest()


def verify_chain(
    events: Iterable[tuple[AuditEvent, str]], *, head: str | None = None, genesis: str = GENESIS
) -> int | None:
    """The index of the first broken link in `(event, recorded hash)` pairs ordered by seq, or None if sound.

    A missing `seq` (a deleted row) or a hash that does not follow from the previous recorded hash and the event
    (an edited or moved row) breaks the chain there. With `head`, the last hash the lead row recorded, a chain
    whose tail was cut off reports the index just past its end.
    """
    prev = genesis
    count = 0
    for index, (event, recorded) in enumerate(events):
        if event.seq != index + 1 or chain_hash(prev, event) != recorded:
            return index
        prev = recorded
        count = index + 1
    if head is not None and prev != head:
        return count
    return None
