"""What /admin shows of workflows: seed 001's views `workflow_performance_stats` and
`recent_workflow_activity` (migration 0005), the declared workflows with their files'
problems, and one execution with its execution_logs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from app.store.rows import many, one

PERFORMANCE = """
SELECT workflow_name, total_executions, successful_executions, failed_executions,
       avg_duration_seconds, last_execution_at
FROM workflow_performance_stats
ORDER BY last_execution_at DESC NULLS LAST, workflow_name
"""

# The view has the execution's key, not its row id: joined back for a link to its logs.
RECENT = """
SELECT a.workflow_name, a.status, a.started_at, a.completed_at, a.duration_seconds,
       a.retry_count, a.trigger_type, e.id, e.subject_label, e.error_message
FROM recent_workflow_activity a JOIN workflow_executions e ON e.execution_id = a.execution_id
ORDER BY a.started_at DESC, e.seq DESC
LIMIT $1
"""

# hookwise's own workflows first (their definitions are stored as a declared one's), then
# those the hookwise.yml files declare.
DECLARED = """
SELECT w.name, w.declared_name, w.scope, w.status, w.config ->> 'file' AS file,
       w.config ->> 'switch' AS switch,
       (w.config ->> 'line')::int AS line, w.config -> 'problems' AS problems,
       (SELECT string_agg(t.trigger_type || coalesce(':' || (t.conditions ->> 'event'), '')
                          || coalesce(' ' || (t.conditions ->> 'cron'), ''), ', '
                          ORDER BY t.trigger_type)
        FROM workflow_triggers t WHERE t.workflow_id = w.id) AS triggers,
       (SELECT string_agg(a.action_name, ' → ' ORDER BY a.order_index)
        FROM workflow_actions a WHERE a.workflow_id = w.id) AS steps
FROM workflows w
WHERE (w.scope IS NOT NULL OR w.config ? 'definition') AND w.status <> 'archived'
ORDER BY w.scope IS NOT NULL, w.name
"""

SOURCES = """
SELECT scope, full_name, path, problems, synced_at FROM workflow_sources
WHERE jsonb_array_length(problems) > 0
ORDER BY full_name
"""

EXECUTION = """
SELECT e.id, w.name AS workflow, e.execution_id, e.status, e.trigger_type, e.subject_label,
       e.pull_request_id, e.attempts, e.started_at, e.completed_at, e.run_after,
       e.error_message, e.result, e.locked_until,
       coalesce(e.status = 'running' AND e.locked_until < now(), false) AS lapsed
FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id
WHERE e.id = $1
"""

LOGS = """
SELECT level, step_name, message, metadata, created_at FROM execution_logs
WHERE execution_id = $1 ORDER BY created_at, id
"""

# The manual workflows a pull request's page offers to run.
MANUAL = """
SELECT DISTINCT ON (w.declared_name) w.declared_name, w.name
FROM workflows w JOIN workflow_triggers t ON t.workflow_id = w.id
WHERE w.scope = ANY($1::text[]) AND w.status = 'active' AND t.trigger_type = 'manual'
ORDER BY w.declared_name, (w.scope LIKE 'repo:%') DESC
"""


@dataclass(frozen=True)
class Performance:
    """A line of `workflow_performance_stats`; duration in seconds."""

    workflow_name: str
    total_executions: int
    successful_executions: int
    failed_executions: int
    avg_duration_seconds: Decimal | None
    last_execution_at: datetime | None


@dataclass(frozen=True)
class Recent:
    """A line of `recent_workflow_activity`, with its execution's row `id`."""

    workflow_name: str
    status: str
    started_at: datetime | None
    completed_at: datetime | None
    duration_seconds: Decimal | None
    retry_count: int
    trigger_type: str | None
    id: UUID
    subject_label: str | None
    error_message: str | None


@dataclass(frozen=True)
class Declared:
    """A workflow declared in a file: where (`file`, `line`), its problems, its triggers and
    steps as one line each."""

    name: str
    declared_name: str | None
    # None for hookwise's own (app/workflows/builtins.py).
    scope: str | None
    status: str
    file: str | None
    # The repository setting that turns a built-in off (review, fix), if any.
    switch: str | None
    line: int | None
    problems: Any
    triggers: str | None
    steps: str | None


@dataclass(frozen=True)
class SourceProblems:
    """A workflow file that could not be read whole: its problems (a JSON list)."""

    scope: str
    full_name: str
    path: str
    problems: Any
    synced_at: datetime


@dataclass(frozen=True)
class ExecutionView:
    id: UUID
    workflow: str
    execution_id: str
    status: str
    trigger_type: str | None
    subject_label: str | None
    pull_request_id: UUID | None
    attempts: int
    started_at: datetime | None
    completed_at: datetime | None
    # When a pending one is due (a rate limit's or a retry's time); meaningless once it ran.
    run_after: datetime
    error_message: str | None
    result: Any
    # Until when its worker holds a running one.
    locked_until: datetime | None
    # Running, but its lease expired: its worker stopped answering, the next claim takes it over.
    lapsed: bool


@dataclass(frozen=True)
class LogLine:
    level: str
    step_name: str | None
    message: str
    metadata: Any
    created_at: datetime | None


@dataclass(frozen=True)
class Manual:
    """A manual workflow: the name it is declared by, and its row's name."""

    declared_name: str
    name: str


@dataclass(frozen=True)
class PullTarget:
    """A pull request's repository (GitHub id, owner/name) and its number."""

    github_id: int
    full_name: str
    pr_number: int


async def performance(conn: asyncpg.Connection) -> list[Performance]:
    return many(Performance, await conn.fetch(PERFORMANCE))


async def recent(conn: asyncpg.Connection, *, limit: int = 100) -> list[Recent]:
    return many(Recent, await conn.fetch(RECENT, limit))


async def declared_workflows(conn: asyncpg.Connection) -> list[Declared]:
    return many(Declared, await conn.fetch(DECLARED))


async def source_problems(conn: asyncpg.Connection) -> list[SourceProblems]:
    return many(SourceProblems, await conn.fetch(SOURCES))


async def execution(conn: asyncpg.Connection, execution_id: UUID) -> ExecutionView | None:
    return one(ExecutionView, await conn.fetchrow(EXECUTION, execution_id))


async def logs(conn: asyncpg.Connection, execution_id: UUID) -> list[LogLine]:
    return many(LogLine, await conn.fetch(LOGS, execution_id))


async def manual_for(conn: asyncpg.Connection, scopes: list[str]) -> list[Manual]:
    return many(Manual, await conn.fetch(MANUAL, scopes))


SCOPES_OF_PULL = """
SELECT r.github_id, r.full_name, p.pr_number
FROM pull_requests p JOIN repositories r ON r.id = p.repository_id WHERE p.id = $1
"""


async def pull_target(conn: asyncpg.Connection, pull_id: UUID) -> PullTarget | None:
    """The pull request's repository (GitHub id, full name) and pr_number."""
    return one(PullTarget, await conn.fetchrow(SCOPES_OF_PULL, pull_id))
