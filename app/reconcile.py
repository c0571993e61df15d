"""Queue backfills and reconciles: hookwise looks at GitHub, not only listens to it.

Webhooks only say what changes after the App is installed, and GitHub keeps failed deliveries for
3 days. So each repository is looked at when it joins an installation (backfill), every so often
(reconcile, on a schedule inside the worker), and when an operator asks (`hookwise reconcile`).

The work is a synthetic event per repository in integration_events, run by the worker like any
webhook: retried with backoff, rescheduled on rate limits, visible in `hookwise status`, replayable,
and serialised per repository. app/handlers/backfill.py does the looking.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from app.store import events, integrations, repositories, repository_keys
from app.store.repositories import Watched

log = logging.getLogger(__name__)

BACKFILL = "hookwise.backfill"
RECONCILE = "hookwise.reconcile"
KINDS = (BACKFILL, RECONCILE)
# An installation whose `created` event lists no repositories (the field is optional in
# GitHub's webhook schemas): its repositories are asked of GET /installation/repositories.
LIST_REPOSITORIES = "hookwise.list_repositories"
# How often the schedule looks for due repositories: a repository becomes due up to this long
# before it is queued, rather than a whole interval late.
TICK = 300.0


@dataclass(frozen=True)
class Target:
    """A repository to look at, and the installation whose token may read it."""

    github_id: int
    full_name: str
    installation_id: int

    @classmethod
    def of(cls, stored: Watched) -> Target | None:
        if stored.installation_id is None:
            return None
        return cls(stored.github_id, stored.full_name, stored.installation_id)


@dataclass(frozen=True)
class Queued:
    target: Target
    event_type: str
    # None: an event of this kind was queued for the repository already and has not run yet.
    event_id: uuid.UUID | None


def payload(target: Target) -> dict[str, Any]:
    """Shaped like a webhook's, so serial_keys and the handlers read it the same way."""
    return {
        "repository": {"id": target.github_id, "full_name": target.full_name},
        "installation": {"id": target.installation_id},
    }


async def enqueue(
    conn: asyncpg.Connection,
    event_type: str,
    targets: Iterable[Target],
    *,
    cause: str | None = None,
    skip_queued: bool = True,
) -> list[Queued]:
    """One event per repository, in the caller's transaction (workers wake when it commits).

    cause: what asked for it (an event id), so retrying or replaying that event queues nothing
    new; without one, every call queues afresh. skip_queued: leave out repositories with an event
    of this kind still to run.
    """
    integration_id = await integrations.id_of(conn, "github")
    waiting = await events.queued_own(conn, [event_type]) if skip_queued else {}
    kind = event_type.removeprefix("hookwise.")
    queued = []
    for target in targets:
        if target.github_id in waiting:
            queued.append(Queued(target, event_type, None))
            continue
        new_id = await events.enqueue_own(
            conn,
            integration_id=integration_id,
            source="github",
            delivery_id=f"{kind}:{target.github_id}:{cause or uuid.uuid4()}",
            event_type=event_type,
            payload=payload(target),
        )
        queued.append(Queued(target, event_type, new_id))
    return queued


def targets(stored: Iterable[Watched]) -> list[Target]:
    return [t for t in map(Target.of, stored) if t is not None]


# Workers share the schedule; the lock makes one of them run it at a time, and by hand waits.
TRY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended('hookwise reconcile', 0))"
LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('hookwise reconcile', 0))"


async def scheduled_run(conn: asyncpg.Connection, *, every: timedelta) -> list[Queued] | None:
    """Queue a reconcile for each repository not polled for `every`; None when another process
    holds the schedule."""
    async with conn.transaction():
        if not await conn.fetchval(TRY_LOCK):
            return None
        due = await repositories.due(conn, older_than=every)
        queued = await enqueue(conn, RECONCILE, targets(due))
    return [q for q in queued if q.event_id is not None]


class UnknownRepository(LookupError):
    """No repository of that name is stored (or it was removed from the installation)."""


async def by_hand(conn: asyncpg.Connection, *, full_name: str | None) -> list[Queued]:
    """Queue a reconcile now: of one repository, brought back to active whatever its failures;
    or of every repository the schedule would look at, due or not."""
    async with conn.transaction():
        await conn.execute(LOCK)
        if full_name is None:
            chosen = await repositories.due(conn, older_than=None)
        else:
            chosen = await repositories.by_full_name(conn, full_name)
            if not chosen:
                raise UnknownRepository(f"no repository {full_name} is installed")
            # Their keys first, as every writer of repository rows holds them (holding no
            # row yet, this waits as a batch's prelude does: app/store/repository_keys.py).
            github_ids = [r.github_id for r in chosen]
            await repository_keys.take(conn, dict.fromkeys(github_ids, True), ())
            await repositories.reactivate(conn, github_ids)
        return await enqueue(conn, RECONCILE, targets(chosen))


async def after_installation_change(
    conn: asyncpg.Connection,
    event_type: str,
    installation_id: int,
    github_ids: Iterable[int] | None,
    *,
    cause: str,
) -> list[Queued]:
    """An installation event changed what the App may see: repositories that failed get a clean
    record, and each is queued for a look (`github_ids` None: all of the installation's)."""
    stored = await repositories.of_installation(conn, installation_id)
    if github_ids is not None:
        wanted = set(github_ids)
        stored = [r for r in stored if r.github_id in wanted]
    await repositories.reactivate(conn, [r.github_id for r in stored])
    queued = await enqueue(conn, event_type, targets(stored), cause=cause, skip_queued=False)
    if queued:
        log.info(
            "queued %s of %d repositories of installation %d",
            event_type,
            len(queued),
            installation_id,
            extra={"action": "reconcile_queued"},
        )
    return queued


async def list_repositories(conn: asyncpg.Connection, installation_id: int, *, cause: str) -> None:
    """Queue a listing of the installation's repositories, each then backfilled; `cause` (the
    installation event) keeps a retry or replay of it from queueing a second one."""
    await events.enqueue_own(
        conn,
        integration_id=await integrations.id_of(conn, "github"),
        source="github",
        delivery_id=f"list_repositories:{installation_id}:{cause}",
        event_type=LIST_REPOSITORIES,
        payload={"installation": {"id": installation_id}},
    )
