"""Lead export benchmark: memory stays flat from 10 000 to 100 000 leads; rows per second against a bare read.

Run: PYTHONPATH=. python bench/export.py [--postgres URL] [--sizes 10000,100000]

Leads are seeded straight into the table (bulk inserts, no events). For each size, in this process: a bare keyset
read of the same rows (`Lead.filter(...).values()`, 1000 at a time) as the baseline, then the CSV export (bytes
discarded) and the XLSX export (to a temporary file). Figures: rows/s, the ratio to the bare read, the growth of
the resident set during the export (which also sees C memory), and the peak of Python allocations (tracemalloc, in a
second, untimed run).
Flat memory means the peak at 100 000 is about the peak at 10 000.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.leads import exports
from bot.runtime.config import Settings
from storage import db
from storage.models import Lead, Tenant, User

TZ = ZoneInfo("Asia/Shanghai")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


async def seed(tenant_id: int, count: int, rep_id: int) -> None:
    batch = 2000
    for start in range(0, count, batch):
        await Lead.bulk_create([
            Lead(tenant_id=tenant_id, company=f"华东机械{n}", contact_name="张三", phone="+8613800138000",
                 source="官网表单", region="华东", industry="制造", tags=["急", "招标中"], status="assigned",
                 assignee_id=rep_id, budget_min=800000, budget_max=1000000)
            for n in range(start, min(count, start + batch))])


async def bare_read(tenant_id: int) -> int:
    after, rows = 0, 0
    while True:
        chunk = await Lead.filter(tenant_id=tenant_id, id__gt=after).order_by("id").limit(1000).values()
        if not chunk:
            return rows
        rows, after = rows + len(chunk), chunk[-1]["id"]


async def measure(run) -> tuple[float, float, float]:
    """Seconds and RSS growth of one run, then the Python allocation peak of a second run under tracemalloc (which
    slows Python several times over, so it is kept out of the timing)."""
    rss0 = rss_mb()
    started = time.perf_counter()
    await run()
    elapsed, rss = time.perf_counter() - started, rss_mb() - rss0
    tracemalloc.start()
    await run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 1e6, rss


async def csv_sink(tenant_id: int) -> None:
    async for _ in exports.csv_bytes(exports.chunks(tenant_id, exports.Filters(), now=datetime.now(UTC)), TZ):
        pass


async def one_size(count: int) -> None:
    tenant = await Tenant.create(name=f"t{count}")
    rep = await User.create(tenant=tenant, name="王五")
    await seed(tenant.id, count, rep.id)
    started = time.perf_counter()
    assert await bare_read(tenant.id) == count
    bare = count / (time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "leads.xlsx"
        for fmt, run in (("csv", lambda: csv_sink(tenant.id)),
                         ("xlsx", lambda: exports.write_xlsx(
                             exports.chunks(tenant.id, exports.Filters(), now=datetime.now(UTC)), path, TZ))):
            elapsed, peak, rss = await measure(run)
            print(f"{count:>7} leads  {fmt:4}  {count / elapsed:8.0f} rows/s  (bare read {bare:8.0f} rows/s, "
                  f"ratio {count / elapsed / bare:.3f})  peak Python {peak:6.1f} MB  RSS growth {rss:6.1f} MB")


async def main() -> None:
    from bot.runtime import wiring

    wiring.install()  # the follow-ups and hooks the service runs, as its entry points install them
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("LEADBOT_DATABASE_URL"))
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    url, scratch = None, f"leadbot_bench_export_{os.getpid()}"
    if args.postgres:
        import asyncpg

        conn = await asyncpg.connect(args.postgres)
        await conn.execute(f'CREATE DATABASE "{scratch}"')
        await conn.close()
        url = urlunsplit(urlsplit(args.postgres)._replace(path=f"/{scratch}"))
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="lbe-", dir="/tmp")), database_url=url)
    await db.open_db(settings)
    try:
        print(f"backend {'postgres' if url else 'sqlite'}")
        for size in (int(s) for s in args.sizes.split(",")):
            await one_size(size)
    finally:
        await db.close_db()
        if url:
            conn = await asyncpg.connect(args.postgres)
            await conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
            await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
