"""What every hostile-input test checks after its request: the answer is one the API documents (never a 500), the
refusal changed nothing (every table's row count and every Redis key as before), and the service still answers."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import REGISTRY
from tortoise import Tortoise

from bot.runtime.quotas import QUOTAS
from bot.runtime.services import Services
from storage import redis_keys


@dataclass(frozen=True)
class State:
    rows: dict[str, int]
    redis_keys: frozenset[bytes]

    def diff(self, other: State) -> dict[str, tuple[object, object]]:
        changed: dict[str, tuple[object, object]] = {
            t: (n, other.rows.get(t)) for t, n in self.rows.items() if other.rows.get(t) != n}
        if self.redis_keys != other.redis_keys:
            changed["redis"] = (sorted(self.redis_keys - other.redis_keys), sorted(other.redis_keys - self.redis_keys))
        return changed


# Quota windows count requests, refused ones too (a probe is not free), and expire with their window: they are
# bookkeeping of traffic, not state a request changed.
QUOTA_WINDOWS = tuple(redis_keys.rate(quota, "").encode() for quota in QUOTAS)


async def state(services: Services) -> State:
    """Row counts of every table (from the ORM's own model list, so a new table is covered) and Redis's keys."""
    rows = {}
    for model in Tortoise.apps["models"].values():
        if model._meta.db_table != "aerich":
            rows[model._meta.db_table] = await model.all().count()
    keys = await services.redis.keys("*")
    return State(rows, frozenset(k for k in keys if not k.startswith(QUOTA_WINDOWS)))


async def assert_unchanged(services: Services, before: State) -> None:
    after = await state(services)
    assert before.diff(after) == {}, f"a refused request changed {before.diff(after)}"


async def assert_serving(client) -> None:
    r = await client.get("/healthz")
    assert r.status == 200 and (await r.json()) == {"status": "ok"}


def job_errors() -> float:
    """Jobs that ended in an unhandled exception so far, any function (`leadbot_jobs_total{outcome="error"}`)."""
    total = 0.0
    for metric in REGISTRY.collect():
        for s in metric.samples:
            if s.name == "leadbot_jobs_total" and s.labels.get("outcome") == "error":
                total += s.value
    return total
