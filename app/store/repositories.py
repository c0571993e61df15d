"""Queries on `repositories`: the repositories of each installation, marked, never deleted.

Which payload's word stands. Every event's `repository` object describes the repository as it
was when GitHub made the payload, and GitHub may hand one over long after (a redelivery sends
the original body again, days later; `hookwise replay` hands an old one to the handlers again;
a retried event is handled after later ones). What tells a payload's age:

- `repository.updated_at`, GitHub's own time (whole seconds) of the repository's last change,
  in every full repository object: webhook payloads and GitHub's REST answers alike (GitHub's
  webhook schemas, octokit/webhooks payload-schemas common/repository.schema.json, require it
  and always as a date-time string). It moves with changes to the repository object, not only
  with pushes (GitHub's answer in "What is the difference between pushed_at and updated_at",
  Stack Overflow 15918588: a description, a setting; the `privatized` and `publicized` payloads
  of @octokit/webhooks-examples carry an updated_at past every earlier payload of their
  repository), and a payload's attributes and its updated_at are read together, so a payload
  with a later updated_at never describes an earlier repository.
- Not `pushed_at`: only pushes move it (a rename, a visibility or default branch change do not),
  and it is an integer in `push` payloads, a string elsewhere (GitHub support in
  isaacs/github#1534: kept so on purpose).
- Not the delivery: its headers (X-GitHub-Delivery, X-GitHub-Event, X-GitHub-Hook-ID, the
  signatures) carry no time, and a redelivery is a new request with the original body.
- Nothing in installation payloads: their repository lists have id, name, full_name and
  private only.

So a payload sets the row's owner, name, full_name, url, default_branch, private, fork and
installation_id only when it is NEWER: later by GitHub's time (github_updated_at), and on equal
times (one second) by arrival (integration_events.arrival, stored as names_arrival: named when
it ordered the names alone), as pull requests are ordered by theirs. Where the payload or the
row has no time, the arrival alone decides, as it always did: never worse than arrival order,
and a late or replayed payload with an older updated_at changes nothing. Equal values need no
write; a payload with a later time but the same values still stores its time (else a payload
between the two would win).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg

from app.store import repository_keys
from app.store.events import ARRIVAL_BLOCK
from app.store.pool import Queries
from app.store.rows import many, one


def newer(clock: str, arrival: str, row: str) -> str:
    """SQL: whether a payload of GitHub time `clock` (timestamptz, NULL: none) and arrival
    `arrival` (bigint, NULL: older than any) may set what the repository row `row` (an alias)
    says: not older by GitHub's time, and on equal times, or without a time on either side,
    not arrived before the payload that set it."""
    return f"""CASE WHEN {clock} IS NULL OR {row}.github_updated_at IS NULL
     THEN COALESCE({arrival}, 0) >= COALESCE({row}.names_arrival, 0)
     ELSE ({clock}, COALESCE({arrival}, 0))
          >= ({row}.github_updated_at, COALESCE({row}.names_arrival, 0)) END"""


# Fields a payload leaves out (None) keep their stored value: installation_repositories payloads
# carry no default branch, and PR payloads delivered outside an installation no installation id.
# The row is current for a payload that says nothing new (its time no later either), and for
# one older than what set it (NEWER: it says nothing). Also the `repo` CTE of the PR and
# check-run handlers' one statement (check_runs.RECORD, pull_requests.RECORD): $1-$11 are
# Repository.args() there too.
CURRENT = f"""
SELECT id FROM repositories r
WHERE github_id = $1
  AND (((installation_id, owner, name, full_name, default_branch, private, fork, url)
        IS NOT DISTINCT FROM
        (COALESCE($2::bigint, installation_id), COALESCE($3::text, owner),
         COALESCE($4::text, name), $5::text, COALESCE($6::text, default_branch),
         COALESCE($7::boolean, private), COALESCE($8::boolean, fork), COALESCE($9::text, url))
        AND ($11::timestamptz IS NULL OR $11::timestamptz <= github_updated_at))
       OR NOT ({newer("$11::timestamptz", "$10::bigint", "r")}))
"""

# Whether a payload (EXCLUDED) may set what the row (r) says.
NEWER = newer("EXCLUDED.github_updated_at", "EXCLUDED.names_arrival", "r")

# CURRENT, the row then held until commit (HOLD_AS): no transaction can change its key (url) or
# remove it meanwhile, and our own foreign keys to it take no lock of their own.
#
# How strongly a batch's prelude takes a repository's row (app/handlers/github_payload.py): at
# least as strongly as anything after it in the transaction will, since a lock taken weaker
# first and strengthened later waits for the other holders of the weaker one, each of which may
# be about to do the same (a deadlock). KEY SHARE for events that only read it and reference it;
# NO KEY UPDATE for those that change its status or membership (installation events); UPDATE
# for those that write its pull requests and check runs in an order of their own (backfill,
# reconcile: every other writer of them holds the row at least KEY SHARE, so it waits first),
# or that refresh it again (two payloads of it in one batch).
STRENGTHS = ("KEY SHARE", "NO KEY UPDATE", "UPDATE")
HOLD_AS = {strength: f"{CURRENT}FOR {strength}\n" for strength in STRENGTHS}
LOCK_AS = {
    strength: f"SELECT id FROM repositories WHERE github_id = $1 FOR {strength}"
    for strength in STRENGTHS
}

# The URL is unique: when GitHub shows it for this repository, another row holding it (a
# repository renamed or deleted since, whose event never came) no longer has it. That row is
# outside the order in which a batch takes repositories, so it is never waited for: neither
# its key (taken without waiting, as every writer of a row holds its key first; a transaction
# holding it may lock the row later, after rows it has us wait for) nor the row (SKIP
# LOCKED). Either held by another transaction, it keeps the URL and this one's row stores none
# (UPSERT). At most one row has the URL, so at most one key is taken. Nor does a payload older
# than what set this one's row ($3 its arrival, $4 its GitHub time: NEWER) take it: the URL of
# an old name, which another repository may hold by right now. That test comes first (a
# one-time filter), before any key.
RELEASE_URL = f"""
UPDATE repositories SET url = NULL
WHERE id IN (
    SELECT id FROM repositories
    WHERE NOT EXISTS (
            SELECT FROM repositories mine
            WHERE mine.github_id = $2
              AND NOT ({newer("$4::timestamptz", "$3::bigint", "mine")}))
      AND url = $1 AND github_id <> $2
      AND pg_try_advisory_xact_lock({repository_keys.KEY.format(id="github_id")})
    FOR UPDATE SKIP LOCKED)
"""

# What a payload sets (a value it leaves out keeps the stored one), each only from a payload
# NEWER than what set the row; $10 its arrival, $11 its GitHub time.
SET_BY_PAYLOAD = {
    "installation_id": "COALESCE(EXCLUDED.installation_id, r.installation_id)",
    "owner": "COALESCE(EXCLUDED.owner, r.owner)",
    "name": "COALESCE(EXCLUDED.name, r.name)",
    "full_name": "EXCLUDED.full_name",
    "default_branch": "COALESCE(EXCLUDED.default_branch, r.default_branch)",
    "private": "COALESCE(EXCLUDED.private, r.private)",
    "fork": "COALESCE(EXCLUDED.fork, r.fork)",
    "url": "COALESCE(EXCLUDED.url, r.url)",
    "names_arrival": "COALESCE(EXCLUDED.names_arrival, r.names_arrival)",
    "github_updated_at": "COALESCE(EXCLUDED.github_updated_at, r.github_updated_at)",
}


def _if_newer(columns: Iterable[str]) -> str:
    """SET clauses: each of `columns` as SET_BY_PAYLOAD says, when the payload is NEWER."""
    return ",\n    ".join(
        f"{c} = CASE WHEN {NEWER} THEN {SET_BY_PAYLOAD[c]} ELSE r.{c} END" for c in columns
    )


UPSERT = f"""
INSERT INTO repositories AS r
    (github_id, installation_id, owner, name, full_name, default_branch, private, fork, url,
     names_arrival, github_updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
        CASE WHEN EXISTS (SELECT FROM repositories WHERE url = $9 AND github_id <> $1) THEN NULL
             ELSE $9 END,
        $10, $11)
ON CONFLICT (github_id) DO UPDATE SET
    {_if_newer(SET_BY_PAYLOAD)}
RETURNING id
"""

# Renamed or transferred, as GitHub's answer about it said: something it says differs, and it
# is not older by GitHub's time than what set the row ($4: a read from a replica behind the
# payload stored). SKIP LOCKED: the caller may be inside an event whose own transaction holds
# the row; the new name then waits for the next redirect or the `repository` webhook rather
# than for that transaction (which waits for the caller).
MOVING = """
SELECT id FROM repositories
WHERE github_id = $1
  AND (full_name <> $2 OR url IS DISTINCT FROM $3
       OR (default_branch, private, fork)
          IS DISTINCT FROM
          (COALESCE($5::text, default_branch), COALESCE($6::boolean, private),
           COALESCE($7::boolean, fork)))
  AND ($4::timestamptz IS NULL OR github_updated_at IS NULL OR $4 >= github_updated_at)
FOR UPDATE SKIP LOCKED
"""

# The new URL is unique too: a row still holding it (a repository deleted or moved off the name
# since, whose event never came) gives it up, unless a transaction holds that row or its key
# (taken here without waiting, as in RELEASE_URL).
RELEASE_URL_UNLOCKED = f"""
UPDATE repositories SET url = NULL
WHERE id IN (
    SELECT id FROM repositories
    WHERE url = $1 AND id <> $2
      AND pg_try_advisory_xact_lock({repository_keys.KEY.format(id="github_id")})
    FOR UPDATE SKIP LOCKED)
"""

# The repository as GitHub's answer gives it ($5-$7 None: keep), and the old URL is wrong now:
# the new one when no other row still holds it, else none (the next `repository` webhook or PR
# event sets it). GitHub said so just now, so no event stored before may undo it: the arrival
# becomes the first a batch stored after this may have (the arrival sequence's last block, $8 =
# its increment, past its end), and GitHub's time its answer's ($4): a payload stored later but
# made before (older by that time) does not undo it either, one made since does. Never called
# yet: no event is stored, any may.
MOVED = """
UPDATE repositories
SET full_name = $2, owner = split_part($2, '/', 1), name = split_part($2, '/', 2),
    url = CASE WHEN EXISTS (SELECT FROM repositories WHERE url = $3 AND id <> $1)
               THEN NULL ELSE $3 END,
    default_branch = COALESCE($5::text, default_branch),
    private = COALESCE($6::boolean, private),
    fork = COALESCE($7::boolean, fork),
    names_arrival = GREATEST(
        names_arrival,
        COALESCE(pg_sequence_last_value('integration_events_arrival_seq') + $8::bigint, 0)),
    github_updated_at = GREATEST(github_updated_at, $4::timestamptz)
WHERE id = $1
"""

# A `repository` webhook's status change; `archived` and `active` leave a removed one alone, and
# come only from a payload no older than what set the row ($3 its arrival, $4 its GitHub time:
# NEWER): an `archived` GitHub redelivers after the `unarchived` leaves it active. `removed`
# (deleted) applies whenever it is handled: GitHub never reuses a repository's id, so nothing
# after a deletion undoes it, and a payload that arrived after it (made before, of the same
# updated_at) and was handled first must not keep the repository active.
STATUS = f"""
UPDATE repositories r
SET status = $2::repository_status,
    removed_at = CASE WHEN $2 = 'removed' THEN coalesce(removed_at, now()) ELSE removed_at END
WHERE github_id = $1 AND status <> $2::repository_status
  AND ($2 = 'removed' OR status <> 'removed')
  AND ($2 <> 'active' OR status = 'archived')
  AND ($2 = 'removed' OR {newer("$4::timestamptz", "$3::bigint", "r")})
"""

# Which installation a repository belongs to, and whether it is removed, is ordered by its own
# arrival (membership_arrival: the installation event that last added or removed it, $7 its
# arrival), apart from the installation's view (installations.record): an `added` or `removed`
# handled late (retried, replayed) changes nothing when a later one of the repository came
# first, and still applies when only another installation event did. The same membership
# arriving later records its arrival, else an event between the two, handled after both, would
# undo the later. NULL: older than any.
MEMBERSHIP_LATER = "COALESCE($7::bigint, 0) >= COALESCE(r.membership_arrival, 0)"

# Added to an installation: active again and the installation's, whatever it was (unless
# MEMBERSHIP_LATER says otherwise); its names and visibility only from a payload NEWER ($7 its
# arrival, $8 its GitHub time: listed by GitHub's API, not by a webhook, which gives none), as
# UPSERT.
MEMBERSHIP_NEWER = ("owner", "name", "full_name", "private", "names_arrival", "github_updated_at")
ADD = f"""
INSERT INTO repositories AS r
    (github_id, installation_id, owner, name, full_name, private, names_arrival,
     github_updated_at, membership_arrival)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7)
ON CONFLICT (github_id) DO UPDATE SET
    installation_id = EXCLUDED.installation_id,
    {_if_newer(MEMBERSHIP_NEWER)},
    status = 'active',
    removed_at = NULL,
    membership_arrival = COALESCE(EXCLUDED.membership_arrival, r.membership_arrival)
WHERE {MEMBERSHIP_LATER}
  AND ((r.installation_id, r.status, r.removed_at, r.membership_arrival)
       IS DISTINCT FROM
       (EXCLUDED.installation_id, 'active'::repository_status, NULL::timestamptz,
        COALESCE(EXCLUDED.membership_arrival, r.membership_arrival))
       OR ({NEWER}
           AND ((r.owner, r.name, r.full_name, r.private)
                IS DISTINCT FROM
                (COALESCE(EXCLUDED.owner, r.owner), COALESCE(EXCLUDED.name, r.name),
                 EXCLUDED.full_name, COALESCE(EXCLUDED.private, r.private))
                OR EXCLUDED.github_updated_at IS DISTINCT FROM r.github_updated_at
                   AND EXCLUDED.github_updated_at IS NOT NULL)))
"""

# Removed: a repository never seen before is still recorded, so a later PR event finds it removed.
# One that has since moved to another installation is not this installation's to remove; nor
# one a later event of its installation added again (MEMBERSHIP_LATER).
REMOVE = f"""
INSERT INTO repositories AS r
    (github_id, installation_id, owner, name, full_name, private, names_arrival,
     github_updated_at, membership_arrival, status, removed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, 'removed', now())
ON CONFLICT (github_id) DO UPDATE SET
    status = 'removed',
    removed_at = COALESCE(r.removed_at, now()),
    membership_arrival = COALESCE(EXCLUDED.membership_arrival, r.membership_arrival)
WHERE (r.installation_id IS NULL OR r.installation_id = EXCLUDED.installation_id)
  AND {MEMBERSHIP_LATER}
  AND (r.status, r.membership_arrival)
      IS DISTINCT FROM
      ('removed'::repository_status, COALESCE(EXCLUDED.membership_arrival, r.membership_arrival))
"""

# The rows locked first in GitHub id order, as every batch takes repositories
# (app/handlers/github_payload.take_shared); an UPDATE alone takes them in scan order. $3 the
# event's arrival, as in REMOVE.
REMOVE_KNOWN = """
UPDATE repositories
SET status = 'removed', removed_at = COALESCE(removed_at, now()),
    membership_arrival = COALESCE($3::bigint, membership_arrival)
WHERE id IN (
    SELECT id FROM repositories r
    WHERE github_id = ANY($2::bigint[])
      AND (installation_id IS NULL OR installation_id = $1)
      AND COALESCE($3::bigint, 0) >= COALESCE(membership_arrival, 0)
      AND (status, membership_arrival)
          IS DISTINCT FROM
          ('removed'::repository_status, COALESCE($3::bigint, membership_arrival))
    ORDER BY github_id FOR NO KEY UPDATE)
"""

REMOVE_ALL = """
UPDATE repositories SET status = 'removed', removed_at = now()
WHERE id IN (
    SELECT id FROM repositories WHERE installation_id = $1 AND status <> 'removed'
    ORDER BY github_id FOR NO KEY UPDATE)
"""

# The GitHub ids of these installations' repositories: the rows an installation event that
# changes them all (deleted; unsuspend, new permissions: reactivated) takes in a batch's order.
OF_INSTALLATIONS = """
SELECT github_id FROM repositories WHERE installation_id = ANY($1::bigint[]) AND status <> 'removed'
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
    # The repository's html_url.
    url: str | None = None
    # integration_events.arrival of the event whose payload says this. None: older than any.
    arrival: int | None = None
    # The repository object's updated_at, GitHub's time of the repository's last change when
    # it made the payload. None: the payload gives none (installation payloads).
    updated_at: datetime | None = None

    def args(self) -> tuple[object, ...]:
        """$1-$11 of CURRENT, UPSERT and the statements that begin with CURRENT."""
        return (
            self.github_id,
            self.installation_id,
            self.owner,
            self.name,
            self.full_name,
            self.default_branch,
            self.private,
            self.fork,
            self.url,
            self.arrival,
            self.updated_at,
        )

    def said(self) -> Repository:
        """What the payload says of the repository, whenever GitHub made it and it arrived."""
        return replace(self, arrival=None, updated_at=None)


async def current(conn: asyncpg.Connection, repository: Repository) -> UUID | None:
    """The repository's id when its row says all the payload says already (its installation
    included, so that row exists too), or the payload is older than what set the row (it says
    nothing then); else None. A read: no lock."""
    found: UUID | None = await conn.fetchval(CURRENT, *repository.args())
    return found


async def upsert(conn: asyncpg.Connection, repository: Repository) -> UUID:
    """The repository's id, inserting or refreshing it first when the payload says more."""
    # Every PR and check-run event passes here. An upsert would lock the row until commit even
    # when nothing changes, serialising all events of a repository; a read does not.
    found: UUID | None = await conn.fetchval(CURRENT, *repository.args())
    if found is not None:
        return found
    return await refresh(conn, repository)


async def hold(
    conn: asyncpg.Connection, repository: Repository, *, strength: str = "KEY SHARE"
) -> UUID:
    """The repository's id, its row current and held until the transaction ends: locked FOR
    `strength` (one of STRENGTHS) when it says all the payload says already or the payload is
    older than what set it (CURRENT; a read that waits for a refresh in flight, then looks
    again), else refreshed (and so locked FOR UPDATE). Its installation's row must exist."""
    found: UUID | None = await conn.fetchval(HOLD_AS[strength], *repository.args())
    if found is not None:
        return found
    return await refresh(conn, repository)


async def lock(conn: asyncpg.Connection, github_id: int, *, strength: str) -> None:
    """Hold the stored row of the repository `github_id` FOR `strength` (one of STRENGTHS)
    until the transaction ends; nothing when none is stored."""
    await conn.execute(LOCK_AS[strength], github_id)


async def of_installations(conn: asyncpg.Connection, installation_ids: Iterable[int]) -> list[int]:
    """GitHub ids of the repositories of these installations that are not removed."""
    rows = await conn.fetch(OF_INSTALLATIONS, sorted(set(installation_ids)))
    return [int(r["github_id"]) for r in rows]


async def refresh(conn: asyncpg.Connection, repository: Repository) -> UUID:
    """The repository's id once inserted or refreshed from what the payload says (None fields
    keep what is stored; nothing changes when the payload is older than what set the row:
    NEWER), without reading first: for a caller that knows its row is not current. Its
    installation's row must exist (a foreign key)."""
    if repository.url is not None:
        await conn.execute(
            RELEASE_URL,
            repository.url,
            repository.github_id,
            repository.arrival,
            repository.updated_at,
        )
    stored: UUID = await conn.fetchval(UPSERT, *repository.args())
    return stored


async def moved(conn: asyncpg.Connection, repository: Repository) -> bool:
    """Store a repository as GitHub's answer about it gives it now (github_id, full_name, url:
    its html_url, updated_at, and what it says of default_branch, private and fork), newer than
    what any event stored so far says (MOVED), unless older by GitHub's time than what set the
    row; False when nothing changed (the same already, not stored, older, or the row or its key
    is held by another transaction)."""
    async with conn.transaction():
        # Its key first, as every writer of a repository holds it (repository_keys), without
        # waiting: a batch holding it may be about to write the row.
        if await repository_keys.try_take(conn, [repository.github_id]):
            return False
        # $2-$7 of both statements: what the answer says.
        said = (
            repository.full_name,
            repository.url,
            repository.updated_at,
            repository.default_branch,
            repository.private,
            repository.fork,
        )
        found: UUID | None = await conn.fetchval(MOVING, repository.github_id, *said)
        if found is None:
            return False
        if repository.url is not None:
            await conn.execute(RELEASE_URL_UNLOCKED, repository.url, found)
        await conn.execute(MOVED, found, *said, ARRIVAL_BLOCK)
    return True


async def set_status(conn: asyncpg.Connection, repository: Repository, status: str) -> None:
    """`archived`, `active` (only an archived one: unarchived) or `removed` (deleted on
    GitHub), as the `repository` webhook whose payload says `repository` says; archived or
    active not when that payload is older than what set the row (NEWER), removed always."""
    await conn.execute(
        STATUS, repository.github_id, status, repository.arrival, repository.updated_at
    )


async def add(
    conn: asyncpg.Connection, installation_id: int, repositories: Iterable[Repository]
) -> None:
    """Mark repositories as part of an installation and active, unless a later event of an
    installation (by each one's arrival) added or removed them (MEMBERSHIP_LATER)."""
    # In id order, as every batch locks repositories (app/handlers/github_payload.take_shared).
    ordered = sorted(repositories, key=lambda r: r.github_id)
    await conn.executemany(ADD, [_membership(installation_id, r) for r in ordered])


async def remove(
    conn: asyncpg.Connection, installation_id: int, repositories: Iterable[Repository]
) -> None:
    """Mark repositories removed from an installation, keeping their rows and history, unless
    a later event of an installation (by each one's arrival) added or removed them."""
    ordered = sorted(repositories, key=lambda r: r.github_id)
    await conn.executemany(REMOVE, [_membership(installation_id, r) for r in ordered])


async def remove_known(
    conn: asyncpg.Connection, installation_id: int, github_ids: Iterable[int], arrival: int | None
) -> None:
    """Mark repositories removed by GitHub id alone: those not stored are left unknown, and
    those a later event (by `arrival`, the event's integration_events.arrival) added or
    removed are left as it said (MEMBERSHIP_LATER)."""
    await conn.execute(REMOVE_KNOWN, installation_id, list(github_ids), arrival)


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
        repository.arrival,
        repository.updated_at,
    )


# Backfill and reconcile: which repositories to look at, and how looking went.

WATCHED_COLUMNS = "r.id, r.github_id, r.full_name, r.installation_id, r.status, r.failure_count"

BY_GITHUB_ID = f"SELECT {WATCHED_COLUMNS} FROM repositories r WHERE r.github_id = $1"

# A name can be reused after a rename or transfer; the one not removed is meant.
BY_FULL_NAME = f"""
SELECT {WATCHED_COLUMNS} FROM repositories r
WHERE lower(r.full_name) = lower($1) AND r.status <> 'removed'
ORDER BY r.updated_at DESC
"""

OF_INSTALLATION = f"""
SELECT {WATCHED_COLUMNS} FROM repositories r
WHERE r.installation_id = $1 AND r.status <> 'removed'
ORDER BY r.github_id
"""

# 'error' is still looked at (so it can recover, or go on to 'suspended'); 'suspended' is not.
# Nor is anything of a suspended or uninstalled installation: GitHub would refuse its token.
# $1 NULL: every such repository, however recently polled.
DUE = f"""
SELECT {WATCHED_COLUMNS} FROM repositories r
JOIN installations i ON i.id = r.installation_id
WHERE r.status IN ('active', 'error')
  AND i.suspended_at IS NULL AND i.deleted_at IS NULL
  AND ($1::interval IS NULL OR r.last_polled_at IS NULL OR r.last_polled_at < now() - $1)
ORDER BY r.last_polled_at NULLS FIRST, r.github_id
"""

# The IS DISTINCT FROM guard makes a replayed installation event a no-op.
REACTIVATE = """
UPDATE repositories SET status = 'active', failure_count = 0, last_error = NULL
WHERE id IN (
    SELECT id FROM repositories
    WHERE github_id = ANY($1::bigint[]) AND status <> 'removed'
      AND (status, failure_count, last_error)
          IS DISTINCT FROM ('active'::repository_status, 0, NULL)
    ORDER BY github_id FOR NO KEY UPDATE)
"""

POLLED = """
UPDATE repositories
SET last_polled_at = now(), failure_count = 0, last_error = NULL,
    status = CASE WHEN status = 'error' THEN 'active' ELSE status END
WHERE id = $1
"""

# SET expressions read the row as it was, so failure_count + 1 is the new count throughout.
POLL_FAILED = """
UPDATE repositories
SET last_polled_at = now(), failure_count = failure_count + 1, last_error = $2,
    status = CASE
        WHEN status IN ('removed', 'suspended') THEN status
        WHEN failure_count + 1 >= $4 THEN 'suspended'
        WHEN failure_count + 1 >= $3 THEN 'error'
        ELSE status
    END
WHERE id = $1
RETURNING status, failure_count
"""

TROUBLED = """
SELECT full_name, status::text AS status, failure_count, last_error, last_polled_at
FROM repositories WHERE status IN ('error', 'suspended')
ORDER BY status DESC, full_name
"""


@dataclass(frozen=True)
class Watched:
    """A stored repository as backfill and reconcile need it."""

    id: UUID
    github_id: int
    full_name: str
    installation_id: int | None
    status: str
    failure_count: int


def _watched(records: Iterable[asyncpg.Record]) -> list[Watched]:
    return [Watched(**dict(record)) for record in records]


async def by_github_id(conn: asyncpg.Connection, github_id: int) -> Watched | None:
    found = _watched(await conn.fetch(BY_GITHUB_ID, github_id))
    return found[0] if found else None


async def by_full_name(conn: asyncpg.Connection, full_name: str) -> list[Watched]:
    """Repositories not removed with this owner/name (any case), most recently changed first."""
    return _watched(await conn.fetch(BY_FULL_NAME, full_name))


async def of_installation(conn: asyncpg.Connection, installation_id: int) -> list[Watched]:
    """The installation's repositories that are not removed."""
    return _watched(await conn.fetch(OF_INSTALLATION, installation_id))


async def due(conn: asyncpg.Connection, *, older_than: timedelta | None) -> list[Watched]:
    """Repositories to reconcile: not polled for `older_than` (None: all that may be polled)."""
    return _watched(await conn.fetch(DUE, older_than))


async def reactivate(conn: asyncpg.Connection, github_ids: Iterable[int]) -> None:
    """Back to active with a clean record: permissions or membership changed, so try again."""
    await conn.execute(REACTIVATE, list(github_ids))


async def polled(conn: asyncpg.Connection, repository_id: UUID) -> None:
    """A backfill or reconcile went through: due again only after the interval."""
    await conn.execute(POLLED, repository_id)


async def poll_failed(
    conn: asyncpg.Connection,
    repository_id: UUID,
    error: str,
    *,
    error_after: int,
    suspend_after: int,
) -> tuple[str, int]:
    """Count a refusal (404, 403); returns the repository's status and failure count now."""
    row = await conn.fetchrow(POLL_FAILED, repository_id, error, error_after, suspend_after)
    if row is None:
        raise LookupError(f"no repository has id {repository_id}")
    return str(row["status"]), int(row["failure_count"])


@dataclass(frozen=True)
class Troubled:
    """A repository in error or suspended: why, and since how many refusals."""

    full_name: str
    status: str
    failure_count: int
    last_error: str | None
    last_polled_at: datetime | None


async def troubled(conn: asyncpg.Connection) -> list[Troubled]:
    """Repositories in error or suspended, for `hookwise status`."""
    return many(Troubled, await conn.fetch(TROUBLED))


# seed 002's config_override: an operator's hookwise.yml settings for one repository.

CONFIG_OVERRIDE = """
SELECT config_override FROM repositories
WHERE lower(full_name) = lower($1) AND status <> 'removed'
ORDER BY updated_at DESC LIMIT 1
"""
CONFIG_OVERRIDE_BY_ID = "SELECT full_name, config_override FROM repositories WHERE id = $1"
SET_CONFIG_OVERRIDE = "UPDATE repositories SET config_override = $2::jsonb WHERE id = $1"


async def config_override(conn: Queries, full_name: str) -> dict[str, Any] | None:
    """The override of the repository not removed with this owner/name, or None."""
    row = await conn.fetchrow(CONFIG_OVERRIDE, full_name)
    return _json(row["config_override"]) if row is not None else None


class WithOverride(NamedTuple):
    full_name: str
    config_override: dict[str, Any] | None


async def with_override(conn: asyncpg.Connection, repository_id: UUID) -> WithOverride | None:
    """(full_name, config_override) of one repository."""
    return one(WithOverride, await conn.fetchrow(CONFIG_OVERRIDE_BY_ID, repository_id))


async def set_config_override(
    conn: asyncpg.Connection, repository_id: UUID, override: dict[str, Any] | None
) -> bool:
    """Replace the override (None: none); False when there is no such repository."""
    value = override or None
    return await conn.execute(SET_CONFIG_OVERRIDE, repository_id, value) == "UPDATE 1"


def _json(value: Any) -> dict[str, Any] | None:
    # Decoded by the pool's codec; text from a connection without it.
    found: dict[str, Any] | None = json.loads(value) if isinstance(value, str) else value
    return found
