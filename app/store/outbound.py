"""Queries on `outbound_actions`: every side effect on GitHub or Linear, once per key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

# attempts counts the tries that may have reached the remote; a sent action is not tried again.
CLAIM = """
INSERT INTO outbound_actions (kind, idempotency_key, event_id, target, request, attempts)
VALUES ($1, $2, $3, $4, $5::jsonb, 1)
ON CONFLICT (kind, idempotency_key) DO UPDATE
SET attempts = outbound_actions.attempts + (outbound_actions.status <> 'sent')::int
RETURNING status, remote_id, attempts
"""
MARK_SENT = """
UPDATE outbound_actions
SET status = 'sent', remote_id = $3, request = $4::jsonb, sent_at = now(), last_error = NULL
WHERE kind = $1 AND idempotency_key = $2
"""
MARK_FAILED = """
UPDATE outbound_actions SET status = 'failed', last_error = $3
WHERE kind = $1 AND idempotency_key = $2 AND status <> 'sent'
"""


@dataclass(frozen=True)
class Claimed:
    status: str
    remote_id: str | None
    attempts: int


async def claim(
    conn: asyncpg.Connection,
    kind: str,
    key: str,
    *,
    event_id: uuid.UUID | None,
    target: str,
    request: Any,
) -> Claimed:
    row = await conn.fetchrow(CLAIM, kind, key, event_id, target, request)
    assert row is not None  # the upsert returns its row, new or not
    return Claimed(row["status"], row["remote_id"], row["attempts"])


async def mark_sent(
    conn: asyncpg.Connection, kind: str, key: str, remote_id: str, request: Any
) -> None:
    await conn.execute(MARK_SENT, kind, key, remote_id, request)


async def mark_failed(conn: asyncpg.Connection, kind: str, key: str, error: str) -> None:
    await conn.execute(MARK_FAILED, kind, key, error[:4000])
