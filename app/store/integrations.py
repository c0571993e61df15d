"""Queries on `integrations`: one row per source (github, linear)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import asyncpg

from app.store.pool import JsonText

ENSURE = """
INSERT INTO integrations (name, type) VALUES ($1, $1)
ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
RETURNING id
"""


async def ensure(conn: asyncpg.Connection, sources: Iterable[str]) -> dict[str, int]:
    """The integration id of each source, creating the rows on first start."""
    return {source: await conn.fetchval(ENSURE, source) for source in sources}


GET_CONFIG = "SELECT config -> $2 FROM integrations WHERE name = $1"
SET_CONFIG = """
UPDATE integrations SET config = jsonb_set(config, ARRAY[$2::text], $3::jsonb) WHERE name = $1
"""


async def get_config(conn: asyncpg.Connection, name: str, key: str) -> Any:
    return await conn.fetchval(GET_CONFIG, name, key)


async def set_config(conn: asyncpg.Connection, name: str, key: str, value: Any) -> None:
    # JSON null for None: an SQL NULL would make jsonb_set empty the whole config.
    await conn.execute(SET_CONFIG, name, key, JsonText(json.dumps(value)))


ID_OF = "SELECT id FROM integrations WHERE name = $1"


async def id_of(conn: asyncpg.Connection, name: str) -> int:
    """The integration's id, created on first use (a command may run before any server did)."""
    found: int | None = await conn.fetchval(ID_OF, name)
    if found is not None:
        return found
    return (await ensure(conn, [name]))[name]
