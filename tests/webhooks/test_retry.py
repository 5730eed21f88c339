"""The retry schedule: exponential backoff with jitter, capped, for a 24-hour window, then dead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.webhooks.retry import DEFAULT, RetryPolicy

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("attempt, low, high", [
    (1, 10, 20),
    (2, 20, 30),
    (3, 40, 50),
    (6, 320, 330),
    (9, 2560, 2570),
    (10, 3600, 3610),   # capped at an hour (plus jitter)
    (25, 3600, 3610),
])
def test_waits_double_from_ten_seconds_up_to_an_hour_plus_jitter(attempt, low, high) -> None:
    waits = [DEFAULT.wait_s(attempt) for _ in range(200)]
    assert all(low <= w <= high for w in waits), (min(waits), max(waits))
    assert len(set(waits)) > 1  # jittered: failures of one outage do not come back in lockstep


@pytest.mark.parametrize("elapsed, expect", [
    (timedelta(0), "retry"),
    (timedelta(hours=23, minutes=59, seconds=55), "at_deadline"),  # the last try lands on the window's end
    (timedelta(hours=24), "dead"),
    (timedelta(days=3), "dead"),
])
def test_the_window_ends_retries(elapsed, expect) -> None:
    now = START + elapsed
    at = DEFAULT.next_attempt_at(9, START, now)
    if expect == "dead":
        assert at is None
    elif expect == "at_deadline":
        assert at == START + timedelta(days=1)
    else:
        assert now + timedelta(seconds=2560) <= at <= now + timedelta(seconds=2570)


def test_the_default_schedule_tries_for_a_day_about_thirty_times() -> None:
    policy, now, attempt = RetryPolicy(jitter_s=0), START, 0
    while now is not None:
        attempt += 1
        now = policy.next_attempt_at(attempt, START, now)
    assert 28 <= attempt <= 33


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError):
        DEFAULT.wait_s(0)
