"""The work queue is integration_events itself: claim, complete, retry, dead-letter, release.

A claim is one statement: the due rows, FOR UPDATE SKIP LOCKED, are marked processing with a
lease and their attempt counted. The worker handles a claimed batch in one transaction
(own_and_lock, the events' handlers, finish_many): one commit for the batch.

Events sharing a serial key (app/serial.py: one pull request, one installation, ...) run one
at a time in arrival order: a row is taken only when no unfinished row sharing a key arrived
before it. So one claim takes at most one event of a pull request, the first. The transaction
that handles an event holds each of its keys' advisory lock (own_and_lock): an event claimed
while a later one of its key runs (it had stepped aside for a retry, see below, or was
replayed) waits for that one's commit, and an execution reading a pull request sees no event of
it half done.

The claim walks the queue in arrival order, one index step per row, and stops once it has its
batch; whether a row is held back is a step into integration_event_keys (migrations 0012 and
0013: each unfinished event's keys, ordered by key and arrival, kept by triggers). So a claim
costs the rows it passes over (those in flight and the ones they hold back), not the queue's
length, and at most WALK of them: past that, the head of the queue is the queues of a few keys
(one pull request sent thousands of times), and the claim reads each key's first event instead,
and the events with no key (which no key holds back) from an index of their own.

An event waiting for a retry holds the later ones back while its next attempt is due within
HOLD_BACK seconds (a blip: a lost connection, a deadlock, a one-off rate limit keeps the order);
once its backoff grows past that, or it waits on a rate limit named further off, the later
events go ahead and it runs when due, still one at a time with them. Holding a pull request
for a backoff of up to an hour per attempt (HOOKWISE_RETRY_MAX_SECONDS) would stop its state,
reviews and analyses for hours over one event that dead-lettering would let pass anyway; and
running it late is safe for the state: a payload older than what is stored changes nothing
(app/store/pull_requests.py), so what such an event can lose is its own transition in
pr_state_history, which a dead letter would lose too. A worker that dies keeps its lease until it
expires; then the row is due again. Every later write names the attempt it belongs to, so a
worker whose lease was taken over cannot overwrite the new owner's outcome.

Arrival order is the sequence's (app/store/events.py): two deliveries stored by batches in
flight at once have no order between them, and a replayed event keeps its place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import asyncpg

from app.router import EventRow
from app.store import bodies
from app.store.statuses import EventStatus

# Whether the event `{row}` is due: pending and its time come, or processing and its lease gone.
_DUE = """
CASE {row}.status WHEN 'pending' THEN {row}.run_after <= now() ELSE {row}.locked_until < now() END
"""

# An earlier event whose next attempt is further off than the hold steps aside: it holds no
# later event of its keys back.
_STEPS_ASIDE = "({row}.status = 'pending' AND {row}.run_after > now() + make_interval(secs => $3))"

# Whether no event sharing a key holds `{row}` back, for a row the walk did not reach: per key,
# the first unfinished event sharing it that arrived before this one (integration_event_keys,
# in arrival order) and does not step aside.
_FIRST_IN_LINE = """
NOT EXISTS (
    SELECT FROM unnest({row}.serial_keys) AS k (key), LATERAL (
        SELECT FROM integration_event_keys o JOIN integration_events b ON b.id = o.event_id
        WHERE o.key = k.key AND o.arrival < {row}.arrival AND NOT {steps_aside}
        ORDER BY o.key, o.arrival LIMIT 1) AS blocker)
"""


def _claimable(row: str) -> str:
    first = _FIRST_IN_LINE.format(row=row, steps_aside=_STEPS_ASIDE.format(row="b"))
    return f"({_DUE.format(row=row)} AND {first})"


# Neither the walk nor the look-up asks whether an event sharing a key is running: a later event
# of a key can be running only when an earlier one stepped aside (or was replayed), and the
# key's advisory lock, which every event's transaction takes, keeps the two apart (app/worker.py
# defers the one claimed second and runs it once the lock is free). Asking cost a key's first
# event a step per queued event of its key, every claim.
CLAIM = f"""
-- The queue's rows one by one in arrival order, each found by one step into the queue index and
-- judged as it is passed: the walk stops once it has its batch ($2), whatever the statistics say
-- of the queue's size (a plan of its own choosing read and checked every queued row before
-- sorting them), or after $5 rows. It starts before the first row, so every step is alike.
-- Having passed every unfinished event before a row, it knows their keys (held): the row is
-- held back when it shares one, with no look-up.
WITH RECURSIVE walk AS (
    SELECT NULL::uuid AS id, (-9223372036854775807 - 1)::bigint AS arrival, NULL::int AS attempts,
           0 AS n, 0 AS found, false AS ok, '{{}}'::text[] AS held
    UNION ALL
    SELECT e.id, e.arrival, e.attempts, w.n + 1, w.found + d.ok::int, d.ok,
           CASE WHEN {_STEPS_ASIDE.format(row="e")} OR e.serial_keys <@ w.held THEN w.held
                ELSE w.held || e.serial_keys END
    FROM walk w,
    LATERAL (
        SELECT e.id, e.arrival, e.attempts, e.status, e.run_after, e.locked_until, e.serial_keys
        FROM integration_events e
        WHERE e.status IN ('pending', 'processing') AND e.arrival > w.arrival
        ORDER BY e.arrival LIMIT 1) AS e,
    -- OFFSET 0: judged once, not once for each use of ok below.
    LATERAL (SELECT {_DUE.format(row="e")} AND NOT (e.serial_keys && w.held) AS ok OFFSET 0) AS d
    WHERE w.found < $2 AND w.n < $5
),
walked AS (SELECT id, attempts, arrival FROM walk WHERE ok),
-- Each key's first unfinished event, one index step per key (in key order, at most $5 keys):
-- read only when the walk stopped at $5 rows short of a batch, i.e. the queue's head is the
-- queues of a few keys (one pull request sent thousands of times), in flight or held back.
heads AS (
    (SELECT k.key, k.event_id, 1 AS n FROM integration_event_keys k
     ORDER BY k.key, k.arrival, k.event_id LIMIT 1)
    UNION ALL
    SELECT s.key, s.event_id, h.n + 1 FROM heads h, LATERAL (
        SELECT k.key, k.event_id FROM integration_event_keys k WHERE k.key > h.key
        ORDER BY k.key, k.arrival, k.event_id LIMIT 1) AS s
    WHERE h.n < $5
),
-- The first $2 due events with no key, in arrival order from an index of their own: read only
-- when the walk stopped at $5 rows short of a batch, as heads are; no key holds them. Due is
-- judged in the scan, so those in flight or waiting for a retry never hide a due one (the scan
-- passes them: a few batches' worth, bar an outage's backoffs).
loose AS (
    SELECT e.id, e.attempts, e.arrival
    FROM integration_events e
    WHERE e.status IN ('pending', 'processing') AND e.serial_keys = '{{}}'
      AND (SELECT max(n) FROM walk) >= $5 AND (SELECT count(*) FROM walked) < $2
      AND {_DUE.format(row="e")}
    ORDER BY e.arrival LIMIT $2
),
found AS (
    SELECT id, attempts, arrival FROM walked
    UNION
    SELECT id, attempts, arrival FROM loose
    UNION
    SELECT e.id, e.attempts, e.arrival
    FROM (SELECT DISTINCT event_id FROM heads) AS h,
    -- Each found by its id (OFFSET 0: not joined to a scan of the whole queue).
    LATERAL (
        SELECT e.id, e.arrival, e.attempts, e.status, e.run_after, e.locked_until, e.serial_keys
        FROM integration_events e
        WHERE e.id = h.event_id AND e.status IN ('pending', 'processing') OFFSET 0) AS e
    WHERE (SELECT max(n) FROM walk) >= $5 AND (SELECT count(*) FROM walked) < $2
      AND {_claimable("e")}
),
due AS (SELECT id, attempts FROM found ORDER BY arrival LIMIT $2),
-- Locked, or skipped when another transaction holds the row; taken only if still as the walk
-- saw it (a claim that committed meanwhile changed its attempts).
next AS (
    SELECT e.id, e.arrival, octet_length(e.body) AS size
    FROM due JOIN integration_events e ON e.id = due.id
    -- Said without the queue index's predicate: the rows are found by id.
    WHERE e.attempts = due.attempts
      AND CASE e.status WHEN 'pending' THEN e.run_after <= now()
                        WHEN 'processing' THEN e.locked_until < now() ELSE false END
    FOR UPDATE OF e SKIP LOCKED
),
-- The batch's bodies are in memory together: it ends before the one that would pass $4 bytes
-- as stored (compressed), the first always taken. The rest stay due.
fits AS (
    SELECT id FROM (SELECT id, size, sum(size) OVER (ORDER BY arrival) AS upto FROM next) n
    WHERE upto - size < $4
)
UPDATE integration_events AS e
SET status = 'processing',
    attempts = e.attempts + 1,
    locked_until = now() + make_interval(secs => $1)
FROM fits
WHERE e.id = fits.id
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
RETURNING true
"""

MAX_ERROR_LENGTH = 4000

# Seconds: an earlier event of a pull request whose retry is due later than this no longer
# holds the pull request's later events back (see above).
HOLD_BACK = 60.0

# Bytes of stored bodies one claim takes at most. Deflated (app/store/bodies.py), a 25 KB
# pull_request is ~3.4 KB, so a batch of them is far below; a large delivery (a 25 MB push is
# a few MB deflated, and many times that decoded) is claimed alone, as before batches.
BATCH_BYTES = 2 * 1024 * 1024

# Rows a claim walks at most in arrival order (and keys it reads at most after that). In flight
# and held back, the queue's head is passed row by row (~5-15 us each): one pull request sent
# thousands of times made every claim pass all of its events to find none due (89 ms a claim
# with ~7,000 queued, issue 18). Past this many rows the claim reads each key's first event
# instead, so a claim costs at most this many steps of each kind. A backlog of many pull
# requests passes in-flight batches and what they hold back, a few hundred rows at the default
# concurrency, before the walk finds its batch. The keys come in key order, not arrival order:
# that only decides which pull requests go first while one is that deep. Events with no serial
# key are read apart then, from an index of their own (migration 0015), however deep the head.
WALK = 512

# Held by an event's transaction for each of its serial keys (app/worker.serial_keys); an
# execution takes its pull request's key to read the state no event of it is changing.
LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"
# All of an event's keys in one round trip, in the order given (sorted: no deadlock).
LOCK_ALL = """
SELECT pg_advisory_xact_lock(hashtextextended(key, 0))
FROM unnest($1::text[]) WITH ORDINALITY AS k (key, n) ORDER BY n
"""
# Each of these keys taken now unless another transaction holds it: the ones another holds.
TRY_LOCK_ALL = """
SELECT key FROM unnest($1::text[]) WITH ORDINALITY AS k (key, n)
WHERE NOT pg_try_advisory_xact_lock(hashtextextended(key, 0)) ORDER BY n
"""


@dataclass(frozen=True)
class Claimed:
    row: EventRow
    body: bytes = field(repr=False)


async def claim_many(
    conn: asyncpg.Connection, *, lease: float, limit: int, walk: int = WALK
) -> list[Claimed]:
    """Up to `limit` due events (and BATCH_BYTES of stored bodies), none sharing a serial key
    with another, in arrival order, each leased for `lease` seconds with its attempt counted.
    The queue is walked `walk` rows at most, then by its keys' first events (see WALK)."""
    records = await conn.fetch(CLAIM, lease, limit, HOLD_BACK, BATCH_BYTES, walk)
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


# The batch's rows this attempt still holds, locked until the batch commits. A row another
# transaction holds (a worker that took it over, a redelivery being stored) is skipped, never
# waited for: the caller handles it alone.
OWN = """
SELECT e.id FROM integration_events e
JOIN unnest($1::uuid[], $2::int[]) AS c (id, attempts) ON e.id = c.id AND e.attempts = c.attempts
WHERE e.status = 'processing'
FOR UPDATE OF e SKIP LOCKED
"""

# OWN, then each of those rows' keys ($3, each of the row $4) taken for the transaction without
# waiting (so their order does not matter), in one round trip: the rows locked (id) and the keys
# another transaction holds (key).
# The keys are given, not read from serial_keys: an event stored before there were stored keys
# has its keys worked out from its payload.
OWN_AND_LOCK = f"""
WITH mine AS ({OWN}),
busy AS (
    SELECT key FROM (
        SELECT DISTINCT k.key FROM unnest($3::text[], $4::uuid[]) AS k (key, id)
        JOIN mine ON mine.id = k.id
    ) keys
    WHERE NOT pg_try_advisory_xact_lock(hashtextextended(key, 0))
)
SELECT id, NULL::text AS key FROM mine
UNION ALL
SELECT NULL, key FROM busy
"""

FINISH_MANY = """
UPDATE integration_events AS e
SET status = c.status, processed_at = now(), locked_until = NULL
FROM unnest($1::uuid[], $2::text[]) AS c (id, status)
WHERE e.id = c.id AND e.status = 'processing'
"""


async def own_and_lock(
    conn: asyncpg.Connection, rows: Sequence[tuple[EventRow, Sequence[str]]]
) -> tuple[set[UUID], set[str]]:
    """For (row, its serial keys) pairs, in one statement: the ids of the rows still held by
    their attempt, each now locked until the transaction ends; and of those rows' keys, each now
    held (advisory lock, without waiting) by this transaction unless another holds it, the ones
    another holds (an execution reading its pull request, a lease taken over). An id missing
    was taken over by another worker after its lease expired, or its row is locked by another
    transaction right now; the keys of such a row are not taken."""
    ids = [row.id for row, _ in rows]
    attempts = [row.attempts for row, _ in rows]
    keys = [key for _, row_keys in rows for key in row_keys]
    of = [row.id for row, row_keys in rows for _ in row_keys]
    owned: set[UUID] = set()
    busy: set[str] = set()
    for record in await conn.fetch(OWN_AND_LOCK, ids, attempts, keys, of):
        if record["key"] is None:
            owned.add(record["id"])
        else:
            busy.add(record["key"])
    return owned, busy


async def finish_many(
    conn: asyncpg.Connection, outcomes: Sequence[tuple[EventRow, EventStatus]]
) -> int:
    """Mark each (row, 'completed' | 'ignored') in one statement; how many were marked. The
    caller holds the rows (own_and_lock()), so every one it names is still its own."""
    if not outcomes:
        return 0
    done = await conn.execute(
        FINISH_MANY, [row.id for row, _ in outcomes], [status for _, status in outcomes]
    )
    return int(done.split()[-1])


async def finish(conn: asyncpg.Connection, row: EventRow, status: EventStatus) -> bool:
    """Mark completed or ignored; False when the lease was lost to another worker."""
    result = await conn.execute(FINISH, row.id, row.attempts, status)
    return result == "UPDATE 1"


async def retry(
    conn: asyncpg.Connection, row: EventRow, error: str, *, max_attempts: int, delay: float
) -> str | None:
    """Schedule another attempt, or dead-letter after the last; returns the new status, or
    None when the row is not ours any more (its lease lapsed and another worker took it)."""
    found: str | None = await conn.fetchval(
        RETRY, row.id, row.attempts, error[:MAX_ERROR_LENGTH], max_attempts, delay
    )
    return found


async def release(conn: asyncpg.Connection, row: EventRow, *, at: datetime | None = None) -> bool:
    """Give the attempt back: pending again from `at` (now if None). False when the row is
    not ours any more (its lease lapsed and another worker took it)."""
    released: bool | None = await conn.fetchval(RELEASE, row.id, row.attempts, at)
    return bool(released)
