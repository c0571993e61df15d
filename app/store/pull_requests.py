"""Queries on `pull_requests`; the database writes `pr_state_history` on every state change."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

# Never move backwards: a payload applies only when its updated_at is newer than the stored one;
# on a tie of those one-second times a merge wins (GitHub never reopens a merged PR), then the
# payload that arrived later (`last_arrival`, integration_events.arrival): closed then reopened
# in one second ends open. The IS DISTINCT FROM guard makes a replay a no-op: no updated_at bump,
# no history row.
UPSERT = """
INSERT INTO pull_requests AS p (
    github_id, repository_id, pr_number, state, draft, title, body, author,
    head_branch, head_sha, head_repo_full_name, base_branch, base_sha, url, is_fork,
    github_created_at, github_updated_at, closed_at, merged_at, last_trigger, last_delivery_id,
    metadata, last_arrival
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
    $22::jsonb, $23
)
ON CONFLICT (github_id) DO UPDATE SET
    repository_id = EXCLUDED.repository_id,
    pr_number = EXCLUDED.pr_number,
    state = EXCLUDED.state,
    draft = EXCLUDED.draft,
    title = EXCLUDED.title,
    body = EXCLUDED.body,
    author = EXCLUDED.author,
    head_branch = EXCLUDED.head_branch,
    head_sha = EXCLUDED.head_sha,
    head_repo_full_name = EXCLUDED.head_repo_full_name,
    base_branch = EXCLUDED.base_branch,
    base_sha = EXCLUDED.base_sha,
    url = EXCLUDED.url,
    is_fork = EXCLUDED.is_fork,
    github_created_at = EXCLUDED.github_created_at,
    github_updated_at = EXCLUDED.github_updated_at,
    closed_at = EXCLUDED.closed_at,
    merged_at = EXCLUDED.merged_at,
    last_trigger = EXCLUDED.last_trigger,
    last_delivery_id = EXCLUDED.last_delivery_id,
    metadata = EXCLUDED.metadata,
    last_arrival = EXCLUDED.last_arrival
WHERE (COALESCE(EXCLUDED.github_updated_at, '-infinity'), EXCLUDED.state = 'merged',
       COALESCE(EXCLUDED.last_arrival, 0))
   >= (COALESCE(p.github_updated_at, '-infinity'), p.state = 'merged',
       COALESCE(p.last_arrival, 0))
  AND (p.repository_id, p.pr_number, p.state, p.draft, p.title, p.body, p.author,
       p.head_branch, p.head_sha, p.head_repo_full_name, p.base_branch, p.base_sha, p.url,
       p.is_fork, p.github_created_at, p.github_updated_at, p.closed_at, p.merged_at,
       p.last_trigger, p.last_delivery_id, p.metadata)
      IS DISTINCT FROM
      (EXCLUDED.repository_id, EXCLUDED.pr_number, EXCLUDED.state, EXCLUDED.draft,
       EXCLUDED.title, EXCLUDED.body, EXCLUDED.author, EXCLUDED.head_branch, EXCLUDED.head_sha,
       EXCLUDED.head_repo_full_name, EXCLUDED.base_branch, EXCLUDED.base_sha, EXCLUDED.url,
       EXCLUDED.is_fork, EXCLUDED.github_created_at, EXCLUDED.github_updated_at,
       EXCLUDED.closed_at, EXCLUDED.merged_at, EXCLUDED.last_trigger, EXCLUDED.last_delivery_id,
       EXCLUDED.metadata)
RETURNING id
"""

ID_BY_GITHUB_ID = "SELECT id FROM pull_requests WHERE github_id = $1"


@dataclass(frozen=True)
class PullRequest:
    """One pull_request payload, in the columns of `pull_requests` (field order = UPSERT's)."""

    github_id: int
    repository_id: UUID
    pr_number: int
    state: str
    draft: bool
    title: str | None
    body: str | None
    author: str | None
    head_branch: str | None
    head_sha: str | None
    head_repo_full_name: str | None
    base_branch: str | None
    base_sha: str | None
    url: str | None
    is_fork: bool
    github_created_at: datetime | None
    github_updated_at: datetime | None
    closed_at: datetime | None
    merged_at: datetime | None
    # A trigger_event value: what caused this write, copied into the history row.
    last_trigger: str
    last_delivery_id: str | None
    # The `metadata` column: {"labels": [...]}.
    metadata: dict[str, Any] | None = None
    # integration_events.arrival of the event that carried it: settles a tie of updated_at.
    last_arrival: int | None = None


async def upsert(conn: asyncpg.Connection, pull_request: PullRequest) -> UUID:
    """Insert or advance the PR; a payload older than the stored row changes nothing."""
    # The pool's codec writes `metadata` as jsonb.
    applied: UUID | None = await conn.fetchval(UPSERT, *astuple(pull_request))
    if applied is not None:
        return applied
    found: UUID = await conn.fetchval(ID_BY_GITHUB_ID, pull_request.github_id)
    return found


STAMPS = """
SELECT github_id, github_updated_at, state::text AS state FROM pull_requests
WHERE github_id = ANY($1::bigint[])
"""

OPEN_NUMBERS = """
SELECT pr_number FROM pull_requests WHERE repository_id = $1 AND state = 'opened'
ORDER BY pr_number
"""


async def stamps(
    conn: asyncpg.Connection, github_ids: list[int]
) -> dict[int, tuple[datetime | None, str]]:
    """(updated_at, state) as stored, by GitHub id: what a poll compares before writing."""
    rows = await conn.fetch(STAMPS, github_ids)
    return {r["github_id"]: (r["github_updated_at"], r["state"]) for r in rows}


async def open_numbers(conn: asyncpg.Connection, repository_id: UUID) -> list[int]:
    """Numbers of the repository's PRs stored as open."""
    return [r["pr_number"] for r in await conn.fetch(OPEN_NUMBERS, repository_id)]
