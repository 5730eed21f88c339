"""When to try a failed delivery again, and when to stop: exponential backoff with jitter for a fixed window.

The waits come from tenacity's strategies (`wait_exponential` plus `wait_random`), evaluated for the attempt number
stored on the delivery row, so the schedule survives restarts and moves between workers; the row's `next_attempt_at`
is the only clock. The defaults give roughly 10 s, 20 s, 40 s … an hour, then hourly, for 24 hours: about 30
attempts, after which the event is parked as dead until someone redelivers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tenacity import RetryCallState, wait_exponential, wait_random


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_wait_s: float = 10.0
    max_wait_s: float = 3600.0
    # Random extra wait, so the receivers' failures of one outage do not come back all at the same second.
    jitter_s: float = 10.0
    window_s: float = 86_400.0

    def wait_s(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        if attempt < 1:
            raise ValueError("attempts are counted from 1")
        strategy = wait_exponential(multiplier=self.first_wait_s, max=self.max_wait_s) + wait_random(0, self.jitter_s)
        state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
        state.attempt_number = attempt
        return float(strategy(state))

    def next_attempt_at(self, attempt: int, window_started_at: datetime, now: datetime) -> datetime | None:
        """When to try again after failed attempt `attempt`, or None: the window is over, park the event as dead.

        The last try lands on the window's end rather than past it, so a receiver that comes back late in the
        window still gets the event.
        """
        deadline = window_started_at + timedelta(seconds=self.window_s)
        if now >= deadline:
            return None
        return min(now + timedelta(seconds=self.wait_s(attempt)), deadline)


DEFAULT = RetryPolicy()
