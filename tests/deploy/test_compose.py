"""docker-compose.yml cannot be run here (no Docker): check what can be checked without it, that it parses and says
what the README promises, and that its commands are commands the CLI has."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from bot.cli import main

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
SHARED = ("LEADBOT_DATABASE_URL", "LEADBOT_REDIS_URL", "LEADBOT_ADMIN_TOKEN", "LEADBOT_MASTER_KEY")


def load() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_web_worker_postgres_and_redis_with_one_configuration() -> None:
    services = load()["services"]
    assert set(services) == {"web", "worker", "postgres", "redis"}
    web, worker = services["web"], services["worker"]
    for var in SHARED:
        assert web["environment"][var] == worker["environment"][var], var
    assert web["environment"]["LEADBOT_DATABASE_URL"].startswith("postgres://")
    assert web["environment"]["LEADBOT_REDIS_URL"].startswith("redis://redis:")
    for svc in (web, worker):
        assert svc["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                     "redis": {"condition": "service_healthy"}}
    assert "--no-worker" in web["command"]  # jobs run in the worker service, scaled on its own


def test_redis_keeps_the_queue_and_never_evicts() -> None:
    command = load()["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_the_commands_are_the_clis() -> None:
    services = load()["services"]
    for name in ("web", "worker"):
        argv = services[name]["command"]
        assert argv[0] == "leadbot"
        result = CliRunner().invoke(main, [*argv[1:2], "--help"])
        assert result.exit_code == 0, result.output
        options = {a for a in argv[2:] if a.startswith("--")}
        assert all(o in result.output for o in options), (name, options)
