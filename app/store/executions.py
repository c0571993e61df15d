"""Queries on `workflow_executions` and `execution_logs`: the reactions' queue.

Started inside an event's transaction (INSERT … ON CONFLICT DO NOTHING on execution_id, so a
redelivered or replayed event never starts a second); claimed like events, FOR UPDATE SKIP
LOCKED with a lease and attempts, but run outside any transaction. One subject's (one pull
request's) executions run one at a time, in the order they were started: a claim takes only
the first due one of a subject none of whose executions runs. A rescheduled or retried
execution waits with run_after in the future and so blocks none behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.deliveries import InvalidPayload, payload_of
from app.store import bodies
from app.store.pool import Queries
from app.store.rows import many
from app.store.statuses import ExecutionStatus

MAX_ERROR_LENGTH = 4000

START = """
INSERT INTO workflow_executions
    (workflow_id, execution_id, trigger_type, trigger_data, subject, subject_label, event_id,
     pull_request_id, installation_id)
SELECT w.id, $2, $3, $4::jsonb, $5, $6, $7, $8, $9 FROM workflows w WHERE w.name = $1
ON CONFLICT (execution_id) DO NOTHING
RETURNING id
"""

CLAIM = """
WITH next AS (
    SELECT e.id FROM workflow_executions e
    WHERE e.status IN ('pending', 'running')
      AND CASE e.status WHEN 'pending' THEN e.run_after <= now() ELSE e.locked_until < now() END
      AND NOT EXISTS (
          SELECT 1 FROM workflow_executions r
          WHERE r.subject = e.subject AND r.id <> e.id AND r.status = 'running'
            AND r.locked_until >= now())
      AND NOT EXISTS (
          SELECT 1 FROM workflow_executions o
          WHERE o.subject = e.subject AND o.seq < e.seq
            AND CASE o.status WHEN 'pending' THEN o.run_after <= now()
                              WHEN 'running' THEN o.locked_until < now() ELSE false END)
    ORDER BY e.seq
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE workflow_executions AS e
SET status = 'running',
    attempts = e.attempts + 1,
    locked_until = now() + make_interval(secs => $1)
FROM next, workflows w
WHERE e.id = next.id AND w.id = e.workflow_id
RETURNING e.id, w.name AS workflow, e.execution_id, e.subject, e.subject_label, e.event_id,
          e.pull_request_id, e.installation_id, e.attempts, e.trigger_data, e.started_at,
          -- No trigger_data: the payload is the event's, read from its stored body.
          (SELECT i.body_encoding FROM integration_events i
           WHERE e.trigger_data IS NULL AND i.id = e.event_id) AS event_body_encoding,
          (SELECT i.body FROM integration_events i
           WHERE e.trigger_data IS NULL AND i.id = e.event_id) AS event_body
"""

RENEW = """
UPDATE workflow_executions SET locked_until = now() + make_interval(secs => $3)
WHERE id = $1 AND attempts = $2 AND status = 'running'
"""

FINISH = """
UPDATE workflow_executions
SET status = $3, completed_at = greatest(now(), started_at), locked_until = NULL,
    result = $4::jsonb, error_message = $5
WHERE id = $1 AND attempts = $2 AND status = 'running'
"""

RETRY = """
UPDATE workflow_executions
SET status = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'pending' END,
    completed_at = CASE WHEN attempts >= $4 THEN greatest(now(), started_at) END,
    run_after = now() + make_interval(secs => $5),
    retry_count = retry_count + 1,
    locked_until = NULL,
    error_message = $3
WHERE id = $1 AND attempts = $2 AND status = 'running'
RETURNING status
"""

# A rate limit or a shutdown: not the execution's fault, so the attempt is given back.
RELEASE = """
UPDATE workflow_executions
SET status = 'pending', attempts = greatest(attempts - 1, 0),
    run_after = greatest(now(), coalesce($3, now())), locked_until = NULL,
    error_message = coalesce($4, error_message)
WHERE id = $1 AND attempts = $2 AND status = 'running'
RETURNING true
"""

LOG = """
INSERT INTO execution_logs (execution_id, level, message, metadata, step_name)
VALUES ($1, $2, $3, $4::jsonb, $5)
"""

LIST = """
SELECT e.id, w.name AS workflow, e.execution_id, e.status, e.subject_label, e.attempts,
       e.started_at, e.completed_at, e.run_after, e.error_message
FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id
WHERE ($1::text IS NULL OR e.status = $1) AND ($2::text IS NULL OR e.subject_label = $2)
ORDER BY e.seq DESC
LIMIT $3
"""

OF_PULL = """
SELECT e.id, w.name AS workflow, e.status, e.attempts, e.started_at, e.completed_at,
       e.error_message, e.result,
       coalesce((SELECT json_agg(json_build_object(
                    'level', l.level, 'step', l.step_name, 'message', l.message,
                    'at', l.created_at) ORDER BY l.created_at, l.id)
                 FROM execution_logs l WHERE l.execution_id = e.id), '[]') AS logs
FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id
WHERE e.pull_request_id = $1
ORDER BY e.seq
"""

# Only a finished one: a pending one is queued already (replaying it would zero the attempts a
# retry counts towards its last and skip the time a rate limit asked for), and a running one
# belongs to its worker. Finished rows no worker changes, so the guard alone decides.
# Its line in the execution's log ($2, who asked) is written by the same statement, as a
# cancel's is: the log then says why it ran again.
REPLAY = """
WITH done AS (
    UPDATE workflow_executions
    SET status = 'pending', run_after = now(), locked_until = NULL, attempts = 0,
        completed_at = NULL, error_message = NULL, result = NULL
    WHERE id = $1 AND status IN ('completed', 'failed', 'skipped', 'cancelled', 'timeout')
    RETURNING id
),
logged AS (
    INSERT INTO execution_logs (execution_id, level, message, step_name)
    SELECT id, 'INFO', $2, 'replay' FROM done
)
SELECT id FROM done
"""

# An operator's cancel: a pending execution, or a running one whose lease has expired (its worker
# stopped answering; the next claim would take it over and run it again from the start). Only in
# this one statement, so a worker's claim or renewal (each updates the row under its lock) and a
# cancel never both win: one that waits on either re-checks the row as it committed, and a live
# lease or running status keeps it. Its line in the execution's log is written by the same
# statement, so neither is ever seen without the other.
CANCEL = """
WITH done AS (
    UPDATE workflow_executions
    SET status = 'cancelled', completed_at = greatest(now(), started_at), locked_until = NULL,
        error_message = CASE status WHEN 'running' THEN $3 ELSE $2 END
    WHERE id = $1 AND (status = 'pending' OR (status = 'running' AND locked_until < now()))
    RETURNING id, workflow_id, subject_label, error_message
),
logged AS (
    INSERT INTO execution_logs (execution_id, level, message, step_name)
    SELECT id, 'INFO', error_message, 'cancel' FROM done
)
SELECT w.name AS workflow, done.subject_label, done.error_message = $3 AS abandoned
FROM done JOIN workflows w ON w.id = done.workflow_id
"""

STATUS = "SELECT status FROM workflow_executions WHERE id = $1"

# Running with its lease expired: its worker stopped answering.
STANDING = """
SELECT status, status = 'running' AND locked_until < now() AS lapsed
FROM workflow_executions WHERE id = $1
"""

BY_WORKFLOW = """
SELECT w.name AS workflow, e.status, count(*) AS n
FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id
GROUP BY 1, 2
"""

PRUNABLE = """
SELECT count(*) FROM workflow_executions
WHERE status IN ('completed', 'failed', 'timeout', 'cancelled', 'skipped') AND completed_at < $1
"""

OLD_LOGS = (
    "SELECT count(*) FROM execution_logs WHERE created_at < now() - make_interval(days => $1)"
)

PRUNE = """
WITH gone AS (
    DELETE FROM workflow_executions
    WHERE status IN ('completed', 'failed', 'timeout', 'cancelled', 'skipped') AND completed_at < $1
    RETURNING 1
)
SELECT count(*) FROM gone
"""


ENSURE = """
INSERT INTO workflows (name, description, config, created_by)
SELECT name, description, '{"builtin": true}', 'hookwise'
FROM unnest($1::text[], $2::text[]) AS w (name, description)
ON CONFLICT (name) DO NOTHING
"""


async def ensure_workflows(conn: asyncpg.Connection, described: dict[str, str]) -> None:
    """The built-in workflows, by name and description, present (migration 0005 adds them;
    an emptied table gets them back)."""
    await conn.execute(ENSURE, list(described), list(described.values()))


@dataclass(frozen=True)
class Start:
    """One reaction to start: its workflow, the key that makes it run once, what it is about."""

    workflow: str
    key: str
    subject: str
    subject_label: str
    trigger_type: str = "event"
    # What the execution works from (trigger_data). None with an event_id: the event's own
    # payload, read from its stored body when the execution is claimed, never copied (a 25 KB
    # pull_request turned into jsonb inside the event's transaction for every review).
    payload: Any = None
    event_id: UUID | None = None
    pull_request_id: UUID | None = None
    installation_id: int | None = None


@dataclass(frozen=True)
class Execution:
    """A claimed execution: what a reaction gets of its row."""

    id: UUID
    workflow: str
    execution_id: str
    subject: str
    subject_label: str | None
    event_id: UUID | None
    pull_request_id: UUID | None
    installation_id: int | None
    attempts: int
    started_at: datetime
    trigger_data: Any = field(default=None, repr=False)
    # Why its event's stored body cannot be read (then trigger_data is None): a body nested
    # deeper than ingest now takes, stored by an earlier release. The runner fails it with this.
    unreadable: str | None = None


async def start(conn: asyncpg.Connection, wanted: Start) -> UUID | None:
    """Insert the execution unless its key ran (or waits) already; its id, or None."""
    found: UUID | None = await conn.fetchval(
        START,
        wanted.workflow,
        wanted.key[:255],
        wanted.trigger_type,
        wanted.payload,
        wanted.subject,
        wanted.subject_label,
        wanted.event_id,
        wanted.pull_request_id,
        wanted.installation_id,
    )
    return found


async def claim(conn: asyncpg.Connection, *, lease: float) -> Execution | None:
    """The next due execution, leased for `lease` seconds, or None. Its trigger_data is the
    stored one, else its event's payload (None when that event was deleted since, or when its
    body cannot be read: `unreadable` says why)."""
    record = await conn.fetchrow(CLAIM, lease)
    if record is None:
        return None
    found = dict(record)
    encoding, body = found.pop("event_body_encoding"), found.pop("event_body")
    if found["trigger_data"] is None and body is not None:
        # Raised here, it would stop the worker's claims, and again each time the lease ran out.
        try:
            found["trigger_data"] = payload_of(bodies.unpack(encoding, body))
        except InvalidPayload as exc:
            found["unreadable"] = exc.reason
    return Execution(**found)


async def renew(conn: asyncpg.Connection, execution: Execution, *, lease: float) -> bool:
    """Extend the lease; False when another worker has taken the execution over."""
    return await conn.execute(RENEW, execution.id, execution.attempts, lease) == "UPDATE 1"


async def finish(
    conn: Queries,
    execution: Execution,
    status: ExecutionStatus,
    *,
    result: Any = None,
    error: str | None = None,
) -> bool:
    """completed, failed or cancelled; False when the lease was lost."""
    done = await conn.execute(
        FINISH,
        execution.id,
        execution.attempts,
        status,
        result,
        error[:MAX_ERROR_LENGTH] if error else None,
    )
    return done == "UPDATE 1"


async def retry(
    conn: Queries, execution: Execution, error: str, *, max_attempts: int, delay: float
) -> str | None:
    """Another attempt in `delay` seconds, or failed after the last; the new status, or None
    when the row is not ours any more (its lease lapsed and another worker took it)."""
    found: str | None = await conn.fetchval(
        RETRY, execution.id, execution.attempts, error[:MAX_ERROR_LENGTH], max_attempts, delay
    )
    return found


async def release(
    conn: Queries,
    execution: Execution,
    *,
    at: datetime | None = None,
    reason: str | None = None,
) -> bool:
    """Give the attempt back: pending again from `at` (now if None), `reason` as its error.
    False when the row is not ours any more (its lease lapsed and another worker took it)."""
    released: bool | None = await conn.fetchval(
        RELEASE, execution.id, execution.attempts, at, reason
    )
    return bool(released)


async def log(
    conn: Queries,
    execution_id: UUID,
    level: str,
    message: str,
    *,
    step: str | None = None,
    metadata: Any = None,
) -> None:
    await conn.execute(
        LOG,
        execution_id,
        level,
        message,
        metadata,
        step,
    )


@dataclass(frozen=True)
class Listed:
    """An execution as `hookwise executions` lists it."""

    id: UUID
    workflow: str
    execution_id: str
    status: str
    subject_label: str | None
    attempts: int
    started_at: datetime
    completed_at: datetime | None
    run_after: datetime | None
    error_message: str | None


@dataclass(frozen=True)
class OfPull:
    """An execution of a pull request, with its logs: [{level, step, message, at}]."""

    id: UUID
    workflow: str
    status: str
    attempts: int
    started_at: datetime
    completed_at: datetime | None
    error_message: str | None
    result: Any
    logs: Any


async def listed(
    conn: asyncpg.Connection,
    *,
    status: ExecutionStatus | None,
    pull: str | None,
    limit: int = 100,
) -> list[Listed]:
    return many(Listed, await conn.fetch(LIST, status, pull, limit))


async def of_pull_request(conn: asyncpg.Connection, pull_request_id: UUID) -> list[OfPull]:
    return many(OfPull, await conn.fetch(OF_PULL, pull_request_id))


@dataclass(frozen=True)
class Replay:
    """What replay did: `replayed`; else `status`, the one that kept it (pending or running),
    None for no execution of that id."""

    replayed: bool
    status: str | None = None


async def replay(conn: asyncpg.Connection, execution_id: UUID, *, reason: str) -> Replay:
    """Put a finished execution (completed, failed, skipped, cancelled, timeout) back in the
    queue, due now with its attempts at 0, with `reason` as a line in its log. Never a pending
    or running one."""
    if await conn.fetchval(REPLAY, execution_id, reason[:MAX_ERROR_LENGTH]) is not None:
        return Replay(True)
    return Replay(False, status=await conn.fetchval(STATUS, execution_id))


@dataclass(frozen=True)
class Cancel:
    """What cancel did: `cancelled`, with the execution's workflow and subject_label, and
    `abandoned` when it was running with its lease expired (its worker had stopped answering);
    else `status`, the one that kept it (running, or an end; `abandoned` when it was running
    with an expired lease each time it was tried), None for no execution of that id."""

    cancelled: bool
    status: str | None = None
    workflow: str | None = None
    subject_label: str | None = None
    abandoned: bool = False


# A cancel that lost to a change and then finds the execution pending again (a worker claimed
# it and gave it straight back: a rate limit) tries again, this many times in all.
CANCEL_TRIES = 3


async def cancel(conn: asyncpg.Connection, execution_id: UUID, *, reason: str) -> Cancel:
    """Cancel a pending execution (due now or later), or a running one whose lease has expired
    (its worker stopped answering), with `reason` as its error_message and a line in its log
    (for an expired one, saying so). Never one a live worker holds: what it does may be half
    done."""
    reason = reason[:MAX_ERROR_LENGTH]
    abandoned = f"{reason}: its worker had stopped answering (its lease expired)"[:MAX_ERROR_LENGTH]
    status: str | None = None
    lapsed = False
    for _ in range(CANCEL_TRIES):
        done = await conn.fetchrow(CANCEL, execution_id, reason, abandoned)
        if done is not None:
            return Cancel(
                True,
                workflow=done["workflow"],
                subject_label=done["subject_label"],
                abandoned=done["abandoned"],
            )
        # Read after the cancel: a claim or renewal it waited for has committed, so this is
        # what won. Pending again, or a lease that lapsed since the cancel's now(): try again.
        standing = await conn.fetchrow(STANDING, execution_id)
        if standing is None:
            return Cancel(False)
        status, lapsed = standing["status"], standing["lapsed"]
        if status != ExecutionStatus.PENDING and not lapsed:
            break
    return Cancel(False, status=status, abandoned=lapsed)


async def by_workflow(conn: asyncpg.Connection) -> dict[str, dict[str, int]]:
    """Executions by workflow, then by status."""
    found: dict[str, dict[str, int]] = {}
    for row in await conn.fetch(BY_WORKFLOW):
        found.setdefault(row["workflow"], {})[row["status"]] = row["n"]
    return found


async def prunable(conn: asyncpg.Connection, before: datetime) -> int:
    return int(await conn.fetchval(PRUNABLE, before))


async def old_logs(conn: asyncpg.Connection, days: int) -> int:
    return int(await conn.fetchval(OLD_LOGS, days))


async def prune(conn: asyncpg.Connection, before: datetime, *, days: int) -> tuple[int, int]:
    """Delete executions finished before `before` (their logs go with them), and logs older than
    `days` (seed 001's cleanup_old_execution_logs()); the two counts."""
    executions = int(await conn.fetchval(PRUNE, before))
    logs = int(await conn.fetchval("SELECT cleanup_old_execution_logs($1)", days))
    return executions, logs
