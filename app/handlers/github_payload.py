"""What the GitHub handlers read alike from a payload: timestamps, its installation and its
repository (created on first sight, with a bare installation row when needed)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.store import installations, repositories
from app.store.repositories import Repository


def parse_time(value: Any) -> datetime | None:
    """A GitHub timestamp: ISO 8601 text mostly, epoch seconds in older installation payloads."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    parsed = datetime.fromisoformat(value)
    # A timestamp without an offset is UTC on GitHub; asyncpg would read it as local time.
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def installation_id(payload: Mapping[str, Any]) -> int | None:
    installation = payload.get("installation")
    return None if installation is None else int(installation["id"])


def repository_from_payload(payload: Mapping[str, Any]) -> Repository:
    """The full repository object of PR, check-run and most other events."""
    repo = payload["repository"]
    owner = repo.get("owner") or {}
    return Repository(
        github_id=repo["id"],
        full_name=repo["full_name"],
        name=repo.get("name"),
        owner=owner.get("login"),
        installation_id=installation_id(payload),
        default_branch=repo.get("default_branch"),
        private=repo.get("private"),
        fork=repo.get("fork"),
        url=repo.get("html_url"),
    )


async def ensure_repository(conn: asyncpg.Connection, payload: Mapping[str, Any]) -> UUID:
    """repositories.id of the payload's repository, creating it (and a bare installation)."""
    repository = repository_from_payload(payload)
    # Every PR and check-run event passes here: one read when nothing changed (the row's
    # installation_id is a foreign key, so a row naming the payload's installation means the
    # installation's row is there too).
    stored = await repositories.current(conn, repository)
    if stored is not None:
        return stored
    return await store_repository(conn, repository)


async def store_repository(conn: asyncpg.Connection, repository: Repository) -> UUID:
    """repositories.id of `repository` once inserted or refreshed, its installation's bare row
    first when there is none; for a caller that found its row not current (no read first)."""
    if repository.installation_id is not None:
        await installations.ensure(conn, repository.installation_id)
    return await repositories.refresh(conn, repository)
