"""The work queue is integration_events itself: claim, complete, retry, dead-letter, release.

A claim is one statement: the next due row, FOR UPDATE SKIP LOCKED, is marked processing with a
lease and its attempt counted. A worker that dies keeps its lease until it expires; then the row
is due again. Every later write names the attempt it belongs to, so a worker whose lease was
taken over cannot overwrite the new owner's outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from app.router import EventRow
from app.store import bodies

CLAIM = """
WITH next AS (
    SELECT id FROM integration_events
    WHERE status IN ('pending', 'processing')
      AND CASE status WHEN 'pending' THEN run_after <= now() ELSE locked_until < now() END
    ORDER BY run_after, received_at
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE integration_events AS e
SET status = 'processing',
    attempts = e.attempts + 1,
    locked_until = now() + make_interval(secs => $1)
FROM next
WHERE e.id = next.id
RETURNING e.id, e.source, e.event_type, e.action, e.delivery_id, e.hook_id, e.attempts,
          e.received_at, e.body_encoding, e.body
"""

# The jsonb payload is filled here, off the ingest path: parsing 25 KB into jsonb costs the
# database more than the raw insert, and the acknowledgement does not need it.
FINISH = """
UPDATE integration_events
SET status = $3, processed_at = now(), locked_until = NULL, payload = coalesce(payload, $4::jsonb)
WHERE id = $1 AND attempts = $2 AND status = 'processing'
"""

RETRY = """
UPDATE integration_events
SET status = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'pending' END,
    processed_at = CASE WHEN attempts >= $4 THEN now() END,
    run_after = now() + make_interval(secs => $5),
    locked_until = NULL,
    last_error = $3
WHERE id = $1 AND attempts = $2 AND status = 'processing'
RETURNING status
"""

# Not the event's fault (shutdown, rate limit): the attempt is given back.
RELEASE = """
UPDATE integration_events
SET status = 'pending',
    attempts = GREATEST(attempts - 1, 0),
    run_after = GREATEST(now(), COALESCE($3, now())),
    locked_until = NULL
WHERE id = $1 AND attempts = $2 AND status = 'processing'
"""

MAX_ERROR_LENGTH = 4000

# Held by an event's transaction for each of its serial keys (app/worker.serial_keys); an
# execution takes its pull request's key to read the state no event of it is changing.
LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"


@dataclass(frozen=True)
class Claimed:
    row: EventRow
    body: bytes = field(repr=False)


async def claim(conn: asyncpg.Connection, *, lease: float) -> Claimed | None:
    record = await conn.fetchrow(CLAIM, lease)
    if record is None:
        return None
    body = bodies.unpack(record["body_encoding"], record["body"])
    row = EventRow(**{k: v for k, v in record.items() if k not in ("body", "body_encoding")})
    return Claimed(row=row, body=body)


async def finish(
    conn: asyncpg.Connection, row: EventRow, status: str, *, payload: str | None
) -> bool:
    """Mark completed or ignored, keeping the payload as jsonb; False when the lease was lost
    to another worker."""
    result = await conn.execute(FINISH, row.id, row.attempts, status, payload)
    return result == "UPDATE 1"


async def retry(
    conn: asyncpg.Connection, row: EventRow, error: str, *, max_attempts: int, delay: float
) -> str | None:
    """Schedule another attempt, or dead-letter after the last; returns the new status."""
    return await conn.fetchval(
        RETRY, row.id, row.attempts, error[:MAX_ERROR_LENGTH], max_attempts, delay
    )


async def release(conn: asyncpg.Connection, row: EventRow, *, at: datetime | None = None) -> None:
    await conn.execute(RELEASE, row.id, row.attempts, at)
