"""Queries on `integrations.credentials_encrypted`: API keys, only ever stored encrypted."""

from __future__ import annotations

import asyncpg

GET = "SELECT credentials_encrypted FROM integrations WHERE name = $1"
# The row is created on first use: a Linear API key may come before any Linear webhook.
PUT = """
INSERT INTO integrations (name, type, credentials_encrypted) VALUES ($1, $1, $2)
ON CONFLICT (name) DO UPDATE SET credentials_encrypted = EXCLUDED.credentials_encrypted
"""
ALL_FOR_UPDATE = """
SELECT name, credentials_encrypted FROM integrations
WHERE credentials_encrypted IS NOT NULL
ORDER BY name
FOR UPDATE
"""
SET = "UPDATE integrations SET credentials_encrypted = $2 WHERE name = $1"


async def get(conn: asyncpg.Connection, name: str) -> bytes | None:
    value = await conn.fetchval(GET, name)
    return None if value is None else bytes(value)


async def put(conn: asyncpg.Connection, name: str, sealed: bytes) -> None:
    await conn.execute(PUT, name, sealed)


async def all_for_update(conn: asyncpg.Connection) -> list[tuple[str, bytes]]:
    """Every stored credential, locked until the caller's transaction ends."""
    rows = await conn.fetch(ALL_FOR_UPDATE)
    return [(row["name"], bytes(row["credentials_encrypted"])) for row in rows]


async def update(conn: asyncpg.Connection, name: str, sealed: bytes) -> None:
    await conn.execute(SET, name, sealed)
