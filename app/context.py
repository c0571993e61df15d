"""The one object passed to the web app (and later the worker and handlers): no module globals."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

from app.settings import Settings
from app.store import integrations
from app.store.pool import create_pool


@dataclass(frozen=True)
class Context:
    settings: Settings
    # Kept for connections outside the pool: the worker's LISTEN connection.
    dsn: str = field(repr=False)
    pool: asyncpg.Pool
    # integrations.id of each enabled source, resolved once at start.
    integration_ids: Mapping[str, int]


@asynccontextmanager
async def open_context(settings: Settings, dsn: str) -> AsyncIterator[Context]:
    """Open the pool and resolve integrations; close everything on exit."""
    pool = await create_pool(dsn, size=settings.db_pool_size)
    try:
        async with pool.acquire() as conn:
            ids = await integrations.ensure(conn, settings.enabled_sources)
        yield Context(settings=settings, dsn=dsn, pool=pool, integration_ids=ids)
    finally:
        await pool.close()
