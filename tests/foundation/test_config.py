"""Settings: every bad value stops the service with one line naming its variable."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.runtime.config import Settings


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"LEADBOT_PORT": "eighty"}, "LEADBOT_PORT"),
        ({"LEADBOT_PORT": "70000"}, "LEADBOT_PORT"),
        ({"LEADBOT_DATABASE_URL": "mysql://root@localhost/x"}, "LEADBOT_DATABASE_URL"),
        ({"LEADBOT_REDIS_URL": "http://localhost:6379"}, "LEADBOT_REDIS_URL"),
        ({"LEADBOT_LOG_FORMAT": "xml"}, "LEADBOT_LOG_FORMAT"),
        ({"LEADBOT_LOG_LEVEL": "loud"}, "LEADBOT_LOG_LEVEL"),
        ({"LEADBOT_PUBLIC_URL": "ftp://example.com"}, "LEADBOT_PUBLIC_URL"),
        ({"LEADBOT_MAX_BODY_BYTES": "-1"}, "LEADBOT_MAX_BODY_BYTES"),
        ({"LEADBOT_ALLOW_PRIVATE_URLS": "perhaps"}, "LEADBOT_ALLOW_PRIVATE_URLS"),
    ],
)
def test_bad_value_names_its_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as e:
        Settings.from_env(env)
    message = str(e.value)
    assert message.startswith(variable + ":")
    assert "\n" not in message


def test_defaults_are_the_embedded_setup() -> None:
    s = Settings.from_env({})
    assert s.embedded_redis
    assert s.effective_database_url().startswith("sqlite://")
    assert s.effective_database_url().split("?")[0].endswith("data/leadbot.sqlite3")


def test_environment_overrides_toml_file(tmp_path) -> None:
    cfg = tmp_path / "leadbot.toml"
    cfg.write_text('port = 9000\nlog_format = "json"\n')
    s = Settings.from_env({"LEADBOT_CONFIG": str(cfg), "LEADBOT_PORT": "9100"})
    assert (s.port, s.log_format) == (9100, "json")


def test_unknown_toml_key_is_refused(tmp_path) -> None:
    cfg = tmp_path / "leadbot.toml"
    cfg.write_text("prot = 9000\n")
    with pytest.raises(ConfigError, match="unknown key 'prot'"):
        Settings.from_env({"LEADBOT_CONFIG": str(cfg)})


def test_secrets_are_hidden_from_repr_and_errors() -> None:
    s = Settings.from_env({"LEADBOT_ADMIN_TOKEN": "very-secret-admin-token"})
    assert "very-secret-admin-token" not in repr(s)
    assert s.admin_token.get_secret_value() == "very-secret-admin-token"


async def test_embedded_database_keeps_commits_across_a_crash_without_syncing_each(services) -> None:
    """The embedded SQLite is opened in WAL mode with synchronous=NORMAL: a commit survives the process (the WAL is
    written), only a power cut may undo the last ones; syncing every commit cost each card click ~7 ms of waiting."""
    from tortoise import connections

    if services.settings.database_url is not None:
        pytest.skip("the embedded database only")
    conn = connections.get("default")
    _, mode = await conn.execute_query("PRAGMA journal_mode")
    _, sync = await conn.execute_query("PRAGMA synchronous")
    assert (mode[0][0], sync[0][0]) == ("wal", 1)  # 1: NORMAL
