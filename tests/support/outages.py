"""The database going away, as the service meets it: the next query connects afresh and cannot."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

from tortoise import connections

from storage import db


@contextlib.asynccontextmanager
async def database_unreachable() -> AsyncIterator[None]:
    """Point the ORM at a database that is not there: a closed port (PostgreSQL) or a file that cannot be opened
    (SQLite). The next query connects afresh and fails as it would against a server that went away."""
    config = connections.db_config
    real_url = config["default"]
    if db.dialect() == "postgres":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # closed again on leaving the block: nothing listens there
        dead_url = f"postgres://postgres@127.0.0.1:{port}/leadbot"
    else:
        dead_url = "sqlite:///nonexistent-dir/leadbot.sqlite3"
    real = connections.discard("default")
    config["default"] = dead_url
    try:
        yield
    finally:
        dead = connections.discard("default")
        if dead is not None:
            await dead.close()
        config["default"] = real_url
        if real is not None:
            await real.close()  # the next query opens a fresh connection to the real database
