"""The embedded PostgreSQL that `hookwise serve` starts when DATABASE_URL is unset."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from app.store.server import embedded_server


async def test_new_wal_segments_are_not_zero_filled_and_data_survives_a_restart(
    tmp_path: Path,
) -> None:
    # Zero-filling each new 16 MB segment stalled commits for tens of milliseconds.
    pgdata = tmp_path / "pgdata"
    with embedded_server(pgdata) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SHOW wal_init_zero") == "off"
            assert await conn.fetchval("SHOW fsync") == "on"
            assert await conn.fetchval("SHOW synchronous_commit") == "on"
            await conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1)")
        finally:
            await conn.close()
    with embedded_server(pgdata) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT n FROM kept") == 1
            assert await conn.fetchval("SHOW wal_init_zero") == "off"
        finally:
            await conn.close()
