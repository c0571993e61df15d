"""The work queue is integration_events itself: claim, complete, retry, dead-letter, release.

A claim is one statement: the due rows, FOR UPDATE SKIP LOCKED, are marked processing with a
lease and their attempt counted. Events sharing a serial key (app/serial.py: one pull request,
one installation, ...) run one at a time in arrival order: a row is taken only when no
unfinished row sharing a key arrived before it, and none runs under a live lease. So one claim
takes at most one event of a pull request, the first; one waiting for a retry holds the later
ones back until it completes or is dead-lettered. A worker that dies keeps its lease until it
expires; then the row is due again. Every later write names the attempt it belongs to, so a
worker whose lease was taken over cannot overwrite the new owner's outcome.

Arrival order is the sequence's (app/store/events.py): two deliveries stored by batches in
flight at once have no order between them, and a replayed event keeps its place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from app.router import EventRow
from app.store import bodies
from app.store.statuses import EventStatus

CLAIM = """
WITH next AS (
    SELECT e.id FROM integration_events e
    WHERE e.status IN ('pending', 'processing')
      AND CASE e.status WHEN 'pending' THEN e.run_after <= now() ELSE e.locked_until < now() END
      AND NOT EXISTS (
          SELECT FROM integration_events o
          -- Unfinished, in the words of integration_events_serial_keys_idx's predicate, so
          -- that index serves this look-up whatever the statistics say of the queue's size.
          WHERE o.serial_keys && e.serial_keys
            AND o.status NOT IN ('completed', 'ignored', 'failed') AND o.id <> e.id
            AND (o.arrival < e.arrival OR (o.status = 'processing' AND o.locked_until >= now())))
    ORDER BY e.arrival
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE integration_events AS e
SET status = 'processing',
    attempts = e.attempts + 1,
    locked_until = now() + make_interval(secs => $1)
FROM next
WHERE e.id = next.id
RETURNING e.id, e.source, e.event_type, e.action, e.delivery_id, e.hook_id, e.attempts,
          e.received_at, e.arrival, e.serial_keys, e.body_encoding, e.body
"""

# The payload column stays empty for deliveries: parsing 25 KB into jsonb cost PostgreSQL more
# than anything else an event does (issue 18), and the admin and CLI read the raw body.
FINISH = """
UPDATE integration_events
SET status = $3, processed_at = now(), locked_until = NULL
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
# All of an event's keys in one round trip, in the order given (sorted: no deadlock).
LOCK_ALL = """
SELECT pg_advisory_xact_lock(hashtextextended(key, 0))
FROM unnest($1::text[]) WITH ORDINALITY AS k (key, n) ORDER BY n
"""


@dataclass(frozen=True)
class Claimed:
    row: EventRow
    body: bytes = field(repr=False)


async def claim_many(conn: asyncpg.Connection, *, lease: float, limit: int) -> list[Claimed]:
    """Up to `limit` due events, none sharing a serial key with another, in arrival order."""
    records = await conn.fetch(CLAIM, lease, limit)
    claimed = [
        Claimed(
            row=EventRow(**{k: v for k, v in r.items() if k not in ("body", "body_encoding")}),
            body=bodies.unpack(r["body_encoding"], r["body"]),
        )
        for r in records
    ]
    return sorted(claimed, key=lambda c: c.row.arrival)


async def claim(conn: asyncpg.Connection, *, lease: float) -> Claimed | None:
    """The first due event, or None."""
    claimed = await claim_many(conn, lease=lease, limit=1)
    return claimed[0] if claimed else None


async def finish(conn: asyncpg.Connection, row: EventRow, status: EventStatus) -> bool:
    """Mark completed or ignored; False when the lease was lost to another worker."""
    result = await conn.execute(FINISH, row.id, row.attempts, status)
    return result == "UPDATE 1"


async def retry(
    conn: asyncpg.Connection, row: EventRow, error: str, *, max_attempts: int, delay: float
) -> str | None:
    """Schedule another attempt, or dead-letter after the last; returns the new status."""
    found: str | None = await conn.fetchval(
        RETRY, row.id, row.attempts, error[:MAX_ERROR_LENGTH], max_attempts, delay
    )
    return found


async def release(conn: asyncpg.Connection, row: EventRow, *, at: datetime | None = None) -> None:
    await conn.execute(RELEASE, row.id, row.attempts, at)
