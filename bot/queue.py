"""Putting work on the arq queue, including the one-round-trip "remember this delivery and queue its job".

A platform callback is acknowledged only once its job is safely in Redis, and a platform retry of the same delivery
must not queue a second job. Doing "SET dedup NX" and "enqueue" as two calls leaves a window where a crash after the
first loses the message forever (every retry would look like a duplicate). So both happen in one Lua script: the
dedup key, arq's job hash and its queue entry are written together or not at all.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from arq.connections import ArqRedis
from arq.constants import default_queue_name, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job

# KEYS: dedup key, job key, queue, result key. ARGV: dedup ttl ms, job ttl ms, serialized job, score, job id.
_ENQUEUE_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) == false then return 0 end
if redis.call('EXISTS', KEYS[2], KEYS[4]) == 0 then
  redis.call('PSETEX', KEYS[2], ARGV[2], ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
end
return 1
"""

# arq deletes a job hash after its `expires`; a queued job must outlive any plausible worker outage.
JOB_TTL_MS = 7 * 86_400_000


def job_id_for(dedup_key: str) -> str:
    """A deterministic arq job id: the same delivery can never become two jobs, even via two processes."""
    return hashlib.sha256(dedup_key.encode()).hexdigest()[:32]


class Queue:
    def __init__(self, redis: ArqRedis, *, queue_name: str = default_queue_name) -> None:
        self.redis = redis
        self.queue_name = queue_name
        self._enqueue_once = redis.register_script(_ENQUEUE_ONCE)

    async def enqueue_once(self, dedup_key: str, dedup_ttl_s: int, function: str, **kwargs: Any) -> bool:
        """Queue `function(**kwargs)` unless `dedup_key` was seen within `dedup_ttl_s`. True when newly queued.

        Raises redis errors as they come: the caller answers 503 and the platform retries.
        """
        job_id = job_id_for(dedup_key)
        now_ms = int(time.time() * 1000)
        payload = serialize_job(function, (), kwargs, None, now_ms)
        added = await self._enqueue_once(
            keys=[dedup_key, job_key_prefix + job_id, self.queue_name, result_key_prefix + job_id],
            args=[dedup_ttl_s * 1000, JOB_TTL_MS, payload, now_ms, job_id],
        )
        return bool(added)

    async def enqueue(self, function: str, *, job_id: str | None = None, defer_until_s: float | None = None,
                      **kwargs: Any) -> bool:
        """Queue a job; with `job_id`, a second enqueue of the same id while the first exists is a no-op."""
        kw: dict[str, Any] = {"_job_id": job_id, "_queue_name": self.queue_name}
        if defer_until_s is not None:
            from datetime import UTC, datetime

            kw["_defer_until"] = datetime.fromtimestamp(defer_until_s, UTC)
            # Keep a deferred job's hash until well after it is due, whatever arq's default.
            kw["_expires"] = max(0.0, defer_until_s - time.time()) + JOB_TTL_MS / 1000
        job = await self.redis.enqueue_job(function, **kw, **kwargs)
        return job is not None

    async def depth(self) -> int:
        """Jobs due now or earlier (deferred ones waiting for their time are not a backlog)."""
        return await self.redis.zcount(self.queue_name, "-inf", int(time.time() * 1000))
