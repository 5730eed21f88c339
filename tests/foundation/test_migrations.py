"""Migrations: applied on start, idempotent, and safe when several processes start at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from storage import db


async def test_second_run_applies_nothing(services) -> None:
    assert await db.apply_migrations(services.settings) == []


def test_concurrent_migrate_commands_agree(tmp_path, settings) -> None:
    env = {**os.environ, "LEADBOT_DATA_DIR": str(tmp_path / "m")}
    if settings.database_url:
        # a scratch database of its own, so the session's schema is not touched
        import asyncpg

        async def create() -> str:
            conn = await asyncpg.connect(settings.database_url)
            name = f"{conn._params.database}_mig"
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
            await conn.close()
            return settings.database_url.rsplit("/", 1)[0] + "/" + name

        env["LEADBOT_DATABASE_URL"] = asyncio.run(create())
    procs = [subprocess.Popen([sys.executable, "-m", "bot", "migrate"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    applied = [o for o, _ in outs if o.startswith("applied")]
    assert len(applied) == 1  # exactly one process did the work; the others found it done
