"""When to try again: backoff arithmetic, and the exception that names a time.

Shared by the worker (which reschedules) and the clients (which know when a remote service
will take requests again); neither needs to know the other.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

# Seconds an event is given back for when a key or row it needs is held by another transaction
# (for milliseconds: none waits on the network). Given back due at once, it was claimed again at
# once, ~200 times a second while the holder ran, and a listing's fetcher asked GitHub each time.
BUSY_PAUSE = 1.0


class RetryLater(Exception):
    """Not a failure of the event: run it again at `retry_at`, without counting an attempt."""

    def __init__(self, retry_at: datetime, reason: str) -> None:
        super().__init__(f"{reason}; retry at {retry_at.isoformat(timespec='seconds')}")
        self.retry_at = retry_at
        self.reason = reason


def backoff(attempts: int, *, base: float, cap: float, jitter: float | None = None) -> float:
    """Exponential backoff with jitter: base * 2^(attempts-1), capped, times 0.5-1.5."""
    jitter = random.random() if jitter is None else jitter
    return min(cap, base * 2.0 ** max(attempts - 1, 0)) * (0.5 + jitter)


def busy(reason: str) -> RetryLater:
    """RetryLater in BUSY_PAUSE seconds: what a handler raises when another transaction holds
    a key or row it cannot wait for (its own transaction holds rows the holder may want)."""
    return RetryLater(datetime.now(UTC) + timedelta(seconds=BUSY_PAUSE), reason)
