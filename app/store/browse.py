"""Read-only queries behind the admin pages.

The one store module that spans tables: each page reads several, writes none, and the writers'
modules stay about writing. Replays go through app/store/events.py like every other replay.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from app.store.rows import many, one


@dataclass(frozen=True)
class DeliveryFilter:
    """Which deliveries a list shows; None leaves a filter off."""

    source: str | None = None
    event_type: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def args(self) -> tuple[object, ...]:
        return (self.source, self.event_type, self.status, self.since, self.until)


# Newest first; one row more than a page is asked for, so the page knows whether another follows.
DELIVERIES = """
SELECT id, source, event_type, action, delivery_id, status, attempts, received_at, processed_at,
       left(split_part(coalesce(last_error, ''), E'\\n', 1), 160) AS error
FROM integration_events
WHERE ($1::text IS NULL OR source = $1)
  AND ($2::text IS NULL OR event_type = $2)
  AND ($3::text IS NULL OR status = $3)
  AND ($4::timestamptz IS NULL OR received_at >= $4)
  AND ($5::timestamptz IS NULL OR received_at < $5)
ORDER BY received_at DESC, id DESC
LIMIT $6 OFFSET $7
"""


@dataclass(frozen=True)
class Listed:
    """A delivery in the list: its first line of error, cut to 160 characters."""

    id: uuid.UUID
    source: str
    event_type: str
    action: str | None
    delivery_id: str
    status: str
    attempts: int
    received_at: datetime
    processed_at: datetime | None
    error: str


async def deliveries(
    conn: asyncpg.Connection, selected: DeliveryFilter, *, limit: int, offset: int
) -> list[Listed]:
    return many(Listed, await conn.fetch(DELIVERIES, *selected.args(), limit, offset))


DELIVERY = """
SELECT id, source, hook_id, delivery_id, event_type, action, headers, body_encoding, body, status,
       attempts, run_after, locked_until, last_error, received_at, processed_at
FROM integration_events WHERE id = $1
"""


@dataclass(frozen=True)
class Stored:
    """One stored delivery, its body as kept (`body_encoding`, app/store/bodies.py)."""

    id: uuid.UUID
    source: str
    hook_id: str
    delivery_id: str
    event_type: str
    action: str | None
    headers: dict[str, str] | None
    body_encoding: str
    body: bytes
    status: str
    attempts: int
    run_after: datetime | None
    locked_until: datetime | None
    last_error: str | None
    received_at: datetime
    processed_at: datetime | None


async def delivery(conn: asyncpg.Connection, event_id: uuid.UUID) -> Stored | None:
    return one(Stored, await conn.fetchrow(DELIVERY, event_id))


INSTALLATIONS = """
SELECT id, account_login, account_type, repository_selection, suspended_at, deleted_at,
       last_event_at
FROM installations ORDER BY deleted_at IS NOT NULL, account_login NULLS LAST, id
"""
REPOSITORIES = """
SELECT r.id, r.installation_id, r.full_name, r.status::text AS status, r.failure_count,
       r.last_error, r.last_polled_at, r.private, r.removed_at, r.config_override,
       (SELECT count(*) FROM pull_requests p WHERE p.repository_id = r.id AND p.state = 'opened')
           AS open_pulls
FROM repositories r ORDER BY r.full_name, r.github_id
"""


@dataclass(frozen=True)
class InstallationRow:
    id: int
    account_login: str | None
    account_type: str | None
    repository_selection: str | None
    suspended_at: datetime | None
    deleted_at: datetime | None
    last_event_at: datetime | None


@dataclass(frozen=True)
class RepositoryRow:
    """A repository with its reconcile state and how many of its pull requests are open."""

    id: uuid.UUID
    installation_id: int | None
    full_name: str
    status: str
    failure_count: int
    last_error: str | None
    last_polled_at: datetime | None
    private: bool | None
    removed_at: datetime | None
    config_override: Any
    open_pulls: int


@dataclass(frozen=True)
class Installation:
    row: InstallationRow | None
    repositories: list[RepositoryRow]


async def installations(conn: asyncpg.Connection) -> list[Installation]:
    """Each installation with its repositories; repositories known to no installation (a
    webhook from outside one) come last, under row None."""
    repos_of: dict[int | None, list[RepositoryRow]] = {}
    for repo in many(RepositoryRow, await conn.fetch(REPOSITORIES)):
        repos_of.setdefault(repo.installation_id, []).append(repo)
    found = [
        Installation(row, repos_of.pop(row.id, []))
        for row in many(InstallationRow, await conn.fetch(INSTALLATIONS))
    ]
    orphans = [repo for repos in repos_of.values() for repo in repos]
    if orphans:
        found.append(Installation(None, orphans))
    return found


PULLS = """
SELECT p.id, r.full_name, p.pr_number, p.title, p.state::text AS state, p.draft, p.author,
       p.head_branch, p.updated_at
FROM pull_requests p JOIN repositories r ON r.id = p.repository_id
WHERE ($1::uuid IS NULL OR p.repository_id = $1)
ORDER BY p.updated_at DESC, p.github_id DESC
LIMIT $2
"""


@dataclass(frozen=True)
class PullListed:
    id: uuid.UUID
    full_name: str
    pr_number: int
    title: str | None
    state: str
    draft: bool
    author: str | None
    head_branch: str | None
    updated_at: datetime | None


async def pulls(
    conn: asyncpg.Connection, *, repository_id: uuid.UUID | None, limit: int
) -> list[PullListed]:
    return many(PullListed, await conn.fetch(PULLS, repository_id, limit))


PULL = """
SELECT p.id, r.full_name, p.repository_id, p.pr_number, p.title, p.state::text AS state,
       p.draft, p.author, p.head_branch, p.head_sha, p.base_branch, p.url, p.is_fork,
       p.github_created_at, p.github_updated_at, p.last_checked_at
FROM pull_requests p JOIN repositories r ON r.id = p.repository_id
WHERE p.id = $1
"""

# Everything that happened to one pull request, as (at, kind, title, status, detail), oldest
# first. A check run is placed when it finished, or started if it has not finished yet.
TIMELINE = """
SELECT created_at AS at, 'state' AS kind,
       concat_ws(' → ', old_state::text, new_state::text)
           || CASE WHEN to_draft THEN ' (draft)' ELSE '' END AS title,
       trigger_event::text AS status,
       concat_ws(' ', 'head ' || left(head_sha, 7), 'delivery ' || delivery_id) AS detail
FROM pr_state_history WHERE pr_id = $1
UNION ALL
SELECT coalesce(completed_at, started_at, created_at), 'check run', check_name,
       coalesce(conclusion::text, status::text),
       concat_ws(' ', 'head ' || left(head_sha, 7), output_title)
FROM check_runs WHERE pr_id = $1
UNION ALL
SELECT created_at, 'analysis', coalesce(category, 'failure') || ' analysis', status,
       concat_ws(' ', CASE WHEN is_preexisting THEN '(pre-existing)' END,
                 coalesce(error, root_cause))
FROM analysis_results WHERE pull_request_id = $1
UNION ALL
SELECT created_at, 'review', 'review of ' || left(head_sha, 7), status, coalesce(error, feedback)
FROM reviews WHERE pr_id = $1
UNION ALL
SELECT created_at, 'fix', fix_strategy || ' fix, attempt ' || attempt_number, status,
       coalesce(error_message, 'commit ' || left(commit_sha, 7))
FROM fix_attempts WHERE pull_request_id = $1
UNION ALL
-- Each reaction's execution, with the steps it logged.
SELECT e.started_at, 'execution',
       w.name || ', attempt ' || e.attempts, e.status,
       concat_ws(' — ', coalesce(e.error_message, e.result ->> 'summary'),
                 (SELECT string_agg(coalesce(l.step_name || ': ', '') || l.message, '; '
                                    ORDER BY l.created_at, l.id)
                  FROM execution_logs l WHERE l.execution_id = e.id))
FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id
WHERE e.pull_request_id = $1
ORDER BY at, kind
"""


@dataclass(frozen=True)
class Pull:
    id: uuid.UUID
    full_name: str
    repository_id: uuid.UUID
    pr_number: int
    title: str | None
    state: str
    draft: bool
    author: str | None
    head_branch: str | None
    head_sha: str | None
    base_branch: str | None
    url: str | None
    is_fork: bool
    github_created_at: datetime | None
    github_updated_at: datetime | None
    last_checked_at: datetime | None


class Entry(NamedTuple):
    """A line of a pull request's timeline (TIMELINE's columns)."""

    at: datetime | None
    kind: str
    title: str | None
    status: str | None
    detail: str | None


async def pull(conn: asyncpg.Connection, pull_request_id: uuid.UUID) -> Pull | None:
    return one(Pull, await conn.fetchrow(PULL, pull_request_id))


async def timeline(conn: asyncpg.Connection, pull_request_id: uuid.UUID) -> list[Entry]:
    return many(Entry, await conn.fetch(TIMELINE, pull_request_id))
