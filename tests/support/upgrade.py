"""A database brought to an earlier release, with rows written the way that release did, then upgraded to head:
for the scripts the migration tests run in processes of their own (Tortoise and aerich keep global state)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tortoise import Tortoise, connections

from bot.runtime.config import Settings
from storage import db


async def upgraded_with_rows(url: str, before: int, rows: Sequence[str]) -> None:
    """Apply the migrations numbered below `before` to the database at `url` (SQLite in a temporary directory when
    empty), run `rows` (SQL with `{now}` and `{true}` for the dialect's spelling), then open it at head, which
    applies the rest. The database is left open for the caller to read; the caller closes it."""
    settings = Settings(data_dir=Path(tempfile.mkdtemp()), database_url=url or None)
    partial = Path(tempfile.mkdtemp()) / "migrations"
    (partial / "models").mkdir(parents=True)
    for path in (db.MIGRATIONS_DIR / "models").glob("[0-9]*_*.py"):
        if int(path.name.split("_")[0]) < before:
            shutil.copy(path, partial / "models" / path.name)

    head, db.MIGRATIONS_DIR = db.MIGRATIONS_DIR, partial
    try:
        await db.open_db(settings)
        conn = connections.get("default")
        pg = db.dialect() == "postgres"
        for sql in rows:
            await conn.execute_script(sql.format(now="now()" if pg else "CURRENT_TIMESTAMP",
                                                 true="true" if pg else "1"))
        await db.close_db()
        await Tortoise._reset_apps()
    finally:
        db.MIGRATIONS_DIR = head
    await db.open_db(settings)  # applies the rest
