"""What the GitHub handlers read alike from a payload: timestamps, its installation and its
repository (created on first sight, with a bare installation row when needed).

Events of different pull requests share their installation's and their repository's rows, and a
batch runs several such events in one transaction: written in the events' order, two batches at
once would take those rows in opposite orders and deadlock (a first sight, a refresh, and the
key-share lock each new pull request or check run takes on its repository). So take_shared()
runs first in each batch (app/router.py's prelude): installations in id order, then each
repository in GitHub id order, refreshed or held; the handlers after it find them current.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from app.router import EventRow
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


# The events whose handlers store their payload's repository (store_repository,
# ensure_repository), and those that store their installation (installations.record).
STORE_REPOSITORY = frozenset({"pull_request", "check_run", "repository"})
STORE_INSTALLATION = STORE_REPOSITORY | {"installation", "installation_repositories"}


async def take_shared(
    conn: asyncpg.Connection, events: Sequence[tuple[EventRow, Mapping[str, Any]]]
) -> None:
    """The installation and repository rows that a batch's events' handlers store, in one
    global order: the installations (a bare row for each one not stored) in id order, then each
    repository in GitHub id order, refreshed when its row does not say all the payload says,
    else locked FOR KEY SHARE (repositories.hold). Two payloads of one repository that differ:
    the later one's is stored, under the lock the handlers then write again under. A payload
    that names no whole repository is left to its handlers."""
    installation_ids: set[int] = set()
    found: dict[int, Repository] = {}
    for row, payload in events:
        if row.source != "github" or row.event_type not in STORE_INSTALLATION:
            continue
        try:
            installation = installation_id(payload)
            repository = None
            if row.event_type in STORE_REPOSITORY:
                repository = repository_from_payload(payload)
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        if installation is not None:
            installation_ids.add(installation)
        # Stored repositories need an id and a full_name: left to the handler otherwise.
        if (
            repository is not None
            and isinstance(repository.github_id, int)
            and isinstance(repository.full_name, str)
        ):
            found[repository.github_id] = repository
    if installation_ids:
        await installations.ensure_all(conn, installation_ids)
    for github_id in sorted(found):
        await repositories.hold(conn, found[github_id])
