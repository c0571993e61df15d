"""Queries on `pr_links` (Linear issue <-> pull request), and the pull request text they come
from."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from uuid import UUID

import asyncpg

from app.store.pool import Queries

LINKED = """
SELECT k.linear_issue_id, k.kind, k.source, i.identifier, i.team_id, i.state_type, i.removed_at
FROM pr_links k JOIN linear_issues i ON i.id = k.linear_issue_id
WHERE k.pull_request_id = $1
ORDER BY i.identifier
"""
PULL_COLUMNS = """
p.id, p.github_id, p.pr_number, p.state, p.title, p.body, p.head_branch, p.base_branch, p.url,
r.full_name
"""
PULL_BY_GITHUB_ID = f"""
SELECT {PULL_COLUMNS}
FROM pull_requests p JOIN repositories r ON r.id = p.repository_id
WHERE p.github_id = $1
"""
# The PR and its links as they stand, in one statement: one row per link (ordered as LINKED),
# or one row with NULL link columns when it has none.
PULL_WITH_LINKS = f"""
SELECT {PULL_COLUMNS},
       k.linear_issue_id, k.kind, k.source, i.identifier, i.team_id, i.state_type, i.removed_at
FROM pull_requests p JOIN repositories r ON r.id = p.repository_id
LEFT JOIN (pr_links k JOIN linear_issues i ON i.id = k.linear_issue_id)
       ON k.pull_request_id = p.id
WHERE p.github_id = $1
ORDER BY i.identifier
"""
# The PR's links made exactly the wanted ones, in one statement: $2, $3, $4 their issue ids,
# kinds and sources, each inserted or its kind and source updated (updated_at bumped only when
# they change), every other link of the PR deleted. The links as they now stand are the
# wanted ones (the snapshot the statement reads holds none of its writes), one row each, ordered
# as LINKED, or one row with NULL link columns when none is wanted; `dropped` on every row.
REWRITE = """
WITH wanted AS (
    SELECT * FROM unnest($2::text[], $3::text[], $4::text[]) AS w (linear_issue_id, kind, source)
),
upserted AS (
    INSERT INTO pr_links AS k (pull_request_id, linear_issue_id, kind, source)
    SELECT $1, linear_issue_id, kind, source FROM wanted
    ON CONFLICT (pull_request_id, linear_issue_id) DO UPDATE
    SET kind = EXCLUDED.kind, source = EXCLUDED.source
    WHERE (k.kind, k.source) IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.source)
),
dropped AS (
    DELETE FROM pr_links
    WHERE pull_request_id = $1 AND NOT (linear_issue_id = ANY($2::text[]))
    RETURNING linear_issue_id
)
SELECT w.linear_issue_id, w.kind, w.source, i.identifier, i.team_id, i.state_type, i.removed_at,
       ARRAY(SELECT linear_issue_id FROM dropped ORDER BY linear_issue_id) AS dropped
FROM (SELECT) one
LEFT JOIN (wanted w JOIN linear_issues i ON i.id = w.linear_issue_id) ON true
ORDER BY i.identifier
"""
# A Linear issue may be created after the PR that names it; only open PRs are looked at.
OPEN_PULLS_MENTIONING = f"""
SELECT {PULL_COLUMNS}
FROM pull_requests p JOIN repositories r ON r.id = p.repository_id
WHERE p.state = 'opened'
  AND (p.head_branch ~* $1 OR p.title ~* $1 OR p.body ~* $1)
ORDER BY p.github_id
"""


@dataclass(frozen=True)
class Link:
    linear_issue_id: str
    kind: str  # 'closes' | 'references'
    source: str  # 'branch' | 'title' | 'body'


@dataclass(frozen=True)
class Linked:
    """A link with what effects on Linear need of its issue."""

    linear_issue_id: str
    kind: str
    source: str
    identifier: str
    team_id: str | None
    state_type: str | None
    removed_at: datetime | None


@dataclass(frozen=True)
class PullText:
    """A stored pull request: where links are read from, and what Linear is told about it."""

    id: UUID
    github_id: int
    pr_number: int
    state: str
    title: str | None
    body: str | None
    head_branch: str | None
    base_branch: str | None
    url: str | None
    full_name: str


PULL_FIELDS = tuple(f.name for f in fields(PullText))
LINKED_FIELDS = tuple(f.name for f in fields(Linked))


# Other pull requests still open that will complete the same issue when they merge.
OTHER_OPEN_CLOSERS = """
SELECT p.pr_number, r.full_name
FROM pr_links k
JOIN pull_requests p ON p.id = k.pull_request_id
JOIN repositories r ON r.id = p.repository_id
WHERE k.linear_issue_id = $1 AND k.kind = 'closes' AND p.id <> $2 AND p.state = 'opened'
ORDER BY p.github_id
"""


async def other_open_closers(
    conn: Queries, linear_issue_id: str, pull_request_id: UUID
) -> list[str]:
    """`owner/repo#N` of each other open PR that completes the issue on merge."""
    rows = await conn.fetch(OTHER_OPEN_CLOSERS, linear_issue_id, pull_request_id)
    return [f"{row['full_name']}#{row['pr_number']}" for row in rows]


async def rewrite(
    conn: Queries, pull_request_id: UUID, links: Sequence[Link]
) -> tuple[list[str], list[Linked]]:
    """Make the PR's links exactly `links`, in one statement (REWRITE): (the issue ids of the
    links dropped, the PR's links as they now stand, as linked() gives them)."""
    rows = await conn.fetch(
        REWRITE,
        pull_request_id,
        [link.linear_issue_id for link in links],
        [link.kind for link in links],
        [link.source for link in links],
    )
    dropped: list[str] = list(rows[0]["dropped"])
    return dropped, [_linked(row) for row in rows if row["linear_issue_id"] is not None]


async def linked(conn: Queries, pull_request_id: UUID) -> list[Linked]:
    """The PR's links with their issues, ordered by the issue's identifier."""
    return [Linked(**dict(row)) for row in await conn.fetch(LINKED, pull_request_id)]


async def pull_with_links(conn: Queries, github_id: int) -> tuple[PullText, list[Linked]] | None:
    """pull() and linked() in one statement (PULL_WITH_LINKS): the stored PR of this GitHub id
    and its links; None when the PR is not stored."""
    rows = await conn.fetch(PULL_WITH_LINKS, github_id)
    if not rows:
        return None
    first = rows[0]
    pull = PullText(**{name: first[name] for name in PULL_FIELDS})
    return pull, [_linked(row) for row in rows if row["linear_issue_id"] is not None]


def _linked(row: asyncpg.Record) -> Linked:
    return Linked(**{name: row[name] for name in LINKED_FIELDS})


async def pull(conn: Queries, github_id: int) -> PullText | None:
    row = await conn.fetchrow(PULL_BY_GITHUB_ID, github_id)
    return None if row is None else PullText(**dict(row))


# (repository GitHub id, number) of pull requests by id: what their serial keys are made of.
NUMBERED = """
SELECT r.github_id AS repository, p.pr_number FROM pull_requests p
JOIN repositories r ON r.id = p.repository_id
WHERE p.id = ANY($1::uuid[])
"""


async def numbered(conn: Queries, pull_ids: Sequence[UUID]) -> list[tuple[int, int]]:
    """(repository GitHub id, pr_number) of each stored pull request of `pull_ids`."""
    rows = await conn.fetch(NUMBERED, list(pull_ids))
    return [(int(r["repository"]), int(r["pr_number"])) for r in rows]


async def open_pulls_mentioning(conn: asyncpg.Connection, identifier: str) -> list[PullText]:
    """Open PRs whose branch, title or body names `identifier` (letters, digits and a dash)."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*-[0-9]+", identifier):
        return []
    # Case-insensitive (~*): [^a-z0-9] excludes upper-case letters too.
    pattern = f"(^|[^a-z0-9]){identifier}([^a-z0-9]|$)"
    return [PullText(**dict(row)) for row in await conn.fetch(OPEN_PULLS_MENTIONING, pattern)]
