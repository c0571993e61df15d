"""What the drills share: hookwise processes on a port, waiting on their logs without blocking
the test's event loop (the fakes serve from it), and what /proc says about a process."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import queue
import time
from pathlib import Path

from tests.conftest import GITHUB_SECRET
from tests.processes import Logged, Served, environment

# A drill that has not reached its next step by then has failed; nothing waits unbounded.
STEP_TIMEOUT = 60.0


def server_env(dsn: str, port: int, **values: str) -> dict[str, str]:
    """`hookwise serve` on `dsn` and `port`, with no schedule of its own to add work."""
    return environment(
        DATABASE_URL=dsn,
        GITHUB_WEBHOOK_SECRET=GITHUB_SECRET,
        PORT=str(port),
        HOOKWISE_RECONCILE_EVERY="0",
        **values,
    )


async def serve(
    *args: str, env: dict[str, str], lines: queue.Queue[str | None] | None = None
) -> tuple[Served, str]:
    """Start `hookwise serve` and return it with its base URL once uvicorn listens."""
    served = Served(*args, env=env, lines=lines)
    url = f"http://127.0.0.1:{env['PORT']}"
    try:
        await asyncio.to_thread(
            served.wait_for, "listening", timeout=STEP_TIMEOUT, port=int(env["PORT"])
        )
    except BaseException:
        served.kill()
        raise
    return served, url


async def count_lines(
    lines: queue.Queue[str | None], wanted: dict[Logged, int]
) -> dict[Logged, int]:
    """Read log lines until each of `wanted` (an action and fields) has been seen that many
    times.

    The queue is read in a thread: blocking this loop would stall the fakes it serves.
    """
    seen = dict.fromkeys(wanted, 0)
    deadline = time.monotonic() + STEP_TIMEOUT

    def read() -> None:
        while any(seen[logged] < count for logged, count in wanted.items()):
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.001))
            if line is None:
                raise AssertionError(f"hookwise exited; seen {seen} of {wanted}")
            for logged in wanted:
                seen[logged] += logged.matches(line)

    try:
        await asyncio.to_thread(read)
    except queue.Empty:
        raise AssertionError(f"after {STEP_TIMEOUT:.0f} s: seen {seen} of {wanted}") from None
    return seen


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sockets(pid: int) -> int:
    """Open sockets of a process: listening, to clients and to PostgreSQL."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):  # closed while we looked
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    return count


def percentile(values: list[float], pct: float) -> float:
    """Nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = math.ceil(pct / 100 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]
