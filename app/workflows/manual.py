"""Manual runs and schedules of declared workflows: executions started by a person (`hookwise
run`, the button on a pull request's admin page) or by the clock.

A manual run is on purpose each time, so its key carries a fresh id. A schedule's key is
the workflow and the slot (the cron time it fires for): however many workers look, one slot
starts one execution, and the workers look under an advisory lock, as reconcile's schedule does.
Slots missed while no worker ran are not replayed one by one: the latest runs once.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import asyncpg
from cronsim import CronSim

from app.store import declared, executions
from app.store.declared import Stored
from app.store.executions import Start
from app.store.rows import many, one
from app.workflows.spec import Workflow
from app.workflows.triggers import trigger_data

PULL = re.compile(r"(?P<repo>[^/\s]+/[^/#\s]+)#(?P<number>\d+)")
NOTIFY = "SELECT pg_notify('hookwise_events', '')"


class CannotRun(LookupError):
    """No such pull request or workflow, or the workflow has no manual trigger."""


@dataclass(frozen=True)
class Started:
    id: uuid.UUID
    workflow: str
    label: str


async def run_on_pull(
    conn: asyncpg.Connection, workflow_name: str, pull: str, *, asked_by: str
) -> Started:
    """Start `workflow_name` (as its file names it) on `pull` ('owner/repo#N') now."""
    found = PULL.fullmatch(pull)
    if found is None:
        raise CannotRun(f"a pull request is owner/repo#N, not {pull!r}")
    repo, number = found["repo"], int(found["number"])
    async with conn.transaction():
        row = await declared.pull_by_name(conn, repo, number)
        if row is None:
            raise CannotRun(f"no pull request {pull} is stored")
        if row.installation_id is None:
            raise CannotRun(f"the repository of {pull} belongs to no installation of the App")
        scopes = declared.scopes_of({"id": row.repository_github_id, "full_name": repo})
        stored = await _manual(conn, scopes, workflow_name, repo)
        data = trigger_data(
            stored,
            event="manual",
            payload=_payload(row.repository_github_id, repo, row.installation_id, asked_by),
            repo=repo,
            number=number,
            installation=row.installation_id,
        )
        key = f"wf:{stored.id}:{row.id}:manual:{uuid.uuid4()}"
        started = await executions.start(
            conn,
            Start(
                workflow=stored.name,
                key=key,
                subject=f"pr:{row.id}",
                subject_label=pull,
                trigger_type="manual",
                payload=data,
                pull_request_id=row.id,
                installation_id=row.installation_id,
            ),
        )
        assert started is not None
        await conn.execute(NOTIFY)
    return Started(started, stored.name, pull)


async def _manual(conn: asyncpg.Connection, scopes: list[str], name: str, repo: str) -> Stored:
    stored = await declared.by_name(conn, scopes, name)
    if stored is None:
        raise CannotRun(f"no active workflow {name!r} is declared for {repo}")
    if not Workflow.model_validate(stored.definition).on.manual:
        raise CannotRun(f"workflow {name!r} has no `manual: true` in its on:")
    return stored


def _payload(repository_id: int, repo: str, installation: int, sender: str) -> dict[str, Any]:
    return {
        "repository": {"id": repository_id, "full_name": repo},
        "installation": {"id": installation},
        "sender": {"login": sender},
    }


async def run_on_repo(
    conn: asyncpg.Connection, workflow_name: str, repo: str, *, asked_by: str
) -> Started:
    """Start a repository's workflow (close_stale) now."""
    async with conn.transaction():
        row = one(Repository, await conn.fetchrow(REPOSITORY, repo))
        if row is None:
            raise CannotRun(
                f"no repository {repo} is installed and active (not archived or removed)"
            )
        scopes = declared.scopes_of({"id": row.github_id, "full_name": repo})
        stored = await _manual(conn, scopes, workflow_name, repo)
        started = await _start_repo(
            conn,
            stored,
            row,
            repo,
            key=f"manual:{uuid.uuid4()}",
            trigger_type="manual",
            sender=asked_by,
        )
        assert started is not None
        await conn.execute(NOTIFY)
    return Started(started, stored.name, repo)


REPOSITORY = """
SELECT github_id, installation_id, full_name FROM repositories
WHERE lower(full_name) = lower($1) AND installation_id IS NOT NULL
  AND status NOT IN ('removed', 'suspended', 'archived')
"""


# The repositories a scope's workflows run for: its own, or each of the owner's.
class Repository(NamedTuple):
    """A repository a workflow may run on (installed, active), as REPOSITORY and
    SCOPE_REPOSITORIES read it."""

    github_id: int
    installation_id: int
    full_name: str


SCOPE_REPOSITORIES = """
SELECT github_id, installation_id, full_name FROM repositories
WHERE installation_id IS NOT NULL AND status NOT IN ('removed', 'suspended', 'archived')
  AND (($1::bigint IS NOT NULL AND github_id = $1)
       OR ($2::text IS NOT NULL AND lower(split_part(full_name, '/', 1)) = $2))
"""


async def _start_repo(
    conn: asyncpg.Connection,
    stored: Stored,
    row: Repository,
    repo: str,
    *,
    key: str,
    trigger_type: str,
    sender: str = "hookwise",
) -> uuid.UUID | None:
    data = trigger_data(
        stored,
        event=trigger_type,
        payload=_payload(row.github_id, repo, row.installation_id, sender),
        repo=repo,
        number=None,
        installation=row.installation_id,
    )
    return await executions.start(
        conn,
        Start(
            workflow=stored.name,
            key=f"wf:{stored.id}:{row.github_id}:{key}",
            subject=f"repo:{row.github_id}",
            subject_label=repo,
            trigger_type=trigger_type,
            payload=data,
            installation_id=row.installation_id,
        ),
    )


# Schedules

TRY_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended('hookwise workflow schedules', 0))"


def last_slot(cron: str, now: datetime) -> datetime:
    """The latest time at or before `now` the cron line (UTC) names."""
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return next(CronSim(cron, start, reverse=True))


def due_slot(cron: str, now: datetime, *, since: datetime) -> datetime | None:
    """The slot to start now: the latest at or before `now`, however long ago (a nightly job
    missed while every worker was down runs once when one is back, as cron's anacron does),
    never the ones before it (no burst of missed slots), and none from before the workflow
    was first stored at `since` (declaring a nightly job at noon does not run last night's)."""
    slot = last_slot(cron, now)
    return slot if slot >= since else None


async def scheduled_run(conn: asyncpg.Connection, *, now: datetime | None = None) -> int | None:
    """Start each scheduled workflow's due slot (due_slot) not started yet, for each repository
    of its scope; how many were started, or None when another worker holds the schedule. The
    key is the slot, so two workers, or one looking twice, start it once."""
    now = now or datetime.now(UTC)
    started = 0
    async with conn.transaction():
        if not await conn.fetchval(TRY_LOCK):
            return None
        for stored, cron, since in await declared.scheduled(conn):
            slot = due_slot(cron, now, since=since)
            if slot is None:
                continue
            kind, _, who = stored.scope.partition(":")
            repo_id = int(who) if kind == "repo" else None
            owner = who if kind == "owner" else None
            for row in many(Repository, await conn.fetch(SCOPE_REPOSITORIES, repo_id, owner)):
                nearest = await declared.by_name(
                    conn,
                    declared.scopes_of({"id": row.github_id, "full_name": row.full_name}),
                    stored.declared_name,
                )
                if nearest is None or nearest.id != stored.id:
                    continue  # the repository's own workflow of that name wins
                key = f"schedule:{slot.strftime('%Y-%m-%dT%H:%MZ')}"
                if await _start_repo(
                    conn, stored, row, row.full_name, key=key, trigger_type="schedule"
                ):
                    started += 1
        if started:
            await conn.execute(NOTIFY)
    return started
