"""Batches and the events that write many rows of a repository at once: no deadlock.

A backfill (or reconcile) writes the pull requests and check runs it found in GitHub's listing
order, while batches of pull request events write theirs in arrival order. Here batch B holds
pull request 1 (its first event) when the backfill begins; the backfill's listing names 2 then
1. Were the backfill to write 2 and wait for 1, B's next event (pull request 2) would wait for
the backfill: a deadlock, and one of them retried. The backfill takes its repository's row
first instead, exclusively, in the batch prelude's order (app/handlers/github_payload.py), so
it waits for B before it writes anything. The worker, the handlers and the database are the
real ones; the look at GitHub is the test's own fetcher, and the gate a handler of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from typing import Any

import asyncpg
import pytest

from app import reconcile
from app.context import open_context
from app.handlers import backfill, check_runs, installations, links, pull_requests, repositories
from app.handlers.backfill import Found
from app.handlers.github_payload import store_repository
from app.router import FetchContext, HandlerContext, Router
from app.serving import default_router
from app.settings import Settings
from app.store.repositories import Repository
from tests.fixtures import github_example
from tests.integration.test_worker import fast, running_worker, store
from tests.integration.test_worker_shared_rows import WAITING, opened, until_waiting
from tests.integration.test_worker_shared_rows import gate as shared_rows_gate


def changed(number: int, *, action: str, updated_at: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(opened(number, 1))
    payload["action"] = action
    payload["pull_request"]["updated_at"] = updated_at
    return payload


def state_router(*others: Router) -> Router:
    """The state handlers without the real backfill's fetcher (it asks GitHub)."""
    return Router(
        installations.router,
        repositories.router,
        pull_requests.router,
        links.router,
        check_runs.router,
        *others,
    )


def looking(found: Found, holding: asyncio.Event) -> Router:
    """The backfill's handler, with a look that answers `found` once batch B holds its first
    pull request."""
    router = Router()

    @router.fetcher("github", reconcile.BACKFILL)
    async def look(ctx: FetchContext) -> Found:
        await holding.wait()
        return found

    router.add(backfill.survey, "github", reconcile.BACKFILL)
    return router


def gate(dsn: str, holding: asyncio.Event) -> Router:
    """After pull request 1's synchronize: tell the backfill to go, then wait until some
    transaction waits for a lock (the backfill, for a row this batch holds)."""

    async def hold(ctx: HandlerContext) -> None:
        if ctx.payload["number"] != 1 or ctx.payload["action"] != "synchronize":
            return
        holding.set()
        await until_waiting(dsn)

    router = Router()
    router.add(hold, "github", "pull_request")
    return router


async def test_a_backfill_and_a_batch_writing_its_pull_requests_complete_first_time(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    settings = fast(settings, HOOKWISE_WORKER_BATCH=2, HOOKWISE_MAX_ATTEMPTS=5)
    async with open_context(settings, dsn) as ctx:
        await store(ctx, opened(1, 1))
        await store(ctx, opened(2, 1))
    async with running_worker(settings, dsn, state_router()):
        pass

    later = "2019-05-16T10:00:00Z"
    listed = [changed(n, action="synchronize", updated_at=later)["pull_request"] for n in (2, 1)]
    found = Found("octo/repo1", open_numbers={1, 2}, pulls=listed)
    async with open_context(settings, dsn) as ctx:
        for number in (1, 2):
            body = changed(number, action="synchronize", updated_at="2019-05-16T09:00:00Z")
            await store(ctx, json.dumps(body).encode())
        async with ctx.pool.acquire() as conn:
            target = reconcile.Target(601, "octo/repo1", 701)
            await reconcile.enqueue(conn, reconcile.BACKFILL, [target], cause="test")
    holding = asyncio.Event()
    router = state_router(looking(found, holding), gate(dsn, holding))
    async with running_worker(settings, dsn, router, concurrency=2):
        pass

    rows = await db.fetch(
        "SELECT event_type, status, attempts, last_error FROM integration_events ORDER BY arrival"
    )
    assert [tuple(r) for r in rows] == [
        ("pull_request", "completed", 1, None),
        ("pull_request", "completed", 1, None),
        ("pull_request", "completed", 1, None),
        ("pull_request", "completed", 1, None),
        (reconcile.BACKFILL, "completed", 1, None),
    ]
    assert await db.fetchval("SELECT count(*) FROM event_attempts") == 0
    stored = await db.fetch(
        "SELECT pr_number, github_updated_at, last_trigger::text FROM pull_requests"
        " ORDER BY pr_number"
    )
    assert [
        (r["pr_number"], r["github_updated_at"].isoformat(), r["last_trigger"]) for r in stored
    ] == [
        (1, "2019-05-16T10:00:00+00:00", "manual_check"),
        (2, "2019-05-16T10:00:00+00:00", "manual_check"),
    ]


def in_repository(number: int, repository: int, *, installation: int = 701, **repo: Any) -> bytes:
    """opened(number, repository) with its repository's fields changed as `repo` says."""
    payload: dict[str, Any] = json.loads(opened(number, repository))
    payload["installation"] = {"id": installation}
    payload["repository"].update(repo)
    pr = payload["pull_request"]
    pr["head"]["repo"] = pr["base"]["repo"] = payload["repository"]
    return json.dumps(payload).encode()


async def outcomes(db: asyncpg.Connection) -> list[tuple[str, int, str | None]]:
    rows = await db.fetch("SELECT status, attempts, last_error FROM integration_events")
    return [(r["status"], r["attempts"], r["last_error"]) for r in rows]


async def test_two_payloads_of_a_repository_in_each_of_two_batches_complete_first_time(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    # Stored as the later payloads say; each batch's first event says an older default branch,
    # so its handler refreshes the row. Held FOR KEY SHARE by both batches (each one's prelude
    # found it current for its later payload), each refresh would wait for the other batch.
    settings = fast(settings, HOOKWISE_WORKER_BATCH=2, HOOKWISE_MAX_ATTEMPTS=5)
    async with open_context(settings, dsn) as ctx:
        await store(ctx, in_repository(9, 1, default_branch="main"))
    async with running_worker(settings, dsn, default_router()):
        pass
    async with open_context(settings, dsn) as ctx:
        for number, branch in ((1, "old"), (2, "main"), (3, "old"), (4, "main")):
            await store(ctx, in_repository(number, 1, default_branch=branch))
    # First, after the prelude: both batches hold what their prelude took.
    router = Router(shared_rows_gate(dsn, {1: 3, 3: 1}), default_router())
    async with running_worker(settings, dsn, router, concurrency=2):
        pass

    assert await outcomes(db) == [("completed", 1, None)] * 5
    assert await db.fetchval("SELECT count(*) FROM event_attempts") == 0
    assert await db.fetchval("SELECT default_branch FROM repositories") == "main"


def uninstalled(installation: int, repositories: list[int]) -> bytes:
    payload: dict[str, Any] = copy.deepcopy(github_example("installation", "deleted"))
    payload["installation"]["id"] = installation
    payload["repositories"] = [
        {"id": 600 + n, "name": f"repo{n}", "full_name": f"octo/repo{n}", "private": False}
        for n in repositories
    ]
    return json.dumps(payload).encode()


def uninstall_gate(dsn: str) -> Router:
    """The installation event's handlers wait first until some transaction waits for a lock;
    a `ping` whose payload says `wait` is looked at (its fetcher, before its batch's
    transaction) once the installation event's batch is past its prelude."""
    reached = asyncio.Event()

    async def installation_gate(ctx: HandlerContext) -> None:
        reached.set()
        await until_waiting(dsn)

    async def look(ctx: FetchContext) -> None:
        if ctx.payload.get("wait"):
            await reached.wait()

    async def pinged(ctx: HandlerContext) -> None:
        pass

    gates = Router()
    gates.add(installation_gate, "github", "installation")
    gates.fetcher("github", "ping")(look)
    gates.add(pinged, "github", "ping")
    return gates


async def test_an_uninstall_and_a_batch_refreshing_its_repositories_complete_first_time(
    settings: Settings, dsn: str, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    # Batch A: installation 701 deleted (repositories 1 and 3), then a pull request of
    # repository 3: its prelude holds repository 3. Batch B: pull requests of repositories 1
    # and 3 whose payloads change them: its prelude refreshes 1, then waits for 3. A's handler
    # then marks 1 and 3 removed: were 1 not taken in the prelude's order, it would wait for B,
    # and the database would end B's prelude (the batch then goes on without it, and says so).
    settings = fast(settings, HOOKWISE_WORKER_BATCH=3, HOOKWISE_MAX_ATTEMPTS=5)
    async with open_context(settings, dsn) as ctx:
        await store(ctx, in_repository(8, 1))
        await store(ctx, in_repository(9, 3))
    async with running_worker(settings, dsn, default_router()):
        pass
    async with open_context(settings, dsn) as ctx:
        await store(ctx, uninstalled(701, [1, 3]), "installation")
        await store(ctx, in_repository(7, 3))
        await store(ctx, json.dumps({"zen": "A"}).encode(), "ping")
        # Batch B, which waits (its ping's look) until batch A is past its prelude.
        await store(ctx, json.dumps({"zen": "B", "wait": True}).encode(), "ping")
        await store(ctx, in_repository(1, 1, default_branch="next"))
        await store(ctx, in_repository(2, 3, default_branch="next"))
    router = Router(uninstall_gate(dsn), default_router())
    async with running_worker(settings, dsn, router, concurrency=2):
        pass

    assert await outcomes(db) == [("completed", 1, None)] * 8
    assert [r.message for r in caplog.records if getattr(r, "action", "") == "prelude_failed"] == []
    assert await db.fetchval("SELECT count(*) FROM event_attempts") == 0
    stored = await db.fetch("SELECT github_id, status::text FROM repositories ORDER BY github_id")
    assert [tuple(r) for r in stored] == [(601, "removed"), (603, "removed")]


async def test_a_refresh_never_waits_for_another_row_holding_its_url(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    # Repository 5's row still holds the URL GitHub now gives repository 2 (5 was renamed and
    # its event never came). A batch holding 5 (its prelude, FOR KEY SHARE) may be about to
    # take a repository that the refresh of 2 comes after: the refresh takes no lock on 5 out
    # of that order. It stores no URL for 2 while 5 is held, and takes the URL once it is not.
    url = "https://github.com/octo/repo2"
    async with open_context(fast(settings), dsn) as ctx:
        await store(ctx, in_repository(9, 5, html_url=url))
    async with running_worker(fast(settings), dsn, default_router()):
        pass
    renamed = Repository(github_id=602, full_name="octo/repo2", installation_id=701, url=url)
    holder = await asyncpg.connect(dsn)
    try:
        async with holder.transaction():
            await holder.execute("SELECT FROM repositories WHERE github_id = 605 FOR KEY SHARE")
            async with open_context(fast(settings), dsn) as ctx, ctx.pool.acquire() as conn:
                refreshing = asyncio.ensure_future(store_repository(conn, renamed))
                while not refreshing.done():
                    assert not await db.fetchval(WAITING), "the refresh waits for repository 5"
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(refreshing), 0.01)
                await refreshing
        stored = "SELECT github_id, url FROM repositories ORDER BY github_id"
        assert [tuple(r) for r in await db.fetch(stored)] == [(602, None), (605, url)]
        async with open_context(fast(settings), dsn) as ctx, ctx.pool.acquire() as conn:
            await store_repository(conn, renamed)
        assert [tuple(r) for r in await db.fetch(stored)] == [(602, url), (605, None)]
    finally:
        await holder.close()
