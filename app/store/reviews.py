"""Queries on `reviews` (one per PR head commit) and the model spend they share with analyses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg

PR_BY_GITHUB_ID = "SELECT id, repository_id FROM pull_requests WHERE github_id = $1"

RECORD = """
INSERT INTO reviews (pull_request_id, head_sha, github_review_id, status, summary, comments,
                     model, input_tokens, output_tokens, cost_usd, error)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11)
ON CONFLICT (pull_request_id, head_sha) DO UPDATE
SET github_review_id = EXCLUDED.github_review_id, status = EXCLUDED.status,
    summary = EXCLUDED.summary, comments = EXCLUDED.comments, model = EXCLUDED.model,
    input_tokens = reviews.input_tokens + EXCLUDED.input_tokens,
    output_tokens = reviews.output_tokens + EXCLUDED.output_tokens,
    cost_usd = reviews.cost_usd + EXCLUDED.cost_usd, error = EXCLUDED.error
"""

STATUS = "SELECT status FROM reviews WHERE pull_request_id = $1 AND head_sha = $2"

LAST_POSTED = """
SELECT head_sha FROM reviews WHERE pull_request_id = $1 AND status = 'posted'
ORDER BY created_at DESC LIMIT 1
"""

# Every model call of the repository today, reviews and analyses alike.
TOKENS_TODAY = """
SELECT coalesce(sum(input_tokens + output_tokens), 0) FROM (
    SELECT r.input_tokens, r.output_tokens FROM reviews r
    JOIN pull_requests p ON p.id = r.pull_request_id
    WHERE p.repository_id = $1 AND r.updated_at >= date_trunc('day', now())
    UNION ALL
    SELECT a.input_tokens, a.output_tokens FROM analysis_results a
    JOIN check_runs c ON c.id = a.check_run_id
    WHERE c.repository_id = $1 AND a.created_at >= date_trunc('day', now())
) spent
"""


@dataclass(frozen=True)
class Review:
    pull_request_id: int
    head_sha: str
    status: str
    github_review_id: int | None = None
    summary: str | None = None
    comments: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    error: str | None = None


async def pull_request(conn: asyncpg.Connection, github_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(PR_BY_GITHUB_ID, github_id)


async def record(conn: asyncpg.Connection, review: Review) -> None:
    await conn.execute(
        RECORD,
        review.pull_request_id,
        review.head_sha,
        review.github_review_id,
        review.status,
        review.summary,
        json.dumps(review.comments),
        review.model,
        review.input_tokens,
        review.output_tokens,
        review.cost_usd,
        review.error,
    )


async def status(conn: asyncpg.Connection, pull_request_id: int, head_sha: str) -> str | None:
    return await conn.fetchval(STATUS, pull_request_id, head_sha)


async def last_posted_sha(conn: asyncpg.Connection, pull_request_id: int) -> str | None:
    return await conn.fetchval(LAST_POSTED, pull_request_id)


async def tokens_today(conn: asyncpg.Connection, repository_id: int) -> int:
    return int(await conn.fetchval(TOKENS_TODAY, repository_id))
