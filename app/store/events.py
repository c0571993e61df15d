"""Queries on `integration_events`: every webhook delivery, stored raw."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import asyncpg

from app.deliveries import Delivery

INSERT = """
INSERT INTO integration_events
    (integration_id, source, hook_id, delivery_id, event_type, action, headers, body, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::jsonb)
ON CONFLICT (source, hook_id, delivery_id) DO NOTHING
RETURNING id
"""

# A separate statement from INSERT on purpose: under READ COMMITTED it takes a fresh snapshot,
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


def _jsonb_text(text: str) -> str | None:
    # jsonb cannot hold U+0000; the raw body keeps such a payload whole and workers parse that.
    return None if "\\u0000" in text else text


async def store(conn: asyncpg.Connection, integration_id: int, delivery: Delivery) -> Stored:
    """Insert a delivery once; a repeat of the same delivery returns the stored row."""
    new_id = await conn.fetchval(
        INSERT,
        integration_id,
        delivery.source,
        delivery.hook_id,
        delivery.delivery_id,
        delivery.event_type,
        delivery.action,
        json.dumps(delivery.headers),
        delivery.body,
        _jsonb_text(delivery.text),
    )
    if new_id is not None:
        return Stored(new_id, duplicate=False)
    existing = await conn.fetchval(
        REQUEUE_DUPLICATE, delivery.source, delivery.hook_id, delivery.delivery_id
    )
    return Stored(existing, duplicate=True)
