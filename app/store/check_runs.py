"""Queries on `check_runs` and their link to the pull request of their commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.store import repositories
from app.store.repositories import Repository
from app.store.rows import values

# Check runs carry no updated_at. Never move backwards: status rank (queued and the other waiting
# states < in_progress < completed: a run never goes back, a re-run is a new run), then
# completed_at, then started_at, and a tie of those one-second times goes to the payload that
# arrived later (`last_arrival`). The IS DISTINCT FROM guard makes a replay a no-op. The PR
# link is set only when a PR is given (EXCLUDED.pr_id): none found keeps any link made before.
COLUMNS = """
    github_id, repository_id, check_name, head_sha, status, conclusion, app_slug, metadata,
    details_url, html_url, check_suite_id, started_at, completed_at, output_title, output_summary,
    last_arrival, external_id
"""
ON_CONFLICT = """
ON CONFLICT (github_id) DO UPDATE SET
    repository_id = EXCLUDED.repository_id,
    check_name = EXCLUDED.check_name,
    head_sha = EXCLUDED.head_sha,
    status = EXCLUDED.status,
    conclusion = EXCLUDED.conclusion,
    app_slug = EXCLUDED.app_slug,
    metadata = EXCLUDED.metadata,
    details_url = EXCLUDED.details_url,
    html_url = EXCLUDED.html_url,
    check_suite_id = EXCLUDED.check_suite_id,
    started_at = EXCLUDED.started_at,
    completed_at = EXCLUDED.completed_at,
    output_title = EXCLUDED.output_title,
    output_summary = EXCLUDED.output_summary,
    last_arrival = EXCLUDED.last_arrival,
    pr_id = COALESCE(EXCLUDED.pr_id, c.pr_id)
WHERE (CASE EXCLUDED.status WHEN 'completed' THEN 2 WHEN 'in_progress' THEN 1 ELSE 0 END,
       COALESCE(EXCLUDED.completed_at, '-infinity'), COALESCE(EXCLUDED.started_at, '-infinity'),
       COALESCE(EXCLUDED.last_arrival, 0))
   >= (CASE c.status WHEN 'completed' THEN 2 WHEN 'in_progress' THEN 1 ELSE 0 END,
       COALESCE(c.completed_at, '-infinity'), COALESCE(c.started_at, '-infinity'),
       COALESCE(c.last_arrival, 0))
  AND (c.repository_id, c.check_name, c.head_sha, c.status, c.conclusion, c.app_slug,
       c.metadata, c.details_url, c.html_url, c.check_suite_id, c.started_at, c.completed_at,
       c.output_title, c.output_summary)
      IS DISTINCT FROM
      (EXCLUDED.repository_id, EXCLUDED.check_name, EXCLUDED.head_sha, EXCLUDED.status,
       EXCLUDED.conclusion, EXCLUDED.app_slug, EXCLUDED.metadata, EXCLUDED.details_url,
       EXCLUDED.html_url, EXCLUDED.check_suite_id, EXCLUDED.started_at, EXCLUDED.completed_at,
       EXCLUDED.output_title, EXCLUDED.output_summary)
"""

# $1 the repository's id, $2.. the CheckRun's fields in order; the PR link is not set here.
UPSERT = f"""
INSERT INTO check_runs AS c ({COLUMNS}) VALUES (
    $2::bigint, $1, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13, $14, $15, $16,
    $2::bigint::text
)
{ON_CONFLICT}
RETURNING id
"""

# A check_run event in one statement: the repository's id when its row says all the payload says or
# is newer ($1-$11, repositories.CURRENT; no row: nothing is written), the run's PR (by the numbers
# its payload lists, $27, else by its commit: PR_BY_NUMBER, then PR_BY_HEAD_SHA only when that found
# none), the run upserted ($12.. the CheckRun's fields) with that PR as its link, and the PR's
# last_checked_at (CHECKED). Every part reads the snapshot the statement began with, so the run as
# it now is comes from the upsert's RETURNING, else (not applied) from `before`, and CHECKED's max()
# is taken over the PR's other runs and this one apart. Rows are found by scalar subqueries,
# `= (SELECT id FROM ...)`, as by a parameter: a plan made while the tables were empty (asyncpg
# prepares, PostgreSQL then keeps a generic plan) still uses their indexes, where a join would scan
# them.
RECORD = f"""
WITH repo AS ({repositories.CURRENT}),
by_number AS (
    SELECT id FROM pull_requests
    WHERE repository_id = (SELECT id FROM repo) AND pr_number = ANY($27::integer[])
    ORDER BY github_updated_at DESC NULLS LAST, github_id DESC
    LIMIT 1
),
pr AS (
    SELECT id FROM by_number
    UNION ALL
    (SELECT id FROM pull_requests
     WHERE repository_id = (SELECT id FROM repo) AND head_sha = $14::text
       AND NOT EXISTS (SELECT FROM by_number)
     ORDER BY github_updated_at DESC NULLS LAST, github_id DESC
     LIMIT 1)
),
before AS (SELECT id, pr_id, updated_at FROM check_runs WHERE github_id = $12::bigint),
written AS (
    INSERT INTO check_runs AS c ({COLUMNS}, pr_id)
    SELECT $12::bigint, repo.id, $13, $14::text, $15, $16, $17, $18::jsonb, $19, $20, $21, $22,
           $23, $24, $25, $26, $12::bigint::text, (SELECT id FROM pr)
    FROM repo
    {ON_CONFLICT}
    RETURNING id, pr_id, updated_at
),
run AS (
    SELECT id, pr_id, updated_at FROM written
    UNION ALL
    SELECT id, pr_id, updated_at FROM before WHERE NOT EXISTS (SELECT FROM written)
),
checked AS (
    UPDATE pull_requests p SET last_checked_at = m.at
    FROM (
        SELECT GREATEST(
            (SELECT max(c.updated_at) FROM check_runs c
             WHERE c.pr_id = (SELECT id FROM pr) AND c.id IS DISTINCT FROM (SELECT id FROM run)),
            (SELECT run.updated_at FROM run WHERE run.pr_id = (SELECT id FROM pr))
        ) AS at
    ) m
    WHERE p.id = (SELECT id FROM pr) AND m.at > coalesce(p.last_checked_at, '-infinity')
)
SELECT (SELECT id FROM repo) AS repository_id, (SELECT id FROM run) AS check_run_id,
       (SELECT pr_id FROM run) AS linked_to, (SELECT id FROM pr) AS pull_request_id
"""

ID_BY_GITHUB_ID = "SELECT id FROM check_runs WHERE github_id = $1"

# github_id, not id, breaks ties: ids depend on arrival order, and the link must not.
PR_BY_NUMBER = """
SELECT id FROM pull_requests
WHERE repository_id = $1 AND pr_number = ANY($2::integer[])
ORDER BY github_updated_at DESC NULLS LAST, github_id DESC
LIMIT 1
"""

PR_BY_HEAD_SHA = """
SELECT id FROM pull_requests
WHERE repository_id = $1 AND head_sha = $2
ORDER BY github_updated_at DESC NULLS LAST, github_id DESC
LIMIT 1
"""

LINK = """
UPDATE check_runs SET pr_id = $2
WHERE id = $1 AND pr_id IS DISTINCT FROM $2
"""

LINK_ORPHANS = """
UPDATE check_runs SET pr_id = $1
WHERE repository_id = $2 AND head_sha = $3 AND pr_id IS NULL
"""

# seed 002's last_checked_at: when hookwise last took in news of the PR's check runs (a check_run
# event, a backfill or reconcile), i.e. the latest change to one of them. A replay changes no
# run, so it changes nothing here either.
CHECKED = """
UPDATE pull_requests p SET last_checked_at = c.at
FROM (SELECT max(updated_at) AS at FROM check_runs WHERE pr_id = $1) c
WHERE p.id = $1 AND c.at > coalesce(p.last_checked_at, '-infinity')
"""


@dataclass(frozen=True)
class CheckRun:
    """One check_run payload, in the columns of `check_runs` (field order = UPSERT's and
    RECORD's parameters); its repository is given apart."""

    github_id: int
    check_name: str
    head_sha: str
    status: str
    conclusion: str | None
    app_slug: str | None
    # The `metadata` column: GitHub's own external_id field, when the run has one.
    metadata: dict[str, Any] | None
    details_url: str | None
    html_url: str | None
    check_suite_id: int | None
    started_at: datetime | None
    completed_at: datetime | None
    output_title: str | None
    output_summary: str | None
    # integration_events.arrival of the event that carried it: settles a tie.
    last_arrival: int | None = None


async def upsert(conn: asyncpg.Connection, repository_id: UUID, check_run: CheckRun) -> UUID:
    """Insert or advance the check run of the repository `repository_id`; its id. An older
    payload changes nothing. The seed's external_id is written from github_id."""
    # The pool's codec writes `metadata` as jsonb.
    applied: UUID | None = await conn.fetchval(UPSERT, repository_id, *values(check_run))
    if applied is not None:
        return applied
    found: UUID = await conn.fetchval(ID_BY_GITHUB_ID, check_run.github_id)
    return found


@dataclass(frozen=True)
class Written:
    """What record() wrote: the run's id, and the PR it is linked to now (None: none is stored
    yet, and any link made before stays)."""

    check_run_id: UUID
    pull_request_id: UUID | None


async def record(
    conn: asyncpg.Connection, repository: Repository, check_run: CheckRun, numbers: Sequence[int]
) -> Written | None:
    """A check_run event's state in one statement (RECORD): the run upserted as upsert() does,
    linked to its PR (find_pull_request()'s, `numbers` being the PR numbers its payload lists)
    and that PR's last_checked_at advanced as link() does. None, with nothing written, when the
    repository's row does not say all `repository` says (or there is none): the caller stores
    the repository, then calls again."""
    row = await conn.fetchrow(RECORD, *repository.args(), *values(check_run), list(numbers))
    assert row is not None  # a SELECT without FROM: always one row
    return await _recorded(conn, row, check_run)


async def record_many(
    conn: asyncpg.Connection, items: Sequence[tuple[Repository, CheckRun, Sequence[int]]]
) -> list[Written | None]:
    """record() for each (repository, check run, numbers), in order, its RECORD statements
    sent in one round trip (fetchmany): each runs as it would alone. Raises what a statement
    raised, the transaction then aborted."""
    if not items:
        return []
    rows = await conn.fetchmany(
        RECORD,
        [(*repository.args(), *values(run), list(numbers)) for repository, run, numbers in items],
    )
    # A SELECT without FROM: one row each.
    assert len(rows) == len(items)
    return [await _recorded(conn, row, run) for row, (_, run, _) in zip(rows, items, strict=True)]


async def _recorded(
    conn: asyncpg.Connection, row: asyncpg.Record, check_run: CheckRun
) -> Written | None:
    """What record() answers, from the row its RECORD statement returned."""
    if row["repository_id"] is None:
        return None
    check_run_id: UUID | None = row["check_run_id"]
    if check_run_id is None:
        # The insert met a row committed after the statement's snapshot, and did not apply.
        check_run_id = await conn.fetchval(ID_BY_GITHUB_ID, check_run.github_id)
        assert check_run_id is not None
    pull_request_id: UUID | None = row["pull_request_id"]
    # The upsert did not apply (a replay, an older payload) but the PR is new to the run.
    if pull_request_id is not None and row["linked_to"] != pull_request_id:
        await link(conn, check_run_id=check_run_id, pull_request_id=pull_request_id)
    return Written(check_run_id, pull_request_id)


async def find_pull_request(
    conn: asyncpg.Connection, *, repository_id: UUID, numbers: Sequence[int], head_sha: str
) -> UUID | None:
    """The PR a check run belongs to: by the numbers its payload lists, else by its commit."""
    if numbers:
        found: UUID | None = await conn.fetchval(PR_BY_NUMBER, repository_id, list(numbers))
        if found is not None:
            return found
    # Runs on fork PRs list no pull requests; the head commit still names the PR.
    by_sha: UUID | None = await conn.fetchval(PR_BY_HEAD_SHA, repository_id, head_sha)
    return by_sha


async def link(conn: asyncpg.Connection, *, check_run_id: UUID, pull_request_id: UUID) -> None:
    """Link the run to its PR; the PR's last_checked_at follows its runs."""
    await conn.execute(LINK, check_run_id, pull_request_id)
    await conn.execute(CHECKED, pull_request_id)


async def link_orphans(
    conn: asyncpg.Connection, *, pull_request_id: UUID, repository_id: UUID, head_sha: str
) -> None:
    """Give a PR the check runs of its commit that arrived before it did."""
    if await conn.execute(LINK_ORPHANS, pull_request_id, repository_id, head_sha) != "UPDATE 0":
        await checked(conn, pull_request_id)


async def checked(conn: asyncpg.Connection, pull_request_id: UUID) -> None:
    """The PR's last_checked_at advanced to its runs' latest change (CHECKED), after runs were
    linked to it or changed."""
    await conn.execute(CHECKED, pull_request_id)


UNFINISHED = """
SELECT github_id FROM check_runs
WHERE repository_id = $1 AND status <> 'completed'
ORDER BY github_id
"""


async def unfinished(conn: asyncpg.Connection, repository_id: UUID) -> list[int]:
    """GitHub ids of the repository's check runs not stored as completed."""
    return [r["github_id"] for r in await conn.fetch(UNFINISHED, repository_id)]
