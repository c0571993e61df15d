"""Batch steps and installation events: an installation event writes a repository's row too
(repositories.add: its installation, owner/name, status), so a pull request event after it in
a batch must find the row as that event left it, as it would handled alone.

The worker, the default handlers and the database are the real ones; the events are stored
first, then one worker slot claims them, in one batch or one by one.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import asyncpg
import pytest

from app.context import open_context
from app.handlers.github_payload import repository_from_payload, store_repository
from app.reconcile import BACKFILL, after_installation_change
from app.serving import default_router
from tests.conftest import INSTALLATION_ID, with_github
from tests.fakes.github import FakeGitHub
from tests.fixtures import github_example
from tests.integration.test_batch_steps import drain
from tests.integration.test_worker import fast, running_worker, store
from tests.stories.test_backfill import ALPHA

OPENED = github_example("pull_request", "opened")
ADDED = github_example("installation_repositories", "added")
# The installation the pull request's payload names, and the one the repository was added to
# just before (its payload is older news: the pull request's comes later and stands).
BEFORE, AFTER = 1, ADDED["installation"]["id"]


def added_to(installation: int) -> bytes:
    """The pull request's repository added to `installation`."""
    payload: dict[str, Any] = copy.deepcopy(ADDED)
    payload["installation"]["id"] = installation
    repo = OPENED["repository"]
    payload["repositories_added"] = [
        {"id": repo["id"], "name": repo["name"], "full_name": repo["full_name"], "private": False}
    ]
    return json.dumps(payload).encode()


def opened_in(installation: int) -> bytes:
    payload: dict[str, Any] = copy.deepcopy(OPENED)
    payload["installation"] = {"id": installation}
    return json.dumps(payload).encode()


@pytest.mark.parametrize("batch", [1, 8], ids=["one-by-one", "one-batch"])
async def test_a_pull_request_after_an_installation_event_leaves_its_repository_as_alone(
    settings, dsn, db: asyncpg.Connection, batch: int
) -> None:
    # Alone, the pull request's handler finds the row not current (another installation) and
    # refreshes it to what its payload says. A batch step sent its statement before the
    # installation event's handler ran: the row looked current then, and the installation
    # event's write came after it and stood.
    await drain(
        settings,
        dsn,
        [(added_to(AFTER), "installation_repositories"), (opened_in(BEFORE), "pull_request")],
        batch,
    )
    statuses = await db.fetch(
        "SELECT event_type, status FROM integration_events"
        " WHERE event_type IN ('installation_repositories', 'pull_request') ORDER BY arrival"
    )
    assert [tuple(r) for r in statuses] == [
        ("installation_repositories", "completed"),
        ("pull_request", "completed"),
    ]
    row = await db.fetchrow(
        "SELECT installation_id FROM repositories WHERE github_id = $1", OPENED["repository"]["id"]
    )
    assert row is not None
    assert row["installation_id"] == BEFORE


@pytest.mark.parametrize("batch", [1, 8], ids=["one-by-one", "one-batch"])
async def test_a_pull_request_after_a_backfill_of_its_repository_is_recorded_as_alone(
    settings, dsn, db: asyncpg.Connection, fake_github: FakeGitHub, batch: int
) -> None:
    # A backfill writes its repository's pull requests in its handler: a pull request event
    # after it in the batch finds that row, as it would alone (the history names the backfill).
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    fake_github.commit_files(ALPHA, "pr-1", {"f.txt": "1\n"})
    pull = fake_github.add_pull(ALPHA, 1, head_branch="pr-1", title="PR 1")
    webhook = {
        "action": "opened",
        "number": 1,
        "pull_request": pull,
        "repository": fake_github.repo_json(fake_github.repo(ALPHA)),
        "installation": {"id": INSTALLATION_ID},
    }
    configured = with_github(
        settings, fake_github, HOOKWISE_WORKER_BATCH=batch, HOOKWISE_MAX_ATTEMPTS=1
    )
    async with open_context(fast(configured), dsn) as ctx:
        async with ctx.pool.acquire() as conn:
            await store_repository(conn, repository_from_payload(webhook))
            await after_installation_change(conn, BACKFILL, INSTALLATION_ID, None, cause="test")
        await store(ctx, json.dumps(webhook).encode(), "pull_request")
    async with running_worker(fast(configured), dsn, default_router(), concurrency=1):
        pass
    statuses = await db.fetch("SELECT event_type, status FROM integration_events ORDER BY arrival")
    assert [tuple(r) for r in statuses] == [
        ("hookwise.backfill", "completed"),
        ("pull_request", "completed"),
    ]
    history = await db.fetch(
        "SELECT trigger_event::text, new_state::text FROM pr_state_history ORDER BY created_at"
    )
    assert [tuple(r) for r in history] == [("manual_check", "opened")]


def deleted(installation: int) -> bytes:
    """The installation deleted, listing none of its repositories (GitHub lists them only
    for a selection)."""
    payload: dict[str, Any] = copy.deepcopy(github_example("installation", "deleted"))
    payload["installation"]["id"] = installation
    payload["repositories"] = []
    return json.dumps(payload).encode()


@pytest.mark.parametrize("batch", [1, 8], ids=["one-by-one", "one-batch"])
async def test_a_pull_request_after_its_installation_was_deleted_leaves_its_repository_as_alone(
    settings, dsn, db: asyncpg.Connection, batch: int
) -> None:
    # Alone, the deletion finds no repository to mark removed; the pull request after it then
    # creates its repository, active. A batch's prelude created that row first, for the pull
    # request, and the deletion's handler then marked it removed (found by the property test
    # of test_batch_equivalence_property.py).
    await drain(
        settings,
        dsn,
        [(deleted(BEFORE), "installation"), (opened_in(BEFORE), "pull_request")],
        batch,
    )
    statuses = await db.fetch(
        "SELECT event_type, status FROM integration_events"
        " WHERE event_type IN ('installation', 'pull_request') ORDER BY arrival"
    )
    assert [tuple(r) for r in statuses] == [
        ("installation", "completed"),
        ("pull_request", "completed"),
    ]
    row = await db.fetchrow(
        "SELECT status::text, removed_at FROM repositories WHERE github_id = $1",
        OPENED["repository"]["id"],
    )
    assert row is not None
    assert (row["status"], row["removed_at"]) == ("active", None)
