"""The status enums are the database's: every value its CHECK constraints allow, no other."""

from __future__ import annotations

import re

import asyncpg

from app.store.statuses import EventStatus, ExecutionStatus

CHECKS = """
SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
WHERE c.conrelid = $1::regclass AND c.contype = 'c' AND pg_get_constraintdef(c.oid) LIKE '%status%'
"""


async def allowed(db: asyncpg.Connection, table: str) -> set[str]:
    [definition] = [row[0] for row in await db.fetch(CHECKS, table)]
    return set(re.findall(r"'([a-z_]+)'::", definition))


async def test_event_statuses_are_integration_events_check(db: asyncpg.Connection) -> None:
    assert await allowed(db, "integration_events") == {str(s) for s in EventStatus}


async def test_execution_statuses_are_workflow_executions_check(db: asyncpg.Connection) -> None:
    assert await allowed(db, "workflow_executions") == {str(s) for s in ExecutionStatus}
