"""Queries on `analysis_results` and `fix_attempts`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

from app.store.pool import Queries
from app.store.rows import one, values

CHECK_RUN = """
SELECT c.id, c.pr_id, p.github_id AS pr_github_id, p.pr_number, p.head_sha, p.head_branch,
       p.base_branch, p.is_fork, p.repository_id
FROM check_runs c JOIN pull_requests p ON p.id = c.pr_id
WHERE c.github_id = $1
"""

# An analysis of the same failure on the same commit: another job of a matrix, a rerun.
SAME_FAILURE = """
SELECT a.id FROM analysis_results a JOIN check_runs c ON c.id = a.check_run_id
WHERE a.pull_request_id = $1 AND a.failure_signature = $2 AND c.head_sha = $3
  AND a.status IN ('completed', 'skipped') AND a.check_run_id <> $4
LIMIT 1
"""

FORGET_FIXES = "DELETE FROM fix_attempts WHERE execution_id = $1"
FORGET_ANALYSES = "DELETE FROM analysis_results WHERE execution_id = $1"

INSERT = """
INSERT INTO analysis_results
    (check_run_id, pull_request_id, failure_signature, category, confidence_score, root_cause,
     recommended_action, patch, is_preexisting, model, input_tokens, output_tokens, cost_usd,
     status, error, execution_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13, $14, $15, $16)
RETURNING id
"""

LATEST = """
SELECT id, patch FROM analysis_results WHERE check_run_id = $1 AND status = 'completed'
ORDER BY created_at DESC LIMIT 1
"""

ATTEMPTS = "SELECT count(*) FROM fix_attempts WHERE pull_request_id = $1 AND status <> 'skipped'"

# Recorded once the attempt is over, unless still pending: completed now.
INSERT_FIX = """
INSERT INTO fix_attempts
    (analysis_result_id, pull_request_id, check_run_id, fix_strategy, status, attempt_number,
     commit_sha, review_id, error_message, execution_id, retry_count, started_at, completed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
        CASE WHEN $5 <> 'pending' THEN now() END)
RETURNING id
"""

# Where the analysis read a check run's log from.
LOGS_URL = "UPDATE check_runs SET logs_url = $2 WHERE id = $1 AND logs_url IS DISTINCT FROM $2"


@dataclass(frozen=True)
class Analysis:
    check_run_id: UUID
    pull_request_id: UUID | None
    failure_signature: str | None
    category: str | None = None
    confidence_score: float | None = None
    root_cause: str | None = None
    recommended_action: str | None = None
    patch: Any = None
    is_preexisting: bool | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    status: str = "completed"
    error: str | None = None
    execution_id: UUID | None = None


@dataclass(frozen=True)
class FixAttempt:
    analysis_result_id: UUID
    pull_request_id: UUID
    check_run_id: UUID
    fix_strategy: str  # 'suggest' | 'commit'
    status: str
    attempt_number: int
    commit_sha: str | None = None
    review_id: int | None = None
    error_message: str | None = None
    execution_id: UUID | None = None
    # How often the execution making the attempt was retried before (its attempts - 1).
    retry_count: int = 0
    started_at: datetime | None = None


@dataclass(frozen=True)
class StoredCheckRun:
    """A stored check run (`id`) and the stored pull request it belongs to."""

    id: UUID
    pr_id: UUID
    pr_github_id: int
    pr_number: int
    head_sha: str | None
    head_branch: str | None
    base_branch: str | None
    is_fork: bool
    repository_id: UUID


class Latest(NamedTuple):
    """The latest completed analysis of a check run: its id and patch (a list of edits)."""

    id: UUID
    patch: Any


async def check_run(conn: Queries, github_id: int) -> StoredCheckRun | None:
    """The stored check run with this GitHub id and its pull request; None when either is not
    stored (a run of no pull request, or one not seen yet)."""
    return one(StoredCheckRun, await conn.fetchrow(CHECK_RUN, github_id))


async def forget_execution(conn: Queries, execution_id: UUID) -> None:
    """Delete what an earlier attempt of this execution recorded, fix attempts first."""
    await conn.execute(FORGET_FIXES, execution_id)
    await conn.execute(FORGET_ANALYSES, execution_id)


async def same_failure(
    conn: Queries,
    pull_request_id: UUID,
    signature: str,
    head_sha: str,
    check_run_id: UUID,
) -> UUID | None:
    found: UUID | None = await conn.fetchval(
        SAME_FAILURE, pull_request_id, signature, head_sha, check_run_id
    )
    return found


async def record(conn: Queries, analysis: Analysis) -> UUID:
    # The pool's codec writes `patch` (a list of edits) as jsonb.
    recorded: UUID = await conn.fetchval(INSERT, *values(analysis))
    return recorded


async def latest(conn: Queries, check_run_id: UUID) -> Latest | None:
    return one(Latest, await conn.fetchrow(LATEST, check_run_id))


async def fix_attempts(conn: Queries, pull_request_id: UUID) -> int:
    return int(await conn.fetchval(ATTEMPTS, pull_request_id))


async def record_fix(conn: Queries, attempt: FixAttempt) -> UUID:
    recorded: UUID = await conn.fetchval(INSERT_FIX, *values(attempt))
    return recorded


async def set_logs_url(conn: Queries, check_run_id: UUID, url: str) -> None:
    """The check run's logs_url: where its log was read from."""
    await conn.execute(LOGS_URL, check_run_id, url[:500])
