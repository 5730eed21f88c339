"""The `leadbot` command: serve on the embedded defaults, admin operations from the shell, clear config errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ENV_DB

WECOM_AES = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


def _leadbot(*args: str, env: dict[str, str], input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], env={**os.environ, **env}, input=input,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def cli_env(tmp_path: Path, settings) -> dict[str, str]:
    env = {"LEADBOT_DATA_DIR": str(tmp_path / "cli-data")}
    env.pop("LEADBOT_REDIS_URL", None)
    if settings.database_url:
        env["LEADBOT_DATABASE_URL"] = settings.database_url
    return env


def test_bad_setting_stops_with_one_line_naming_it(cli_env) -> None:
    r = _leadbot("migrate", env={**cli_env, "LEADBOT_PORT": "eighty"})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert r.stderr.startswith("leadbot: LEADBOT_PORT:")


async def test_apps_and_users_from_the_shell(cli_env, services) -> None:
    r = _leadbot("tenants", "add", "Acme", env=cli_env)
    assert r.returncode == 0, r.stderr
    tenant = json.loads(r.stdout)
    r = _leadbot("apps", "add", "wecom", "--tenant", str(tenant["id"]), "--name", "sales",
                 "--corp-id", "ww1234567890", "--agent-id", "1000002", "--secret", "cli-secret-value-xyz",
                 "--token", "Tok3n", "--aes-key", WECOM_AES, env=cli_env)
    assert r.returncode == 0, r.stderr
    app = json.loads(r.stdout)
    assert app["callback_urls"]["callback"].endswith(f"/wecom/{app['id']}/callback")
    assert "cli-secret-value-xyz" not in r.stdout + r.stderr
    if not ENV_DB:
        for path in Path(cli_env["LEADBOT_DATA_DIR"]).glob("leadbot.sqlite3*"):
            assert b"cli-secret-value-xyz" not in path.read_bytes()
    # the same app again: refused, exit 1, one line
    r = _leadbot("apps", "add", "wecom", "--tenant", str(tenant["id"]), "--name", "again",
                 "--corp-id", "ww1234567890", "--agent-id", "1000002", "--secret", "x", "--token", "T",
                 "--aes-key", WECOM_AES, env=cli_env)
    assert r.returncode == 1 and "already registered" in r.stderr
    r = _leadbot("apps", "disable", str(app["id"]), env=cli_env)
    assert json.loads(r.stdout)["status"] == "disabled"

    csv = Path(cli_env["LEADBOT_DATA_DIR"]) / "users.csv"
    csv.write_text("name,role,wecom_userid,phone\n张三,rep,zhangsan,13800138000\n坏,rep,bad,123\n", encoding="utf-8")
    r = _leadbot("users", "import", str(csv), "--tenant", str(tenant["id"]), env=cli_env)
    assert r.returncode == 1
    assert "created 1, updated 0, 1 error(s)" in r.stdout
    assert "line 3: phone:" in r.stderr
    r = _leadbot("users", "list", "--tenant", str(tenant["id"]), env=cli_env)
    assert [u["phone"] for u in json.loads(r.stdout)] == ["+8613800138000"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", ["migrate", "serve", "worker"])
@pytest.mark.parametrize("url", [f"postgres://leadbot:s3cret-pw@127.0.0.1:{_free_port()}/leadbot",
                                 "postgres://leadbot@db.example.invalid:5432/leadbot"], ids=["refused", "no-such-host"])
def test_an_unreachable_database_is_one_line_naming_the_variable(command: str, url: str, tmp_path: Path) -> None:
    """Issue 23: an unreachable PostgreSQL printed a 99-line asyncpg traceback at serve/migrate."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADBOT_")}
    env.update(LEADBOT_DATA_DIR=str(tmp_path / "data"), LEADBOT_DATABASE_URL=url,
               LEADBOT_REDIS_URL="redis://127.0.0.1:1/0", LEADBOT_PORT=str(_free_port()))
    done = subprocess.run([sys.executable, "-m", "bot", command], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("leadbot: cannot reach the database at LEADBOT_DATABASE_URL (")
    assert "s3cret-pw" not in done.stderr and "127.0.0.1:1" not in done.stderr  # no password; Redis never tried


@pytest.mark.slow
def test_serve_on_embedded_defaults_is_ready_without_external_services() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="lbs-", dir="/tmp"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADBOT_")}
    env.update(LEADBOT_DATA_DIR=str(data_dir), LEADBOT_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        status, deadline = None, time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                    status = resp.status
                    body = json.loads(resp.read())
                    break
            except OSError:
                time.sleep(0.3)
        assert status == 200
        assert body["checks"]["redis"]["detail"] == "embedded"
        assert body["checks"]["database"]["detail"] == "sqlite"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    token = (data_dir / "admin.token").read_text().strip()
    # stderr is not a terminal here (a pipe, as under systemd or docker): the log says where the token is, and the
    # token itself never enters the log stream (issue 23)
    assert token not in err and token not in out
    assert f"generated an admin token: it is in {data_dir / 'admin.token'}" in err
    assert "stopped the embedded Redis" in err
    assert not (data_dir / "redis" / "redis.sock").exists()


@pytest.mark.slow
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_first_start_shows_the_admin_token_on_the_terminal_only(log_format: str, tmp_path: Path) -> None:
    """With stderr a terminal the token is printed there once; with the log in JSON it is still no log record."""
    import pty

    data_dir = Path(tempfile.mkdtemp(prefix="lbt-", dir="/tmp"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADBOT_")}
    env.update(LEADBOT_DATA_DIR=str(data_dir), LEADBOT_PORT=str(port), LEADBOT_LOG_FORMAT=log_format)
    master, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=terminal)
    os.close(terminal)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"serving on" not in seen and time.monotonic() < deadline:
            seen += os.read(master, 65536)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        os.close(master)
    token = (data_dir / "admin.token").read_text().strip()
    lines = seen.decode(errors="replace").splitlines()
    shown = [line for line in lines if token in line]
    assert shown == [f"Generated admin token (kept in {data_dir / 'admin.token'}): {token}"]
    if log_format == "json":
        records = [json.loads(line) for line in lines if line.startswith("{")]
        assert records and not any(token in json.dumps(r) for r in records)
