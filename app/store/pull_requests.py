"""Queries on `pull_requests`; the database writes `pr_state_history` on every state change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.store import check_runs, repositories
from app.store.repositories import Repository
from app.store.rows import values

# Never move backwards: a payload applies only when its updated_at is newer than the stored one;
# on a tie of those one-second times a merge wins (GitHub never reopens a merged PR), then
# anything over an `opened` (a PR's first payload: one arriving after another of its second,
# say a close or a label, is the older of the two, as GitHub does not deliver in order), then
# the payload that arrived later (`last_arrival`, integration_events.arrival): closed then
# reopened in one second ends open. The IS DISTINCT FROM guard makes a replay a no-op: no
# updated_at bump, no history row.
COLUMNS = """
    github_id, repository_id, pr_number, state, draft, title, body, author,
    head_branch, head_sha, head_repo_full_name, base_branch, base_sha, url, is_fork,
    github_created_at, github_updated_at, closed_at, merged_at, last_trigger, last_delivery_id,
    metadata, last_arrival
"""
ON_CONFLICT = """
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
       EXCLUDED.last_trigger <> 'opened', COALESCE(EXCLUDED.last_arrival, 0))
   >= (COALESCE(p.github_updated_at, '-infinity'), p.state = 'merged',
       p.last_trigger <> 'opened', COALESCE(p.last_arrival, 0))
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
"""

# $1 the repository's id, $2.. the PullRequest's fields in order.
UPSERT = f"""
INSERT INTO pull_requests AS p ({COLUMNS}) VALUES (
    $2, $1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
    $21, $22::jsonb, $23
)
{ON_CONFLICT}
RETURNING id
"""

# A pull_request event in one statement: the repository's id when its row says all the payload says
# or is newer ($1-$11, repositories.CURRENT; no row: nothing is written), the PR upserted ($12.. the
# PullRequest's fields), and the check runs of the payload's head commit ($20) that arrived before
# the PR linked to it (check_runs.LINK_ORPHANS). Every part reads the snapshot the statement began
# with: the PR's id comes from the upsert's RETURNING, else (not applied) from `before`, which also
# holds the text its links were read from until now.
RECORD = f"""
WITH repo AS ({repositories.CURRENT}),
before AS (SELECT id, head_branch, title, body FROM pull_requests WHERE github_id = $12::bigint),
written AS (
    INSERT INTO pull_requests AS p ({COLUMNS})
    SELECT $12::bigint, repo.id, $13, $14, $15, $16, $17, $18, $19, $20::text, $21, $22, $23,
           $24, $25, $26, $27, $28, $29, $30, $31, $32::jsonb, $33
    FROM repo
    {ON_CONFLICT}
    RETURNING id, head_branch, title, body
),
pull AS (
    SELECT id FROM written
    UNION ALL
    SELECT id FROM before WHERE NOT EXISTS (SELECT FROM written)
),
orphans AS (
    UPDATE check_runs SET pr_id = (SELECT id FROM pull)
    WHERE repository_id = (SELECT id FROM repo) AND head_sha = $20::text AND pr_id IS NULL
      AND EXISTS (SELECT FROM pull)
    RETURNING id
)
SELECT (SELECT id FROM repo) AS repository_id, (SELECT id FROM pull) AS pull_request_id,
       (SELECT count(*) FROM orphans) AS orphans,
       EXISTS (SELECT FROM written) AND NOT EXISTS (SELECT FROM before) AS created,
       EXISTS (
           SELECT FROM written w LEFT JOIN before b ON true
           WHERE b.id IS NULL
              OR (w.head_branch, w.title, w.body) IS DISTINCT FROM (b.head_branch, b.title, b.body)
       ) AS text_changed
"""

ID_BY_GITHUB_ID = "SELECT id FROM pull_requests WHERE github_id = $1"


@dataclass(frozen=True)
class PullRequest:
    """One pull_request payload, in the columns of `pull_requests` (field order = UPSERT's and
    RECORD's parameters); its repository is given apart."""

    github_id: int
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


async def upsert(conn: asyncpg.Connection, repository_id: UUID, pull_request: PullRequest) -> UUID:
    """Insert or advance the PR of the repository `repository_id`; its id. A payload older than
    the stored row changes nothing."""
    # The pool's codec writes `metadata` as jsonb.
    applied: UUID | None = await conn.fetchval(UPSERT, repository_id, *values(pull_request))
    if applied is not None:
        return applied
    found: UUID = await conn.fetchval(ID_BY_GITHUB_ID, pull_request.github_id)
    return found


@dataclass(frozen=True)
class Written:
    """What record() wrote: the PR's id; whether this write created the PR or changed its head
    branch, title or body (the text its Linear links are read from), and whether it created the
    PR (so it has no links yet). None: not known."""

    pull_request_id: UUID
    text_changed: bool | None
    created: bool | None = None


async def record(
    conn: asyncpg.Connection, repository: Repository, pull_request: PullRequest
) -> Written | None:
    """A pull_request event's state in one statement (RECORD): the PR upserted as upsert()
    does, then the check runs of its head commit that came first linked to it as
    check_runs.link_orphans() does (its last_checked_at then follows, a second statement).
    None, with nothing written, when the repository's row does not say all `repository` says
    (or there is none): the caller stores the repository, then calls again."""
    row = await conn.fetchrow(RECORD, *repository.args(), *values(pull_request))
    assert row is not None  # a SELECT without FROM: always one row
    return await _recorded(conn, row, pull_request)


async def record_many(
    conn: asyncpg.Connection, items: Sequence[tuple[Repository, PullRequest]]
) -> list[Written | None]:
    """record() for each (repository, pull request), in order, its RECORD statements sent
    in one round trip (fetchmany): each runs as it would alone. Raises what a statement
    raised, the transaction then aborted."""
    if not items:
        return []
    rows = await conn.fetchmany(
        RECORD, [(*repository.args(), *values(pull)) for repository, pull in items]
    )
    # A SELECT without FROM: one row each.
    assert len(rows) == len(items)
    return [await _recorded(conn, row, pull) for row, (_, pull) in zip(rows, items, strict=True)]


async def _recorded(
    conn: asyncpg.Connection, row: asyncpg.Record, pull_request: PullRequest
) -> Written | None:
    """What record() answers, from the row its RECORD statement returned."""
    if row["repository_id"] is None:
        return None
    pull_request_id: UUID | None = row["pull_request_id"]
    if pull_request_id is None:
        # The insert met a row committed after the statement's snapshot, and did not apply.
        found: UUID = await conn.fetchval(ID_BY_GITHUB_ID, pull_request.github_id)
        if pull_request.head_sha is not None:
            await check_runs.link_orphans(
                conn,
                pull_request_id=found,
                repository_id=row["repository_id"],
                head_sha=pull_request.head_sha,
            )
        return Written(found, None, None)
    if row["orphans"]:
        await check_runs.checked(conn, pull_request_id)
    return Written(pull_request_id, row["text_changed"], row["created"])


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
