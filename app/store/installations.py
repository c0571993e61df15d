"""Queries on `installations`: the App's installations, keyed by GitHub's own installation id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

# Events other than `installation` name only the id; repositories need the row for their FK.
# A read first: ON CONFLICT alone waits for a transaction updating the stored row (an
# installation event's), which a handler after its batch's prelude must never do
# (app/handlers/github_payload.take_shared).
ENSURE = """
INSERT INTO installations (id)
SELECT $1::bigint WHERE NOT EXISTS (SELECT FROM installations WHERE id = $1::bigint)
ON CONFLICT (id) DO NOTHING
"""

# NO KEY UPDATE rather than UPDATE: repository writes referencing this row take KEY SHARE locks,
# which this does not block, so PR and check-run handlers never queue behind installation events.
LOCK = """
SELECT last_event_at, last_arrival, deleted_at FROM installations WHERE id = $1 FOR NO KEY UPDATE
"""

# The IS DISTINCT FROM guard makes a replay a no-op, down to updated_at. last_arrival is in it:
# the same view arriving later is written, for its arrival (as a pull request's next delivery
# is, by its last_delivery_id). Else an event that arrived between the two and is handled after
# both (it waited for its retry, or was dead-lettered and replayed) would find the earlier
# arrival stored and undo the later one: a suspend retried after an unsuspend that said what
# the row said already. A payload without an arrival keeps the stored one. An uninstalled
# installation's row stays as its deletion left it: nothing after is news (GitHub never reuses
# its id), and a late redelivery changes nothing.
UPDATE = """
UPDATE installations
SET account_login = $2, account_type = $3, account_id = $4, target_type = $5,
    repository_selection = $6, permissions = $7::jsonb, events = $8::text[],
    suspended_at = $9, suspended_by = $10, last_event_at = $11,
    last_arrival = COALESCE($12::bigint, last_arrival)
WHERE id = $1 AND deleted_at IS NULL
  AND (account_login, account_type, account_id, target_type, repository_selection, permissions,
       events, suspended_at, suspended_by, last_event_at, last_arrival)
      IS DISTINCT FROM
      ($2::text, $3::text, $4::bigint, $5::text, $6::text, $7::jsonb, $8::text[],
       $9::timestamptz, $10::text, $11::timestamptz, COALESCE($12::bigint, last_arrival))
"""

MARK_DELETED = "UPDATE installations SET deleted_at = now() WHERE id = $1 AND deleted_at IS NULL"

STANDING = "SELECT deleted_at IS NOT NULL AS deleted, suspended_at FROM installations WHERE id = $1"


@dataclass(frozen=True)
class Installation:
    """What an installation payload says about the installation."""

    id: int
    # installation.updated_at of the payload: orders deliveries, stored as last_event_at.
    stamp: datetime | None
    # integration_events.arrival of the event that carried it: settles a tie of stamps.
    arrival: int | None = None
    account_login: str | None = None
    account_type: str | None = None
    account_id: int | None = None
    target_type: str | None = None
    repository_selection: str | None = None
    permissions: Mapping[str, Any] = field(default_factory=dict)
    events: Sequence[str] = ()
    suspended_at: datetime | None = None
    suspended_by: str | None = None


async def ensure(conn: asyncpg.Connection, installation_id: int) -> None:
    """A bare row for an installation known only by id; an existing row is left alone."""
    await conn.execute(ENSURE, installation_id)


async def record(conn: asyncpg.Connection, installation: Installation) -> bool:
    """Store the payload's view unless the stored one is newer.

    True when the payload is at least as new as anything stored and the installation is not
    deleted: only then may the caller apply the event's repository changes.
    """
    await ensure(conn, installation.id)
    stored = await conn.fetchrow(LOCK, installation.id)
    assert stored is not None  # ensured just above
    if _older(installation, stored["last_event_at"], stored["last_arrival"]):
        return False
    await conn.execute(
        UPDATE,
        installation.id,
        installation.account_login,
        installation.account_type,
        installation.account_id,
        installation.target_type,
        installation.repository_selection,
        dict(installation.permissions),
        list(installation.events),
        installation.suspended_at,
        installation.suspended_by,
        installation.stamp,
        installation.arrival,
    )
    return stored["deleted_at"] is None


def _older(installation: Installation, stamp: datetime | None, arrival: int | None) -> bool:
    """Whether the stored view (`stamp`, `arrival`) is newer than the payload's.

    GitHub leaves installation.updated_at alone on suspend and unsuspend and when repositories
    are added or removed (its own examples of those events share one updated_at), so of equal
    stamps the later arrival is news, and an earlier one (a replay, or an event handled after
    a later one) is not: `hookwise replay` of a suspend after the unsuspend would suspend the
    installation again. A row or payload without an arrival (stored before migration 0018)
    takes an equal stamp, as before."""
    if stamp is None:
        return False
    if installation.stamp is None or installation.stamp != stamp:
        return installation.stamp is None or installation.stamp < stamp
    return (
        installation.arrival is not None and arrival is not None and installation.arrival < arrival
    )


async def mark_deleted(conn: asyncpg.Connection, installation_id: int) -> None:
    """Uninstalled: marked once, never dropped, so its repositories and PRs keep their history."""
    await conn.execute(MARK_DELETED, installation_id)


@dataclass(frozen=True)
class Standing:
    """What the stored row says of an installation: uninstalled, and suspended since when."""

    deleted: bool
    suspended_at: datetime | None


async def standing(conn: asyncpg.Connection, installation_id: int) -> Standing | None:
    """The stored installation's Standing; None when no row has that id. A read: no lock."""
    found = await conn.fetchrow(STANDING, installation_id)
    return None if found is None else Standing(found["deleted"], found["suspended_at"])
