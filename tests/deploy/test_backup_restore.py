"""The backup and restore commands README.md prints, run as printed against this PostgreSQL (issue 23).

The plain commands run as they are, with `LEADBOT_DATABASE_URL` pointing at a scratch database with rows in it and
then at an empty one. The docker compose ones run through a stand-in `docker` on the PATH that runs the command on
this PostgreSQL the way `docker compose exec` would: without `-T` it gives the command a terminal, whose line
discipline turns every LF of the output into CR LF (what corrupted dumps made by the README's earlier command). The
restored database must hold what the backup did, and the compose restore must stop `web` and `worker` first.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import ENV_DB

README = Path(__file__).resolve().parents[2] / "README.md"
pytestmark = pytest.mark.skipif(not ENV_DB, reason="runs against PostgreSQL (LEADBOT_DATABASE_URL)")

DOCKER = textwrap.dedent("""\
    #!{python}
    # `docker compose ...` on this machine's PostgreSQL; `stop`/`start` are recorded.
    import os, subprocess, sys
    args = sys.argv[1:]
    with open(os.environ["DOCKER_LOG"], "a") as log:
        log.write(" ".join(args) + "\\n")
    assert args[0] == "compose", args
    if args[1] in ("stop", "start"):
        sys.exit(0)
    assert args[1] == "exec", args
    rest = args[2:]
    tty = "-T" not in rest
    rest = [a for a in rest if a != "-T"]
    assert rest[0] == "postgres", rest
    command = []
    for a in rest[1:]:  # the compose service's user and database are this test's
        command.append({{"leadbot": os.environ["PGDATABASE"]}}.get(a, a) if command[-1:] != ["-U"] else os.environ["PGUSER"])
    out = subprocess.run(command, stdin=sys.stdin, capture_output=True)
    sys.stderr.buffer.write(out.stderr)
    sys.stdout.buffer.write(out.stdout.replace(b"\\n", b"\\r\\n") if tty else out.stdout)
    sys.exit(out.returncode)
""")


def _blocks(section: str) -> list[str]:
    text = README.read_text()
    part = text[text.index(section):]
    part = part[:part.index("\n### ", 1)]
    return re.findall(r"```sh\n(.*?)```", part, re.S)


def _db_url(name: str) -> str:
    assert ENV_DB is not None
    return urlunsplit(urlsplit(ENV_DB)._replace(path=f"/{name}"))


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(ENV_DB)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _counts(url: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        tables = [r["tablename"] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")]
        return {t: await conn.fetchval(f'SELECT count(*) FROM "{t}"') for t in sorted(tables)}
    finally:
        await conn.close()


def _run(command: str, *, env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"{command}\n{done.stderr}"


@pytest.fixture
async def populated(services, client, admin_headers) -> str:
    """The test's database with a tenant, an app and a lead in it; its URL."""
    r = await client.post("/admin/tenants", json={"name": "备份测试"}, headers=admin_headers)
    tenant = (await r.json())["id"]
    r = await client.post("/api/leads", json={"tenant_id": tenant, "company": "华东机械", "external_id": "b-1"},
                          headers=admin_headers)
    assert r.status == 201, await r.text()
    return services.settings.database_url


@pytest.fixture
async def empty_db() -> str:
    name = f"leadbot_restore_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}"')
    yield name
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_the_readme_postgres_backup_restores(populated: str, empty_db: str, tmp_path: Path) -> None:
    [backup, restore, *_] = _blocks("### Backup and restore")
    env = {**os.environ, "LEADBOT_DATABASE_URL": populated}
    await asyncio.to_thread(_run, backup.strip(), env=env, cwd=tmp_path)
    [dump] = tmp_path.glob("leadbot-*.dump")
    printed = re.search(r"leadbot-\d{4}-\d{2}-\d{2}\.dump", restore).group(0)
    command = restore.strip().replace(printed, dump.name)
    await asyncio.to_thread(_run, command, env={**env, "LEADBOT_DATABASE_URL": _db_url(empty_db)}, cwd=tmp_path)
    before, after = await _counts(populated), await _counts(_db_url(empty_db))
    assert before["leads"] == 1 and before["tenants"] == 1
    assert after == before
    assert "stopped" in README.read_text().split("pg_restore")[0].rsplit("```", 2)[-2]  # said before restoring


async def test_the_readme_compose_backup_restores(populated: str, empty_db: str, tmp_path: Path) -> None:
    [compose] = [b for b in _blocks("### Backup and restore") if "docker compose" in b]
    backup, restore = compose.split("# restore:")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(DOCKER.format(python=sys.executable))
    (bin_dir / "docker").chmod(0o755)
    source, target = urlsplit(populated), urlsplit(_db_url(empty_db))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "DOCKER_LOG": str(tmp_path / "docker.log"),
           "PGHOST": source.hostname or "127.0.0.1", "PGPORT": str(source.port or 5432),
           "PGUSER": source.username or "postgres", "PGPASSWORD": source.password or ""}
    await asyncio.to_thread(_run, backup.strip(), env={**env, "PGDATABASE": source.path.lstrip("/")}, cwd=tmp_path)
    for line in [x for x in restore.strip().splitlines() if x and not x.startswith("#")]:
        await asyncio.to_thread(_run, line, env={**env, "PGDATABASE": target.path.lstrip("/")}, cwd=tmp_path)
    assert await _counts(_db_url(empty_db)) == await _counts(populated)
    calls = (tmp_path / "docker.log").read_text().splitlines()
    assert calls.index("compose stop web worker") < next(i for i, c in enumerate(calls) if "pg_restore" in c)
    assert shlex.split(calls[-1]) == ["compose", "start", "web", "worker"]
