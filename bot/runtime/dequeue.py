"""arq's worker taking its jobs in one Redis round trip a poll, and finishing each in one.

arq takes a job in five round trips (the poll's ZRANGEBYSCORE, then per job WATCH, EXISTS, ZSCORE and a
MULTI/PSETEX/EXEC), and our holder mark (`bot.jobs.reclaim`) added a SET before the job and a DEL after it. Each
round trip costs the worker about 0.1 ms of CPU in redis-py, and a click is one job. Here one script reads the due
jobs and, for each the worker has a slot for and nobody has started, sets arq's in-progress mark and our holder
mark together; the holder mark is dropped in arq's own finishing transaction.

Redis keeps what arq keeps, under arq's keys (the queue, `arq:in-progress:`, `arq:job:`, `arq:retry:`,
`arq:result:`): arq's own workers, tools and our reclaimer read them as before. The script is atomic, so two workers
can never both start a job (arq needs WATCH for that). Jobs keep arq's at-least-once runs: the retry count and the
job are still read and counted by arq's `run_job`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from arq import Worker
from arq import worker as arq_worker
from arq.constants import abort_jobs_ss, in_progress_key_prefix, job_key_prefix, result_key_prefix, retry_key_prefix
from arq.utils import to_ms

from bot.jobs import reclaim
from bot.runtime.worker_heartbeat import worker_id
from storage import redis_keys

# KEYS: the queue. ARGV: now (ms), read offset, how many due ids to read, free slots, in-progress mark ms, holder
# mark ms, holder, in-progress key prefix, holder key prefix.
# -> {job id, score, job id, score, ...}: the jobs this worker now holds.
# The in-progress and holder keys are named by prefix, not passed as KEYS: which jobs are due is known only inside
# (a single Redis or Sentinel, not a cluster).
_TAKE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', ARGV[2], ARGV[3])
local free = tonumber(ARGV[4])
local taken = {}
for i = 1, #due, 2 do
  if free <= 0 then break end
  local mark = ARGV[8] .. due[i]
  if redis.call('EXISTS', mark) == 0 then
    redis.call('PSETEX', mark, ARGV[5], '1')
    redis.call('SET', ARGV[9] .. due[i], ARGV[7], 'PX', ARGV[6])
    taken[#taken + 1] = due[i]
    taken[#taken + 1] = due[i + 1]
    free = free - 1
  end
end
return taken
"""


class TakingWorker(Worker):
    """arq's `Worker` with the poll and start of its jobs in one script, and our holder mark set by it.

    The jobs' `job` wrapper sees `reclaim.WORKER_MARKS_HOLDER` in ctx and leaves the mark alone. The mark is renewed
    only for a job still running after `reclaim.HOLD_RENEW_S` (a timer, not a task per job: almost every job is
    done long before).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctx[reclaim.WORKER_MARKS_HOLDER] = True
        self._take: Any = None  # the script, registered with the pool on the first poll (arq may open the pool then)
        self._renewals: dict[str, asyncio.TimerHandle | asyncio.Task[None]] = {}

    async def _poll_iteration(self) -> None:
        # arq's `_poll_iteration`, its ZRANGEBYSCORE and `start_jobs` replaced by `_take_jobs`.
        count = self.queue_read_limit
        if self.burst and self.max_burst_jobs >= 0:
            burst_jobs_remaining = self.max_burst_jobs - self._jobs_started()
            if burst_jobs_remaining < 1:
                return
            count = min(burst_jobs_remaining, count)
        if self.allow_pick_jobs and self.job_counter < self.max_jobs:
            await self._take_jobs(count)
        if self.allow_abort_jobs:
            await self._cancel_aborted_jobs()
        for job_id, t in list(self.tasks.items()):
            if t.done():
                del self.tasks[job_id]
                t.result()  # an error in run_job itself is raised here, as arq does
        await self.heart_beat()

    async def _take_jobs(self, count: int) -> None:
        free = min(count, self.max_jobs - self.job_counter)
        # arq's clock, read through its module as arq's own poll reads it (a test's clock replaces it there).
        now = arq_worker.timestamp_ms()
        if self._take is None:
            self._take = self.pool.register_script(_TAKE)
        taken = await self._take(keys=[self.queue_name], args=[
            now, self._queue_read_offset, count, free, int(self.in_progress_timeout_s * 1000),
            int(reclaim.HOLD_TTL_S * 1000), worker_id(), in_progress_key_prefix, redis_keys.JOB_HOLDER])
        for i in range(0, len(taken), 2):
            job_id = taken[i].decode() if isinstance(taken[i], bytes) else taken[i]
            # A slot was free for each (the counter only falls meanwhile): this acquire does not wait.
            await self.sem.acquire()
            self.job_counter += 1
            t = self.loop.create_task(self.run_job(job_id, int(float(taken[i + 1]))))
            t.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = t

    async def run_job(self, job_id: str, score: int) -> None:
        self._renewals[job_id] = self.loop.call_later(reclaim.HOLD_RENEW_S, self._renew, job_id)
        try:
            await super().run_job(job_id, score)
        finally:
            self._stop_renewing(job_id)  # (run_job ended before finishing: a cancellation)

    def _renew(self, job_id: str) -> None:
        self._renewals[job_id] = self.loop.create_task(reclaim.renew_holding(self.pool, job_id, first_s=0))

    def _stop_renewing(self, job_id: str) -> None:
        if (renewal := self._renewals.pop(job_id, None)) is not None:
            renewal.cancel()

    async def finish_job(self, job_id: str, finish: bool, result_data: bytes | None, result_timeout_s: float | None,
                         keep_result_forever: bool, incr_score: int | None, keep_in_progress: float | None) -> None:
        # arq's `finish_job`, with the holder mark dropped in the same transaction. The renewal stops first: a
        # renewal after the transaction would put the mark back.
        self._stop_renewing(job_id)
        async with self.pool.pipeline(transaction=True) as tr:
            delete_keys = [redis_keys.JOB_HOLDER + job_id]
            in_progress_key = in_progress_key_prefix + job_id
            if keep_in_progress is None:
                delete_keys += [in_progress_key]
            else:
                tr.pexpire(in_progress_key, to_ms(keep_in_progress))
            if finish:
                if result_data:
                    expire = None if keep_result_forever else result_timeout_s
                    tr.set(result_key_prefix + job_id, result_data, px=to_ms(expire))
                delete_keys += [retry_key_prefix + job_id, job_key_prefix + job_id]
                tr.zrem(abort_jobs_ss, job_id)
                tr.zrem(self.queue_name, job_id)
            elif incr_score:
                tr.zincrby(self.queue_name, incr_score, job_id)
            tr.delete(*delete_keys)
            await tr.execute()

    async def finish_failed_job(self, job_id: str, result_data: bytes | None) -> None:
        # arq's `finish_failed_job` (a job expired, unreadable or out of tries), with the holder mark dropped too.
        self._stop_renewing(job_id)
        async with self.pool.pipeline(transaction=True) as tr:
            tr.delete(retry_key_prefix + job_id, in_progress_key_prefix + job_id, job_key_prefix + job_id,
                      redis_keys.JOB_HOLDER + job_id)
            tr.zrem(abort_jobs_ss, job_id)
            tr.zrem(self.queue_name, job_id)
            keep_result = self.keep_result_forever or self.keep_result_s > 0
            if result_data is not None and keep_result:
                expire = 0 if self.keep_result_forever else self.keep_result_s
                tr.set(result_key_prefix + job_id, result_data, px=to_ms(expire))
            await tr.execute()
