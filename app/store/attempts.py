"""Queries on `event_attempts`: every failed attempt of an event, for the admin pages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from app.store.rows import many

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


@dataclass(frozen=True)
class Attempt:
    """A failed attempt: its number (1-based) and error (at most MAX_ERROR_LENGTH characters)."""

    attempt: int
    error: str
    failed_at: datetime


async def of_event(conn: asyncpg.Connection, event_id: uuid.UUID) -> list[Attempt]:
    """The event's failed attempts, oldest first (across replays)."""
    return many(Attempt, await conn.fetch(OF_EVENT, event_id))
