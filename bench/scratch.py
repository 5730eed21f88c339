"""A scratch Redis database index for a bench run on a shared server.

A bench given `--redis-url` must not run on an index that holds another run's (or the test suite's) keys: a kept job
result under the same job id stops that job from being queued again (`bot.runtime.queue`), so a bench on a used
index measured cards that were never sent (0 clicks). The index is claimed as the test sessions claim theirs
(`tests.conftest._claim_redis_db`), emptied before and after the run, and given back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis as redis_sync


@contextlib.contextmanager
def claimed_redis(url: str | None) -> Iterator[str | None]:
    """The URL of a free, empty database index on `url`'s server while the block runs; None passes through."""
    if not url:
        yield url
        return
    from tests.conftest import _claim_redis_db

    claimed, control, lock = _claim_redis_db(url)
    redis_sync.Redis.from_url(claimed).flushdb()
    try:
        yield claimed
    finally:
        redis_sync.Redis.from_url(claimed).flushdb()
        control.delete(lock)
