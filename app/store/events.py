"""Queries on `integration_events`: every webhook delivery, stored raw."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
import msgspec

from app.deliveries import Delivery
from app.serial import serial_keys
from app.store import bodies
from app.store.pool import JsonText, Queries
from app.store.rows import many
from app.store.statuses import EventStatus

# A separate statement from INSERT_MANY on purpose: under READ COMMITTED it takes a fresh snapshot,
# so it sees the row a concurrent copy of this delivery committed while our INSERT waited.
# A redelivery of a dead-lettered event puts it back in the queue with a fresh attempt budget.
REQUEUE_DUPLICATE = """
WITH requeued AS (
    UPDATE integration_events
    SET status = 'pending', attempts = 0, run_after = now(), locked_until = NULL
    WHERE source = $1 AND hook_id = $2 AND delivery_id = $3 AND status = 'failed'
    RETURNING id
)
SELECT id FROM requeued
UNION ALL
SELECT id FROM integration_events
WHERE source = $1 AND hook_id = $2 AND delivery_id = $3 AND NOT EXISTS (SELECT FROM requeued)
"""


@dataclass(frozen=True)
class Stored:
    id: uuid.UUID
    duplicate: bool


# Two parameters for a whole batch: the rows' fields as one JSON array, and every body in one
# bytea that each row cuts its own slice from. asyncpg encodes arrays element by element in
# Python's time (a bytea[] of ten 3 KB bodies cost ~50 µs, the same bytes as one bytea ~3 µs),
# and the ingest path has no time to spare. `body_at` is an int4 offset, so a batch's bodies stay
# well under 2 GB (MAX_BATCH_BYTES, app/store/group_commit.py).
#
# Arrival order: the batch takes one value of integration_events_arrival_seq, whose increment is
# ARRIVAL_BLOCK, and each row adds its place in the order the deliveries arrived (`place`); the
# rows themselves go in key order (see store_many).
INSERT_MANY = """
WITH block AS (SELECT nextval('integration_events_arrival_seq') AS first)
INSERT INTO integration_events
    (integration_id, source, hook_id, delivery_id, event_type, action, headers, body_encoding,
     body, serial_keys, arrival)
SELECT r.integration_id, r.source, r.hook_id, r.delivery_id, r.event_type, r.action, r.headers,
       r.body_encoding, substring($2::bytea FROM r.body_at + 1 FOR r.body_size), r.serial_keys,
       block.first + r.place
FROM block, json_to_recordset($1::json) AS r(integration_id bigint, source text, hook_id text,
     delivery_id text, event_type text, action text, headers jsonb, body_encoding text,
     body_at int, body_size int, serial_keys text[], place int)
ON CONFLICT (source, hook_id, delivery_id) DO NOTHING
RETURNING id, source, hook_id, delivery_id
"""
# The sequence's increment (db/migrations/0007_arrival_order.sql): a batch holds at most this many.
ARRIVAL_BLOCK = 1024

Key = tuple[str, str, str]


class Incoming(NamedTuple):
    """A delivery on its way in: which integration, what it is, and its body as it is kept."""

    integration_id: int
    delivery: Delivery
    body: bodies.Packed


async def incoming(integration_id: int, delivery: Delivery) -> Incoming:
    return Incoming(integration_id, delivery, await bodies.pack_async(delivery.body))


def _key(delivery: Delivery) -> Key:
    return (delivery.source, delivery.hook_id, delivery.delivery_id)


class _Row(msgspec.Struct):
    integration_id: int
    source: str
    hook_id: str
    delivery_id: str
    event_type: str
    action: str | None
    headers: dict[str, str]
    body_encoding: str
    body_at: int
    body_size: int
    serial_keys: list[str]
    place: int


def _parameters(rows: list[tuple[int, Incoming]]) -> tuple[str, bytes]:
    """`rows`: (place in arrival order, delivery)."""
    fields, at = [], 0
    for place, (integration_id, d, body) in rows:
        size = len(body.data)
        fields.append(
            _Row(
                integration_id,
                d.source,
                d.hook_id,
                d.delivery_id,
                d.event_type,
                d.action,
                d.headers,
                body.encoding,
                at,
                size,
                d.serial_keys,
                place,
            )
        )
        at += size
    text = JsonText(msgspec.json.encode(fields).decode())
    return text, b"".join(r.body.data for _, r in rows)


async def store_many(conn: asyncpg.Connection, deliveries: list[Incoming]) -> list[Stored]:
    """Insert a batch in one statement (one commit); each delivery learns its own row's fate.

    The first copy of a delivery in the batch is the one inserted; later copies, and deliveries
    stored before, are duplicates of the stored row. `deliveries` are in the order they arrived,
    which the rows' `arrival` keeps (at most ARRIVAL_BLOCK of them).
    """
    if len(deliveries) > ARRIVAL_BLOCK:
        raise ValueError(f"a batch holds at most {ARRIVAL_BLOCK} deliveries")
    first: dict[Key, tuple[int, Incoming]] = {}
    for place, new in enumerate(deliveries):
        first.setdefault(_key(new.delivery), (place, new))
    # Key order: two batches holding the same deliveries (a redelivery racing the original
    # through another server) then wait on each other's rows in one order, never deadlock.
    rows = [first[key] for key in sorted(first)]
    inserted = {
        (r["source"], r["hook_id"], r["delivery_id"]): r["id"]
        for r in await conn.fetch(INSERT_MANY, *_parameters(rows))
    }
    existing: dict[Key, uuid.UUID] = {}
    for key in first.keys() - inserted.keys():
        existing[key] = await conn.fetchval(REQUEUE_DUPLICATE, *key)
    answers, seen = [], set()
    for new in deliveries:
        key = _key(new.delivery)
        if key in inserted and key not in seen:
            answers.append(Stored(inserted[key], duplicate=False))
            seen.add(key)
        else:
            answers.append(Stored(inserted.get(key) or existing[key], duplicate=True))
    return answers


async def store(conn: asyncpg.Connection, integration_id: int, delivery: Delivery) -> Stored:
    """Insert one delivery once; a repeat of the same delivery returns the stored row."""
    [stored] = await store_many(conn, [await incoming(integration_id, delivery)])
    return stored


# Filters shared by replay and its dry run; each is off when its parameter is NULL.
FILTERS = """
    ($1::uuid[] IS NULL OR id = ANY($1))
    AND ($2::text IS NULL OR status = $2)
    AND ($3::text IS NULL OR event_type = $3)
    AND ($4::timestamptz IS NULL OR received_at >= $4)
    AND ($5::timestamptz IS NULL OR received_at < $5)
    AND status <> 'processing'
"""
COLUMNS = "id, source, event_type, action, delivery_id, status, attempts, received_at"
SELECT_FOR_REPLAY = f"SELECT {COLUMNS} FROM integration_events WHERE {FILTERS} ORDER BY received_at"
# The old status comes from the locked snapshot in `target`; the UPDATE returns the new one.
REPLAY = f"""
WITH target AS (
    SELECT id, status FROM integration_events WHERE {FILTERS} FOR UPDATE
)
UPDATE integration_events AS e
SET status = 'pending', attempts = 0, run_after = now(), locked_until = NULL, processed_at = NULL
FROM target
WHERE e.id = target.id
RETURNING e.id, e.source, e.event_type, e.action, e.delivery_id, target.status, e.attempts,
          e.received_at
"""


@dataclass(frozen=True)
class Selection:
    """Which stored events an operator means; None leaves a filter off."""

    ids: list[uuid.UUID] | None = None
    status: EventStatus | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def args(self) -> tuple[object, ...]:
        return (self.ids, self.status, self.event_type, self.since, self.until)


@dataclass(frozen=True)
class Replayed:
    """An event put back in the queue; `status` is the one it had before."""

    id: uuid.UUID
    source: str
    event_type: str
    action: str | None
    delivery_id: str
    status: str
    attempts: int
    received_at: datetime


async def replay(
    conn: asyncpg.Connection, selection: Selection, *, dry_run: bool = False
) -> list[Replayed]:
    """Put the selected events back in the queue (events being processed are left alone)."""
    query = SELECT_FOR_REPLAY if dry_run else REPLAY
    rows = many(Replayed, await conn.fetch(query, *selection.args()))
    return sorted(rows, key=lambda r: r.received_at)


KNOWN = "SELECT id FROM integration_events WHERE id = ANY($1::uuid[])"


async def known(conn: Queries, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these event ids are stored: what a replay by id left alone because it is being
    handled, told apart from an id that names no event."""
    return {r["id"] for r in await conn.fetch(KNOWN, list(ids))}


# Only finished work goes: pending and processing events are still to do, and failed ones are the
# dead letters an operator may replay. A batch at a time, so no one statement holds many row
# locks for long; SKIP LOCKED leaves an event being replayed right now alone.
# Nor an event an unfinished execution still reads its payload from (app/store/executions.py).
PRUNABLE = """status IN ('completed', 'ignored') AND received_at < $1
    AND NOT EXISTS (SELECT FROM workflow_executions x WHERE x.event_id = integration_events.id
                    AND x.status IN ('pending', 'running'))"""
COUNT_PRUNABLE = f"SELECT count(*) FROM integration_events WHERE {PRUNABLE}"
PRUNE_BATCH = f"""
WITH gone AS (
    SELECT id FROM integration_events WHERE {PRUNABLE}
    ORDER BY received_at LIMIT $2
    FOR UPDATE SKIP LOCKED
)
DELETE FROM integration_events AS e USING gone WHERE e.id = gone.id
"""
PRUNE_BATCH_SIZE = 1000


async def prunable(conn: asyncpg.Connection, before: datetime) -> int:
    return int(await conn.fetchval(COUNT_PRUNABLE, before))


async def prune(
    conn: asyncpg.Connection, before: datetime, *, batch: int = PRUNE_BATCH_SIZE
) -> int:
    """Delete completed and ignored events received before `before`; how many went. Their
    failed attempts go with them; outbound_actions keep their record, without the event."""
    total = 0
    while True:
        deleted = int((await conn.execute(PRUNE_BATCH, before, batch)).split()[-1])
        total += deleted
        if deleted < batch:
            return total


COUNTS = "SELECT status, count(*) AS count FROM integration_events GROUP BY status"
OLDEST_PENDING = """
SELECT extract(epoch FROM now() - min(received_at)) FROM integration_events
WHERE status = 'pending'
"""
FAILURES = """
SELECT left(split_part(coalesce(last_error, ''), E'\\n', 1), 120) AS error, count(*) AS count
FROM integration_events WHERE status = 'failed'
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $1
"""


@dataclass(frozen=True)
class QueueStatus:
    counts: dict[str, int]
    oldest_pending_seconds: float | None
    failures: list[tuple[str, int]]


async def queue_status(conn: asyncpg.Connection, *, top_errors: int = 10) -> QueueStatus:
    counts = {r["status"]: r["count"] for r in await conn.fetch(COUNTS)}
    oldest = await conn.fetchval(OLDEST_PENDING)
    failures = [(r["error"], r["count"]) for r in await conn.fetch(FAILURES, top_errors)]
    return QueueStatus(counts, float(oldest) if oldest is not None else None, failures)


STORED_DELIVERIES = """
SELECT DISTINCT delivery_id FROM integration_events
WHERE source = $1 AND delivery_id = ANY($2::text[])
"""


async def stored_deliveries(conn: Queries, source: str, delivery_ids: list[str]) -> set[str]:
    """Which of these delivery ids we hold (any hook)."""
    return {r["delivery_id"] for r in await conn.fetch(STORED_DELIVERIES, source, delivery_ids)}


# Work hookwise gives itself (backfill, reconcile) goes through the same queue as webhooks. GitHub's
# hook ids are numbers and Linear's is '', so this one keeps our delivery ids apart from theirs.
OWN_HOOK_ID = "hookwise"

INSERT_OWN = """
INSERT INTO integration_events
    (integration_id, source, hook_id, delivery_id, event_type, headers, body, payload,
     serial_keys)
VALUES ($1, $2, $3, $4, $5, '{}', $6, $7::jsonb, $8)
ON CONFLICT (source, hook_id, delivery_id) DO NOTHING
RETURNING id
"""

QUEUED_OWN = """
SELECT payload -> 'repository' ->> 'id' AS repository, id FROM integration_events
WHERE status IN ('pending', 'processing') AND hook_id = $1 AND event_type = ANY($2::text[])
"""


async def enqueue_own(
    conn: asyncpg.Connection,
    *,
    integration_id: int,
    source: str,
    delivery_id: str,
    event_type: str,
    payload: Mapping[str, Any],
) -> uuid.UUID | None:
    """Queue an event of hookwise's own making; None when this delivery id is stored already."""
    # The payload column holds the same text as the body.
    text = JsonText(json.dumps(payload))
    new_id: uuid.UUID | None = await conn.fetchval(
        INSERT_OWN,
        integration_id,
        source,
        OWN_HOOK_ID,
        delivery_id,
        event_type,
        text.encode(),
        text,
        serial_keys(source, event_type, payload),
    )
    return new_id


async def queued_own(conn: asyncpg.Connection, event_types: Sequence[str]) -> dict[int, uuid.UUID]:
    """Repositories (GitHub ids) with one of our own events of these types still to run, and
    that event's id."""
    rows = await conn.fetch(QUEUED_OWN, OWN_HOOK_ID, list(event_types))
    return {int(r["repository"]): r["id"] for r in rows if r["repository"] is not None}


WAITING = """
SELECT event_type, count(*) AS count FROM integration_events
WHERE status IN ('pending', 'processing')
GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $1
"""


async def waiting_by_event(conn: asyncpg.Connection, *, top: int = 10) -> list[tuple[str, int]]:
    """Pending and processing events by type: webhooks, and our own backfills and reconciles."""
    return [(r["event_type"], r["count"]) for r in await conn.fetch(WAITING, top)]
