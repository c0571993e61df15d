"""Queries on `integrations`: one row per source (github, linear)."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

ENSURE = """
INSERT INTO integrations (name, type) VALUES ($1, $1)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
RETURNING id
"""


async def ensure(conn: asyncpg.Connection, sources: Iterable[str]) -> dict[str, int]:
    """The integration id of each source, creating the rows on first start."""
    return {source: await conn.fetchval(ENSURE, source) for source in sources}
