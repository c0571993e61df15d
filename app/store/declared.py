"""Queries on declared workflows: seed 001's `workflows`, `workflow_triggers` and
`workflow_actions` rows of a `.github/hookwise.yml`, and `workflow_sources`.

A file is stored whole in one transaction (replace_scope): its good workflows active with
their triggers and actions, its broken ones inactive (nothing of them runs), the ones it no
longer names archived. An event's transaction reads them with for_event: no network call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.store.rows import one

UPSERT_SOURCE = """
INSERT INTO workflow_sources (scope, full_name, installation_id, path, problems, synced_at)
VALUES ($1, $2, $3, $4, $5::jsonb, now())
ON CONFLICT (scope) DO UPDATE
SET full_name = EXCLUDED.full_name, installation_id = EXCLUDED.installation_id,
    path = EXCLUDED.path, problems = EXCLUDED.problems, synced_at = now()
"""

UPSERT_WORKFLOW = """
INSERT INTO workflows (name, description, status, config, created_by, scope, declared_name)
VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
ON CONFLICT (scope, declared_name) WHERE scope IS NOT NULL DO UPDATE
SET name = EXCLUDED.name, description = EXCLUDED.description, status = EXCLUDED.status,
    config = EXCLUDED.config
RETURNING id
"""

ARCHIVE_REST = """
UPDATE workflows SET status = 'archived'
WHERE scope = $1 AND NOT (declared_name = ANY($2::text[])) AND status <> 'archived'
"""

FOR_EVENT = """
SELECT w.id, w.name, w.scope, w.declared_name, w.config
FROM workflows w
WHERE w.scope = ANY($1::text[]) AND w.status = 'active'
  AND EXISTS (SELECT 1 FROM workflow_triggers t
              WHERE t.workflow_id = w.id AND t.enabled AND t.trigger_type = $2
                AND ($3::text IS NULL OR t.conditions ->> 'event' = $3))
ORDER BY w.declared_name
"""

BY_NAME = """
SELECT w.id, w.name, w.scope, w.declared_name, w.config
FROM workflows w
WHERE w.scope = ANY($1::text[]) AND w.declared_name = $2 AND w.status = 'active'
"""

SCHEDULED = """
SELECT w.id, w.name, w.scope, w.declared_name, w.config, t.conditions ->> 'cron' AS cron,
       w.created_at
FROM workflows w JOIN workflow_triggers t ON t.workflow_id = w.id
WHERE w.status = 'active' AND w.scope IS NOT NULL AND t.enabled AND t.trigger_type = 'schedule'
"""

# The facts of a stored pull request the event's transaction may use for conditions.
PULL = """
SELECT p.id, p.pr_number, p.title, p.body, p.author, p.draft, p.head_branch, p.base_branch,
       p.state, r.full_name
FROM pull_requests p JOIN repositories r ON r.id = p.repository_id
WHERE p.id = $1
"""
PULL_BY_NUMBER = """
SELECT p.id FROM pull_requests p JOIN repositories r ON r.id = p.repository_id
WHERE r.github_id = $1 AND p.pr_number = $2
"""
PULL_BY_NAME = """
SELECT p.id, r.github_id AS repository_github_id, r.installation_id
FROM pull_requests p JOIN repositories r ON r.id = p.repository_id
WHERE lower(r.full_name) = lower($1) AND p.pr_number = $2
"""


@dataclass(frozen=True)
class Stored:
    """A declared workflow as stored: its row id, its full name, whose file, its definition."""

    id: UUID
    name: str
    scope: str
    declared_name: str
    config: Mapping[str, Any]

    @property
    def definition(self) -> Mapping[str, Any]:
        found: Mapping[str, Any] = self.config["definition"]
        return found


def scopes_of(repository: Mapping[str, Any]) -> list[str]:
    """The files that may declare workflows for a repository: its own, then its owner's
    `.github` repository's (installation-wide)."""
    owner = str(repository["full_name"]).split("/", 1)[0].lower()
    return [f"repo:{repository['id']}", f"owner:{owner}"]


def nearest(found: Iterable[Stored]) -> list[Stored]:
    """One workflow per name: the repository's own over its owner's of the same name."""
    chosen: dict[str, Stored] = {}
    for stored in found:
        earlier = chosen.get(stored.declared_name)
        if earlier is None or stored.scope.startswith("repo:"):
            chosen[stored.declared_name] = stored
    return list(chosen.values())


def _stored(row: asyncpg.Record) -> Stored:
    config = row["config"]
    if isinstance(config, str):
        config = json.loads(config)
    return Stored(row["id"], row["name"], row["scope"], row["declared_name"], config)


@dataclass(frozen=True)
class Declaration:
    """One declared workflow to store: its definition (the spec's JSON) and where it is."""

    declared_name: str
    description: str
    definition: Mapping[str, Any] | None  # None: broken, stored inactive
    file: str
    line: int
    # (trigger_type, conditions) rows of workflow_triggers.
    triggers: list[tuple[str, Mapping[str, Any]]]
    # (action_type, action_name, config) rows of workflow_actions, in order.
    actions: list[tuple[str, str, Mapping[str, Any]]]
    problems: list[str]


async def replace_scope(
    conn: asyncpg.Connection,
    *,
    scope: str,
    label: str,
    full_name: str,
    installation_id: int | None,
    path: str,
    declarations: list[Declaration],
    problems: list[Mapping[str, Any]],
) -> None:
    """Store one file's workflows in one transaction (the caller's)."""
    await conn.execute(UPSERT_SOURCE, scope, full_name, installation_id, path, list(problems))
    for d in declarations:
        config = {
            "definition": d.definition,
            "file": d.file,
            "line": d.line,
            "problems": d.problems,
        }
        workflow_id = await conn.fetchval(
            UPSERT_WORKFLOW,
            f"{label}:{d.declared_name}"[:255],
            d.description,
            "active" if d.definition is not None else "inactive",
            config,
            "hookwise.yml",
            scope,
            d.declared_name,
        )
        await _replace_steps(conn, workflow_id, d)
    await conn.execute(ARCHIVE_REST, scope, [d.declared_name for d in declarations])


# A built-in workflow's definition, written again only when it changed: every process starting
# runs this, and a second one finds the row as the first left it (no triggers rewritten).
UPDATE_BUILTIN = """
UPDATE workflows SET description = $2, config = $3::jsonb
WHERE name = $1 AND scope IS NULL AND config IS DISTINCT FROM $3::jsonb
RETURNING id
"""


async def store_builtins(
    conn: asyncpg.Connection,
    declarations: list[Declaration],
    more: Mapping[str, Mapping[str, Any]],
) -> None:
    """hookwise's own workflows (rows that ensure_workflows made) with their definitions,
    triggers and actions as a declared workflow's are stored, so /admin shows both alike.
    `more`: what each adds to its config (its switch, what it needs), by name."""
    async with conn.transaction():
        for d in declarations:
            config = {
                "builtin": True,
                "definition": d.definition,
                "file": d.file,
                "line": d.line,
                "problems": [],
                **more.get(d.declared_name, {}),
            }
            workflow_id = await conn.fetchval(
                UPDATE_BUILTIN, d.declared_name, d.description, config
            )
            if workflow_id is not None:
                await _replace_steps(conn, workflow_id, d)


async def _replace_steps(conn: asyncpg.Connection, workflow_id: UUID, d: Declaration) -> None:
    await conn.execute("DELETE FROM workflow_triggers WHERE workflow_id = $1", workflow_id)
    await conn.executemany(
        "INSERT INTO workflow_triggers (workflow_id, trigger_type, conditions)"
        " VALUES ($1, $2, $3::jsonb)",
        [(workflow_id, kind, conditions) for kind, conditions in d.triggers],
    )
    # Logs name their step, not the action row, so actions can be replaced freely.
    await conn.execute("DELETE FROM workflow_actions WHERE workflow_id = $1", workflow_id)
    await conn.executemany(
        "INSERT INTO workflow_actions (workflow_id, action_type, action_name, config,"
        " order_index) VALUES ($1, $2, $3, $4::jsonb, $5)",
        [
            (workflow_id, kind, name[:255], config, index)
            for index, (kind, name, config) in enumerate(d.actions)
        ],
    )


async def for_event(
    conn: asyncpg.Connection, scopes: list[str], *, trigger_type: str, event: str | None = None
) -> list[Stored]:
    return nearest(map(_stored, await conn.fetch(FOR_EVENT, scopes, trigger_type, event)))


async def by_name(conn: asyncpg.Connection, scopes: list[str], name: str) -> Stored | None:
    found = nearest(map(_stored, await conn.fetch(BY_NAME, scopes, name)))
    return found[0] if found else None


async def scheduled(conn: asyncpg.Connection) -> list[tuple[Stored, str, datetime]]:
    """Each active declared workflow's cron lines: (workflow, cron, when it was first stored)."""
    return [(_stored(row), row["cron"], row["created_at"]) for row in await conn.fetch(SCHEDULED)]


@dataclass(frozen=True)
class Pull:
    """The facts of a stored pull request that conditions may test."""

    id: UUID
    pr_number: int
    title: str | None
    body: str | None
    author: str | None
    draft: bool
    head_branch: str | None
    base_branch: str | None
    state: str
    full_name: str


@dataclass(frozen=True)
class PullByName:
    """A stored pull request found by owner/name and number, with its repository's GitHub id
    and installation."""

    id: UUID
    repository_github_id: int
    installation_id: int | None


async def pull(conn: asyncpg.Connection, pull_request_id: UUID) -> Pull | None:
    return one(Pull, await conn.fetchrow(PULL, pull_request_id))


async def pull_by_number(
    conn: asyncpg.Connection, repository_github_id: int, number: int | None
) -> UUID | None:
    """The id of the repository's pull request `number`, when stored."""
    found: UUID | None = await conn.fetchval(PULL_BY_NUMBER, repository_github_id, number)
    return found


async def pull_by_name(conn: asyncpg.Connection, full_name: str, number: int) -> PullByName | None:
    return one(PullByName, await conn.fetchrow(PULL_BY_NAME, full_name, number))
