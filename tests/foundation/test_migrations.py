"""Migrations: applied on start, idempotent, and safe when several processes start at once."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from storage import db


async def test_second_run_applies_nothing(services) -> None:
    assert await db.apply_migrations(services.settings) == []


def _scratch_database(settings, suffix: str) -> str | None:
    """A PostgreSQL database of its own (so the session's schema is not touched), or None on SQLite."""
    if not settings.database_url:
        return None
    import asyncpg

    async def create() -> str:
        conn = await asyncpg.connect(settings.database_url)
        name = f"{conn._params.database}_{suffix}"
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        return settings.database_url.rsplit("/", 1)[0] + "/" + name

    return asyncio.run(create())


def test_upgrade_keeps_the_rows_of_the_first_release(settings) -> None:
    """A database made by the first migration, with rows in it, upgrades to head: the columns added since get
    values the models accept (SQLite refuses a NOT NULL column without a default on a table that has rows)."""
    script = Path(__file__).with_name("upgrade_script.py")
    out = subprocess.run([sys.executable, str(script), _scratch_database(settings, "upg") or ""],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "history": [], "deadline_next_at": True, "plan": {}, "alert_next_at": True, "acked_by": None,
        "app_identity": "1:wecom:wwcorp:1000002"}  # scoped to its tenant (migration 2)


def test_concurrent_migrate_commands_agree(tmp_path, settings) -> None:
    env = {**os.environ, "LEADBOT_DATA_DIR": str(tmp_path / "m")}
    if url := _scratch_database(settings, "mig"):
        env["LEADBOT_DATABASE_URL"] = url
    procs = [subprocess.Popen([sys.executable, "-m", "bot", "migrate"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    applied = [o for o, _ in outs if o.startswith("applied")]
    assert len(applied) == 1  # exactly one process did the work; the others found it done


def test_times_stored_with_a_tenants_offset_are_found_by_comparisons_in_utc_after_the_upgrade(settings) -> None:
    """Migration 10: a deadline and an alert stored on SQLite with a tenant's offset (`10:00+08:00`, 02:00 UTC) are
    found overdue at 02:30 UTC once upgraded, and read back as the same instants."""
    script = Path(__file__).with_name("utc_times_script.py")
    out = subprocess.run([sys.executable, str(script), _scratch_database(settings, "utc") or ""],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "due_found": 1, "next_found": 1, "alert_found": 1, "due_at": "2026-12-08T02:00:00+00:00",
        "next_at": "2026-12-08T02:00:00.250000+00:00", "raw_utc": True}
