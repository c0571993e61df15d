"""HOOKWISE_DB_POOL_IDLE_SECONDS: how long a pooled connection may sit unused. By default it is
kept while the process runs, so the worker's warmed connections are there for a burst after a
quiet spell; set, an idle connection is closed once that time has passed."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from app.context import open_context
from app.settings import Settings

BACKENDS = """
SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


async def until_closed(db: asyncpg.Connection, pids: list[int]) -> None:
    """Return once a backend of `pids` is gone: looks every 10 ms (a condition, polled)."""
    gone = asyncio.Event()
    while set(pids) <= {r["pid"] for r in await db.fetch(BACKENDS)}:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gone.wait(), 0.01)


def test_pooled_connections_are_kept_by_default() -> None:
    assert Settings().database.pool_idle_seconds == 0


async def pids(pool: asyncpg.Pool) -> list[int]:
    """The server pids of two of the pool's connections, taken at once and given back (the
    pool keeps one whatever its idle time: its min_size)."""
    async with pool.acquire() as first, pool.acquire() as second:
        return [first.get_server_pid(), second.get_server_pid()]


async def test_an_idle_pooled_connection_is_closed_after_the_idle_seconds_set(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    async with (
        open_context(settings, dsn) as kept,
        open_context(settings.with_env(HOOKWISE_DB_POOL_IDLE_SECONDS=0.2), dsn) as short,
    ):
        kept_pids = await pids(kept.pool)
        short_pids = await pids(short.pool)
        assert {*kept_pids, *short_pids} <= {r["pid"] for r in await db.fetch(BACKENDS)}
        await asyncio.wait_for(until_closed(db, short_pids), 20)
        # Idle as long, and longer: both still open, and the pool hands them out again.
        assert set(kept_pids) <= {r["pid"] for r in await db.fetch(BACKENDS)}
        assert set(await pids(kept.pool)) == set(kept_pids)
