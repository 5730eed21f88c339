"""Test tiers, given at collection (a pytest plugin, see tests/conftest.py): no test file says its own tier, so
tests added anywhere are sorted the same way and no file has to move.

- `process`: the tests in PROCESS_PATHS — real `serve`/`worker`/CLI subprocesses, SIGKILL, Redis restarts, the
  browser. Slow and sensitive to load, they are the ones to run alone (`-m process`) when hunting a flaky failure.
- `unit`: every other test whose fixture closure has none of BACKEND_FIXTURES: no database, no Redis, so its
  outcome cannot depend on the backend and CI runs it once. A test in UNIT_DIRS (pure logic: renderers, parsers,
  extraction, crypto, working time) must be one: asking for the backend there is a collection error, so that
  directory stays fast by construction. While a unit test runs, opening a database fails it.
- `integration`: the rest, the real app on the backend (or on one of its own: OWN_BACKEND_PATHS).

Independently of the tier, a test that reaches the backend is marked `backend`: CI's second backend runs only
`-m backend`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent

# Any fixture that leads to the database or Redis goes through one of these (settings, services, client, redis…).
BACKEND_FIXTURES = frozenset({"redis_url", "pg_session_url"})

# Pure logic only: a test here that asks for the backend is an error, not an integration test.
UNIT_DIRS = ("cards", "worktime/test_worktime.py", "workflow", "speech", "platforms/wecom/test_crypto.py")

# Paths relative to tests/: a directory, a file, or a file::test-name prefix.
PROCESS_PATHS = (
    "faults",
    "deploy/test_backup_restore.py",
    "board/test_browser.py",
    "webhooks/test_crash.py",
    "foundation/test_stopping.py",
    "foundation/test_migrations.py::test_upgrade_keeps_the_rows_of_the_first_release",
    "foundation/test_migrations.py::test_concurrent_migrate_commands_agree",
    "foundation/test_cli.py",
    "e2e_wecom/test_app_verify.py::test_another_tenants_app_cannot_be_verified",
    "platforms/dingtalk/test_dingtalk_stream.py::test_second_runner_waits_on_the_lease_and_takes_over",
    "speech/test_hostile_audio.py",
    "speech/test_layers.py::test_importing_the_pipeline_loads_no_service_module",
    "voice/test_engine.py::test_web_processes_do_not_load_the_speech_libraries",
)

# Tests that open a database or Redis of their own (not through the fixtures): integration, but on that backend of
# theirs whatever the run's, so not `backend`.
OWN_BACKEND_PATHS = ("security/test_file_modes.py::test_the_data_dir_and_every_file_in_it_are_the_services_alone",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: no database, no Redis: pure logic, run once (tests/support/tiers.py)")
    config.addinivalue_line("markers", "integration: the real app on the backend, run per backend")
    config.addinivalue_line("markers", "process: real subprocesses (serve, worker, CLI), SIGKILL, restarts, browser")
    config.addinivalue_line("markers", "backend: reaches the database or Redis: CI runs it on every backend")


def _relative(item: pytest.Item) -> str:
    path = Path(str(item.path)).resolve()
    try:
        rel = path.relative_to(TESTS).as_posix()
    except ValueError:  # a test outside tests/ (none today): treated by its fixtures alone
        rel = path.as_posix()
    return f"{rel}::{item.name}"


def _under(rel: str, prefixes: tuple[str, ...]) -> bool:
    """`rel` is the path or test named by one of `prefixes` (a directory, a file, a test and its parameters)."""
    return any(rel.startswith(p) and rel[len(p):len(p) + 1] in ("", "/", ":", "[") for p in prefixes)


def tier_of(item: pytest.Item) -> tuple[str, bool]:
    """(tier, reaches the backend)."""
    rel = _relative(item)
    backend = bool(BACKEND_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if _under(rel, PROCESS_PATHS):
        return "process", backend
    if _under(rel, OWN_BACKEND_PATHS):
        return "integration", backend
    if _under(rel, UNIT_DIRS) and backend:
        raise pytest.UsageError(
            f"{rel} is in a unit directory (tests/support/tiers.py UNIT_DIRS) but asks for the database or Redis "
            f"(through one of {sorted(BACKEND_FIXTURES)}): give it no backend fixture, or put it elsewhere")
    return ("integration" if backend else "unit"), backend


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier, backend = tier_of(item)
        item.add_marker(tier)
        if backend:
            item.add_marker("backend")


@pytest.fixture(autouse=True)
def _unit_tests_stay_off_the_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test that opens a database anyway (not through a fixture) fails at once, instead of silently becoming
    a test of one backend. (Redis is not fenced the same way: unit tests rightly connect to closed ports to see a
    refusal handled.)"""
    if request.node.get_closest_marker("unit") is None:
        return
    from tortoise import Tortoise

    async def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a unit test (tests/support/tiers.py) must not open a database")

    monkeypatch.setattr(Tortoise, "init", refuse)
