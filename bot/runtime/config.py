"""Settings from `LEADBOT_*` environment variables, optionally layered over a TOML file.

`Settings.from_env(environ)` takes the mapping as an argument (tests pass their own), casts each value once and
names the variable in every error, so a bad value stops the service with one line such as
`LEADBOT_PORT: Input should be a valid integer (got 'eighty')`. Secrets are `SecretStr`: `repr` hides them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from bot.errors import ConfigError
from bot.runtime.eventloop import Loop

PREFIX = "LEADBOT_"
CONFIG_FILE_VAR = "LEADBOT_CONFIG"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Path("./data")
    database_url: str | None = None
    redis_url: str | None = None
    admin_token: SecretStr | None = None
    master_key: SecretStr | None = None
    whisper_model: str | None = None

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8080
    # The address platforms and people reach this service at; used for the callback URLs shown to admins.
    public_url: str | None = None

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"
    event_loop: Loop = "uvloop"

    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    # Slow clients: a request's body must arrive within body_timeout_s (else 408 and the connection is closed), and a
    # connection that is idle, or still sending its headers, is closed after keepalive_timeout_s. Each slow client
    # holds a connection and a coroutine; without bounds a few thousand trickling clients exhaust the process.
    body_timeout_s: Annotated[float, Field(gt=0, le=600)] = 15.0
    keepalive_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 75.0
    worker_concurrency: Annotated[int, Field(ge=1, le=1000)] = 20
    speech_concurrency: Annotated[int, Field(ge=1, le=16)] = 1
    job_timeout_s: Annotated[int, Field(ge=5, le=3600)] = 300
    # How long a platform delivery id is remembered, so every retry of it is recognised.
    dedup_ttl_s: Annotated[int, Field(ge=60, le=30 * 86400)] = 3 * 86400
    # Run DingTalk Stream-mode connections from this process (off: leave them to other serve/worker processes).
    dingtalk_stream: bool = True
    # Outbound URLs (webhooks, api_base) on loopback/private ranges are refused unless the operator allows them.
    allow_private_urls: bool = False
    # Quotas (bot.runtime.quotas): one tenant must neither fill Redis or the queue for everyone nor use the service as
    # an amplifier. A rate of 0 is no limit.
    callbacks_per_app_per_s: Annotated[int, Field(ge=0, le=1_000_000)] = 100
    dedup_max_per_app: Annotated[int, Field(ge=100, le=10_000_000)] = 100_000
    api_calls_per_token_per_min: Annotated[int, Field(ge=0, le=10_000_000)] = 1200
    webhooks_per_tenant: Annotated[int, Field(ge=1, le=10_000)] = 20
    webhook_replays_per_hour: Annotated[int, Field(ge=0, le=100_000_000)] = 10_000
    # Directory sync on a schedule (bot.jobs.directory): the hour of day, Beijing time, to sync every app's people
    # from its platform directory; unset: only on demand.
    directory_sync_hour: Annotated[int | None, Field(ge=0, le=23)] = None
    # Reverse proxies whose X-Forwarded-For is believed (addresses or networks, comma-separated): the access log's
    # client is then the address that proxy saw. Empty: the peer's own address (a header anyone can send is ignored).
    trusted_proxies: tuple[IPvAnyNetwork, ...] = ()

    # E-mail, the alert chain's last channel (unset host: no e-mail channel). "starttls" insists on the upgrade.
    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    smtp_tls: Literal["starttls", "implicit", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str | None = Field(default=None, validate_default=True)
    smtp_sender_name: str = "leadbot"
    # At most a minute: an alert's attempts run inside one job with a bounded timeout.
    smtp_timeout_s: Annotated[float, Field(gt=0, le=60)] = 30.0

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, v: Any) -> Any:
        return [part.strip() for part in v.split(",") if part.strip()] if isinstance(v, str) else v

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        scheme = urlsplit(v).scheme
        if scheme not in {"sqlite", "postgres", "postgresql", "asyncpg"}:
            raise ValueError(f"scheme must be sqlite:// or postgres:// (got {scheme or 'none'}://)")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        scheme = urlsplit(v).scheme
        if scheme not in {"redis", "rediss", "unix", "redis+sentinel"}:
            raise ValueError("must be a redis://, rediss://, unix:// or redis+sentinel:// URL")
        return v

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        parts = urlsplit(v)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http(s) URL such as https://leadbot.example.com")
        return v.rstrip("/")

    @field_validator("smtp_sender")
    @classmethod
    def _smtp_sender(cls, v: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("smtp_host") and not v:
            raise ValueError("required when LEADBOT_SMTP_HOST is set")
        return v

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {}
        config_file = environ.get(CONFIG_FILE_VAR)
        if config_file:
            values.update(_read_toml(Path(config_file)))
        for name in cls.model_fields:
            var = PREFIX + name.upper()
            if var in environ and environ[var] != "":
                values[name] = environ[var]
        try:
            return cls.model_validate(values)
        except ValidationError as e:
            err = e.errors()[0]
            field = str(err["loc"][0]) if err["loc"] else "?"
            var = PREFIX + field.upper() if field in cls.model_fields else field
            got = err.get("input")
            hidden = {"admin_token", "master_key", "smtp_password"}
            shown = "" if field in hidden or isinstance(got, dict) else f" (got {got!r})"
            raise ConfigError(f"{var}: {err['msg']}{shown}") from None

    # Derived values, computed from the settings alone (no I/O).

    def sqlite_path(self) -> Path:
        return self.data_dir / "leadbot.sqlite3"

    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        # busy_timeout: the web and worker processes share the file; a writer waits instead of failing.
        # synchronous=NORMAL (WAL): a commit is not synced to disk, the WAL is at checkpoints. A crash of a process
        # loses nothing; a power cut may undo the last commits (never corrupts), as the embedded Redis beside it
        # (appendfsync everysec) may lose its last second. Syncing each commit cost a card click ~1 ms of CPU and
        # ~7 ms of waiting in its five commits.
        return f"sqlite://{self.sqlite_path().resolve()}?busy_timeout=15000&synchronous=NORMAL"

    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{CONFIG_FILE_VAR}: no such file {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{CONFIG_FILE_VAR}: {path} is not valid TOML ({e})") from None
    unknown = sorted(set(raw) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"{CONFIG_FILE_VAR}: unknown key {unknown[0]!r} in {path}")
    return raw
