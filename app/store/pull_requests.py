"""Queries on `pull_requests`; the database writes `pr_state_history` on every state change."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from datetime import datetime

import asyncpg

# Never move backwards: a payload applies only when its updated_at is newer than the stored one,
# or equal and its state at least as far along (open < closed < merged). That is a total order
# on payloads, so any delivery order ends in the same row. The IS DISTINCT FROM guard makes a
# replay a no-op: no updated_at bump, no history row.
UPSERT = """
INSERT INTO pull_requests AS p (
    github_id, repository_id, number, state, draft, title, body, author_login,
    head_ref, head_sha, head_repo_full_name, base_ref, base_sha, html_url, is_fork,
    github_created_at, github_updated_at, closed_at, merged_at, last_trigger, last_delivery_id,
    last_arrival
) VALUES (
    $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
    $22
)
ON CONFLICT (github_id) DO UPDATE SET
    repository_id = EXCLUDED.repository_id,
    number = EXCLUDED.number,
    state = EXCLUDED.state,
    draft = EXCLUDED.draft,
    title = EXCLUDED.title,
    body = EXCLUDED.body,
    author_login = EXCLUDED.author_login,
    head_ref = EXCLUDED.head_ref,
    head_sha = EXCLUDED.head_sha,
    head_repo_full_name = EXCLUDED.head_repo_full_name,
    base_ref = EXCLUDED.base_ref,
    base_sha = EXCLUDED.base_sha,
    html_url = EXCLUDED.html_url,
    is_fork = EXCLUDED.is_fork,
    github_created_at = EXCLUDED.github_created_at,
    github_updated_at = EXCLUDED.github_updated_at,
    closed_at = EXCLUDED.closed_at,
    merged_at = EXCLUDED.merged_at,
    last_trigger = EXCLUDED.last_trigger,
    last_delivery_id = EXCLUDED.last_delivery_id,
    last_arrival = EXCLUDED.last_arrival
WHERE (COALESCE(EXCLUDED.github_updated_at, '-infinity'), EXCLUDED.state = 'merged',
       COALESCE(EXCLUDED.last_arrival, 0))
   >= (COALESCE(p.github_updated_at, '-infinity'), p.state = 'merged',
       COALESCE(p.last_arrival, 0))
  AND (p.repository_id, p.number, p.state, p.draft, p.title, p.body, p.author_login,
       p.head_ref, p.head_sha, p.head_repo_full_name, p.base_ref, p.base_sha, p.html_url,
       p.is_fork, p.github_created_at, p.github_updated_at, p.closed_at, p.merged_at,
       p.last_trigger, p.last_delivery_id)
      IS DISTINCT FROM
      (EXCLUDED.repository_id, EXCLUDED.number, EXCLUDED.state, EXCLUDED.draft, EXCLUDED.title,
       EXCLUDED.body, EXCLUDED.author_login, EXCLUDED.head_ref, EXCLUDED.head_sha,
       EXCLUDED.head_repo_full_name, EXCLUDED.base_ref, EXCLUDED.base_sha, EXCLUDED.html_url,
       EXCLUDED.is_fork, EXCLUDED.github_created_at, EXCLUDED.github_updated_at,
       EXCLUDED.closed_at, EXCLUDED.merged_at, EXCLUDED.last_trigger, EXCLUDED.last_delivery_id)
RETURNING id
"""

ID_BY_GITHUB_ID = "SELECT id FROM pull_requests WHERE github_id = $1"


@dataclass(frozen=True)
class PullRequest:
    """One pull_request payload, in the columns of `pull_requests` (field order = UPSERT's)."""

    github_id: int
    repository_id: int
    number: int
    state: str
    draft: bool
    title: str | None
    body: str | None
    author_login: str | None
    head_ref: str | None
    head_sha: str | None
    head_repo_full_name: str | None
    base_ref: str | None
    base_sha: str | None
    html_url: str | None
    is_fork: bool
    github_created_at: datetime | None
    github_updated_at: datetime | None
    closed_at: datetime | None
    merged_at: datetime | None
    # A trigger_event value: what caused this write, copied into the history row.
    last_trigger: str
    last_delivery_id: str | None
    # integration_events.arrival of the event that carried it: settles a tie of updated_at.
    last_arrival: int | None = None


async def upsert(conn: asyncpg.Connection, pull_request: PullRequest) -> int:
    """Insert or advance the PR; a payload older than the stored row changes nothing."""
    applied: int | None = await conn.fetchval(UPSERT, *astuple(pull_request))
    if applied is not None:
        return applied
    return int(await conn.fetchval(ID_BY_GITHUB_ID, pull_request.github_id))


STAMPS = """
SELECT github_id, github_updated_at, state::text AS state FROM pull_requests
WHERE github_id = ANY($1::bigint[])
"""

OPEN_NUMBERS = """
SELECT number FROM pull_requests WHERE repository_id = $1 AND state = 'open' ORDER BY number
"""


async def stamps(
    conn: asyncpg.Connection, github_ids: list[int]
) -> dict[int, tuple[datetime | None, str]]:
    """(updated_at, state) as stored, by GitHub id: what a poll compares before writing."""
    rows = await conn.fetch(STAMPS, github_ids)
    return {r["github_id"]: (r["github_updated_at"], r["state"]) for r in rows}


async def open_numbers(conn: asyncpg.Connection, repository_id: int) -> list[int]:
    """Numbers of the repository's PRs stored as open."""
    return [r["number"] for r in await conn.fetch(OPEN_NUMBERS, repository_id)]
