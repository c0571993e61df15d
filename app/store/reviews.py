"""Queries on `reviews` (one per PR head commit) and the model spend they share with analyses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

from app.store.pool import Queries
from app.store.rows import one

PR_BY_GITHUB_ID = "SELECT id, repository_id FROM pull_requests WHERE github_id = $1"

# A review is recorded when the model's answer is paid for (pending: its tokens and cost, which
# the daily budget counts whatever GitHub says next) and once it is over (posted, failed or
# skipped: completed now). Tokens and cost add up; a review asked for again (a new attempt)
# keeps when the first one started.
RECORD = """
INSERT INTO reviews (pr_id, head_sha, github_review_id, status, feedback, comments,
                     model, input_tokens, output_tokens, cost_usd, error, reviewer_type,
                     decision, started_at, completed_at)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14,
        CASE WHEN $4 = 'pending' THEN NULL ELSE now() END)
ON CONFLICT (pr_id, head_sha) DO UPDATE
SET github_review_id = EXCLUDED.github_review_id, status = EXCLUDED.status,
    feedback = EXCLUDED.feedback, comments = EXCLUDED.comments,
    model = coalesce(EXCLUDED.model, reviews.model),
    input_tokens = reviews.input_tokens + EXCLUDED.input_tokens,
    output_tokens = reviews.output_tokens + EXCLUDED.output_tokens,
    cost_usd = reviews.cost_usd + EXCLUDED.cost_usd, error = EXCLUDED.error,
    reviewer_type = EXCLUDED.reviewer_type, decision = EXCLUDED.decision,
    started_at = coalesce(reviews.started_at, EXCLUDED.started_at),
    completed_at = EXCLUDED.completed_at
"""

STATUS = "SELECT status FROM reviews WHERE pr_id = $1 AND head_sha = $2"

LAST_POSTED = """
SELECT head_sha FROM reviews WHERE pr_id = $1 AND status = 'posted'
ORDER BY created_at DESC LIMIT 1
"""

# Every model call of the repository today, reviews and analyses alike.
TOKENS_TODAY = """
SELECT coalesce(sum(input_tokens + output_tokens), 0) FROM (
    SELECT r.input_tokens, r.output_tokens FROM reviews r
    JOIN pull_requests p ON p.id = r.pr_id
    WHERE p.repository_id = $1 AND r.updated_at >= date_trunc('day', now())
    UNION ALL
    SELECT a.input_tokens, a.output_tokens FROM analysis_results a
    JOIN check_runs c ON c.id = a.check_run_id
    WHERE c.repository_id = $1 AND a.created_at >= date_trunc('day', now())
) spent
"""


@dataclass(frozen=True)
class Review:
    pull_request_id: UUID
    head_sha: str
    status: str
    github_review_id: int | None = None
    # seed 002's feedback: the review's summary.
    feedback: str | None = None
    comments: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    error: str | None = None
    # seed 002's: who reviewed ('ai': the model), and what the review said to GitHub.
    reviewer_type: str = "ai"
    decision: str | None = None
    started_at: datetime | None = None


class StoredPull(NamedTuple):
    id: UUID
    repository_id: UUID


async def pull_request(conn: Queries, github_id: int) -> StoredPull | None:
    return one(StoredPull, await conn.fetchrow(PR_BY_GITHUB_ID, github_id))


async def record(conn: Queries, review: Review) -> None:
    await conn.execute(
        RECORD,
        review.pull_request_id,
        review.head_sha,
        review.github_review_id,
        review.status,
        review.feedback,
        review.comments,
        review.model,
        review.input_tokens,
        review.output_tokens,
        review.cost_usd,
        review.error,
        review.reviewer_type,
        review.decision,
        review.started_at,
    )


async def status(conn: Queries, pull_request_id: UUID, head_sha: str) -> str | None:
    found: str | None = await conn.fetchval(STATUS, pull_request_id, head_sha)
    return found


async def last_posted_sha(conn: Queries, pull_request_id: UUID) -> str | None:
    found: str | None = await conn.fetchval(LAST_POSTED, pull_request_id)
    return found


async def tokens_today(conn: Queries, repository_id: UUID) -> int:
    return int(await conn.fetchval(TOKENS_TODAY, repository_id))
