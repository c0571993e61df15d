"""Queries on `event_attempts`: every failed attempt of an event, for the admin pages."""

from __future__ import annotations

import uuid

import asyncpg

# The same cap as integration_events.last_error (app/queue.py): a traceback-sized message at most.
MAX_ERROR_LENGTH = 4000

RECORD = "INSERT INTO event_attempts (event_id, attempt, error) VALUES ($1, $2, $3)"
OF_EVENT = """
SELECT attempt, error, failed_at FROM event_attempts WHERE event_id = $1 ORDER BY failed_at, id
"""


async def record(
    conn: asyncpg.Connection, event_id: uuid.UUID, *, attempt: int, error: str
) -> None:
    await conn.execute(RECORD, event_id, attempt, error[:MAX_ERROR_LENGTH])


async def of_event(conn: asyncpg.Connection, event_id: uuid.UUID) -> list[asyncpg.Record]:
    """The event's failed attempts, oldest first (across replays)."""
    return await conn.fetch(OF_EVENT, event_id)
