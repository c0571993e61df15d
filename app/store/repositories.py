"""Queries on `repositories`: the repositories of each installation, marked, never deleted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

# Fields a payload leaves out (None) keep their stored value: installation_repositories payloads
# carry no default branch, and PR payloads delivered outside an installation no installation id.
CURRENT = """
SELECT id FROM repositories
WHERE github_id = $1
  AND (installation_id, owner, name, full_name, default_branch, private, fork)
      IS NOT DISTINCT FROM
      (COALESCE($2::bigint, installation_id), COALESCE($3::text, owner), COALESCE($4::text, name),
       $5::text, COALESCE($6::text, default_branch), COALESCE($7::boolean, private),
       COALESCE($8::boolean, fork))
"""

UPSERT = """
INSERT INTO repositories AS r
    (github_id, installation_id, owner, name, full_name, default_branch, private, fork)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (github_id) DO UPDATE SET
    installation_id = COALESCE(EXCLUDED.installation_id, r.installation_id),
    owner = COALESCE(EXCLUDED.owner, r.owner),
    name = COALESCE(EXCLUDED.name, r.name),
    full_name = EXCLUDED.full_name,
    default_branch = COALESCE(EXCLUDED.default_branch, r.default_branch),
    private = COALESCE(EXCLUDED.private, r.private),
    fork = COALESCE(EXCLUDED.fork, r.fork)
RETURNING id
"""

# Added to an installation: active again, whatever it was.
ADD = """
INSERT INTO repositories AS r (github_id, installation_id, owner, name, full_name, private)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (github_id) DO UPDATE SET
    installation_id = EXCLUDED.installation_id,
    owner = COALESCE(EXCLUDED.owner, r.owner),
    name = COALESCE(EXCLUDED.name, r.name),
    full_name = EXCLUDED.full_name,
    private = COALESCE(EXCLUDED.private, r.private),
    status = 'active',
    removed_at = NULL
WHERE (r.installation_id, r.owner, r.name, r.full_name, r.private, r.status, r.removed_at)
      IS DISTINCT FROM
      (EXCLUDED.installation_id, COALESCE(EXCLUDED.owner, r.owner),
       COALESCE(EXCLUDED.name, r.name), EXCLUDED.full_name, COALESCE(EXCLUDED.private, r.private),
       'active'::repository_status, NULL::timestamptz)
"""

# Removed: a repository never seen before is still recorded, so a later PR event finds it removed.
# One that has since moved to another installation is not this installation's to remove.
REMOVE = """
INSERT INTO repositories AS r
    (github_id, installation_id, owner, name, full_name, private, status, removed_at)
VALUES ($1, $2, $3, $4, $5, $6, 'removed', now())
ON CONFLICT (github_id) DO UPDATE SET status = 'removed', removed_at = now()
WHERE r.status <> 'removed'
  AND (r.installation_id IS NULL OR r.installation_id = EXCLUDED.installation_id)
"""

REMOVE_ALL = """
UPDATE repositories SET status = 'removed', removed_at = now()
WHERE installation_id = $1 AND status <> 'removed'
"""


@dataclass(frozen=True)
class Repository:
    """A repository as a payload describes it; None means the payload does not say."""

    github_id: int
    full_name: str
    name: str | None = None
    owner: str | None = None
    installation_id: int | None = None
    default_branch: str | None = None
    private: bool | None = None
    fork: bool | None = None

    def args(self) -> tuple[object, ...]:
        return (
            self.github_id,
            self.installation_id,
            self.owner,
            self.name,
            self.full_name,
            self.default_branch,
            self.private,
            self.fork,
        )


async def upsert(conn: asyncpg.Connection, repository: Repository) -> int:
    """The repository's id, inserting or refreshing it first when the payload says more."""
    # Every PR and check-run event passes here. An upsert would lock the row until commit even
    # when nothing changes, serialising all events of a repository; a read does not.
    found: int | None = await conn.fetchval(CURRENT, *repository.args())
    if found is not None:
        return found
    return int(await conn.fetchval(UPSERT, *repository.args()))


async def add(
    conn: asyncpg.Connection, installation_id: int, repositories: Iterable[Repository]
) -> None:
    """Mark repositories as part of an installation and active."""
    await conn.executemany(ADD, [_membership(installation_id, r) for r in repositories])


async def remove(
    conn: asyncpg.Connection, installation_id: int, repositories: Iterable[Repository]
) -> None:
    """Mark repositories removed from an installation, keeping their rows and history."""
    await conn.executemany(REMOVE, [_membership(installation_id, r) for r in repositories])


async def remove_all(conn: asyncpg.Connection, installation_id: int) -> None:
    """Mark every repository of an uninstalled installation removed."""
    await conn.execute(REMOVE_ALL, installation_id)


def _membership(installation_id: int, repository: Repository) -> tuple[object, ...]:
    return (
        repository.github_id,
        installation_id,
        repository.owner,
        repository.name,
        repository.full_name,
        repository.private,
    )
