"""Issue 18, files: the data dir is 0700 and every file the service (and its embedded Redis) writes there is 0600:
the SQLite database, the append-only file (message text, sender ids), the snapshot, the Redis log, the keys. A data
dir made by an earlier release (0755, files 0644) is tightened when the service starts."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from bot.runtime.config import Settings
from bot.runtime.services import open_services
from tests.conftest import ADMIN_TOKEN, MASTER_KEY


def loose_modes(root: Path) -> dict[str, str]:
    """Everything under (and including) `root` that someone other than its owner could read or enter."""
    loose = {}
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISSOCK(mode) or stat.S_ISLNK(mode):
            continue
        if mode & 0o077:
            loose[str(path.relative_to(root.parent))] = oct(mode & 0o777)
    return loose


async def test_the_data_dir_and_every_file_in_it_are_the_services_alone(tmp_path: Path) -> None:
    data = tmp_path / "d"
    # An install of an earlier release: a world-readable dir with world-readable files in it.
    (data / "redis").mkdir(parents=True, mode=0o755)
    os.chmod(data, 0o755)
    (data / "admin.token").write_text("old-admin-token-0123456789\n")
    os.chmod(data / "admin.token", 0o644)
    (data / "redis" / "redis.log").write_text("old log\n")
    os.chmod(data / "redis" / "redis.log", 0o644)
    settings = Settings(data_dir=data, admin_token=ADMIN_TOKEN, master_key=MASTER_KEY)  # SQLite, embedded Redis
    async with open_services(settings) as services:
        await services.redis.set("leadbot:test:message", "客户说预算八十万")
        await services.redis.bgrewriteaof()
        await services.redis.save()
        for _ in range(100):  # the rewrite runs in a child process
            if (await services.redis.info("persistence"))["aof_rewrite_in_progress"] == 0:
                break
            await asyncio.sleep(0.05)
    written = {p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()}
    assert {"leadbot.sqlite3", "redis/dump.rdb", "redis/redis.log", "redis/redis.conf"} <= written
    assert any(p.startswith("redis/") and p.endswith(".aof") for p in written), written  # one file or a dir
    assert loose_modes(data) == {}
