"""Queries on `linear_issues`: Linear's issues as their webhooks (or the API) last showed them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from app.store.pool import Queries
from app.store.rows import values

# Never move backwards: a payload applies when its updatedAt is newer than the stored one, or
# equal and it arrived later (`last_arrival`; a removal need not bump updatedAt, and a replayed
# update of the same moment keeps its own, earlier arrival, so it does not bring the issue back;
# an issue read from Linear's API has none and never wins a tie). Optional fields a payload
# lacks keep what is stored.
# The IS DISTINCT FROM guard makes a replay a no-op.
UPSERT = """
INSERT INTO linear_issues AS l (
    id, identifier, title, team_id, team_key, state_id, state_name, state_type, url,
    linear_updated_at, removed_at, last_arrival
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (id) DO UPDATE SET
    identifier = EXCLUDED.identifier,
    title = COALESCE(EXCLUDED.title, l.title),
    team_id = COALESCE(EXCLUDED.team_id, l.team_id),
    team_key = COALESCE(EXCLUDED.team_key, l.team_key),
    state_id = COALESCE(EXCLUDED.state_id, l.state_id),
    state_name = COALESCE(EXCLUDED.state_name, l.state_name),
    state_type = COALESCE(EXCLUDED.state_type, l.state_type),
    url = COALESCE(EXCLUDED.url, l.url),
    linear_updated_at = EXCLUDED.linear_updated_at,
    removed_at = EXCLUDED.removed_at,
    last_arrival = EXCLUDED.last_arrival
WHERE (COALESCE(EXCLUDED.linear_updated_at, '-infinity'), COALESCE(EXCLUDED.last_arrival, 0))
   >= (COALESCE(l.linear_updated_at, '-infinity'), COALESCE(l.last_arrival, 0))
  AND (l.identifier, l.title, l.team_id, l.team_key, l.state_id, l.state_name, l.state_type,
       l.url, l.linear_updated_at, l.removed_at)
      IS DISTINCT FROM
      (EXCLUDED.identifier, COALESCE(EXCLUDED.title, l.title),
       COALESCE(EXCLUDED.team_id, l.team_id), COALESCE(EXCLUDED.team_key, l.team_key),
       COALESCE(EXCLUDED.state_id, l.state_id), COALESCE(EXCLUDED.state_name, l.state_name),
       COALESCE(EXCLUDED.state_type, l.state_type), COALESCE(EXCLUDED.url, l.url),
       EXCLUDED.linear_updated_at, EXCLUDED.removed_at)
RETURNING (xmax = 0) AS inserted
"""

COLUMNS = """
id, identifier, title, team_id, team_key, state_id, state_name, state_type, url,
linear_updated_at, removed_at
"""
BY_ID = f"SELECT {COLUMNS} FROM linear_issues WHERE id = $1"
# Identifiers are matched upper-cased: a branch says eng-123 for ENG-123. Removed issues too:
# a link to an issue removed in Linear stays, for history; nothing is sent about it.
BY_IDENTIFIERS = f"""
SELECT {COLUMNS} FROM linear_issues WHERE upper(identifier) = ANY($1::text[])
"""
KNOWN_TEAM_KEYS = """
SELECT DISTINCT upper(team_key) FROM linear_issues
WHERE team_key IS NOT NULL AND upper(team_key) = ANY($1::text[])
"""


@dataclass(frozen=True)
class LinearIssue:
    """One issue, in the columns of `linear_issues` (field order = UPSERT's)."""

    id: str
    identifier: str
    title: str | None
    team_id: str | None
    team_key: str | None
    state_id: str | None
    state_name: str | None
    state_type: str | None
    url: str | None
    linear_updated_at: datetime | None
    removed_at: datetime | None = None
    # integration_events.arrival of the event that carried it: settles a tie of updatedAt.
    last_arrival: int | None = None


def _issue(row: asyncpg.Record) -> LinearIssue:
    return LinearIssue(**dict(row))


async def upsert(conn: Queries, issue: LinearIssue) -> str | None:
    """'inserted', 'updated', or None when the stored row is as new or newer."""
    inserted = await conn.fetchval(UPSERT, *values(issue))
    if inserted is None:
        return None
    return "inserted" if inserted else "updated"


async def get(conn: asyncpg.Connection, issue_id: str) -> LinearIssue | None:
    row = await conn.fetchrow(BY_ID, issue_id)
    return None if row is None else _issue(row)


async def by_identifiers(conn: Queries, identifiers: Iterable[str]) -> dict[str, LinearIssue]:
    """The stored issues among `identifiers`, keyed by upper-cased identifier."""
    wanted = sorted({i.upper() for i in identifiers})
    rows = await conn.fetch(BY_IDENTIFIERS, wanted) if wanted else []
    return {row["identifier"].upper(): _issue(row) for row in rows}


async def known_team_keys(conn: Queries, keys: Iterable[str]) -> set[str]:
    """Those of `keys` (upper-cased) that some stored issue's team has."""
    wanted = sorted({k.upper() for k in keys})
    if not wanted:
        return set()
    return {row[0] for row in await conn.fetch(KNOWN_TEAM_KEYS, wanted)}
