"""Waiting for a condition of the database: polled every 10 ms, never a sleep standing in for an
event. A test bounds each wait with asyncio.wait_for."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg

# Transactions of the test's database waiting for a lock, now.
WAITING = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


async def until(dsn: str, query: str, count: int, *args: Any) -> None:
    """Return once `query` (a count) answers at least `count`."""
    never = asyncio.Event()
    conn = await asyncpg.connect(dsn)
    try:
        while await conn.fetchval(query, *args) < count:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(never.wait(), 0.01)
    finally:
        await conn.close()


async def until_waiting(dsn: str, count: int) -> None:
    """Return once `count` transactions of the database wait for a lock."""
    await until(dsn, WAITING, count)
