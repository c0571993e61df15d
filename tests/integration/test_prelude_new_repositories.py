"""Transactions that create the same new rows (repositories, installations) never wait on each
other in a cycle: every batch's prelude takes each repository's advisory key in GitHub id order
before any row, exclusively for a row a handler of its writes later, in its events' order; and
it creates the installations that its handlers would (app/handlers/github_payload.take_shared).

The worker, the handlers and the database are the real ones; each test makes the transactions
meet at the worst moment, with a row or a serial key held from a connection of its own or a
gate (a handler of the test's own) that waits until another transaction waits for a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg
import pytest

from app import reconcile, retry
from app.context import Context, open_context
from app.deliveries import parse_github
from app.handlers import backfill, installations, repositories
from app.handlers.backfill import Found
from app.router import FetchContext, HandlerContext, Router
from app.serving import default_router
from app.settings import Settings
from app.store import events
from app.store.repository_keys import KEY
from tests.integration.test_batch_equivalence_property import handle, store_all, timed
from tests.integration.test_worker import fast, running_worker
from tests.integration.test_worker_lock_order import in_repository, state_router
from tests.integration.test_worker_shared_rows import until_waiting as until_any_waits
from tests.signing import github_headers
from tests.waits import until, until_waiting

# A backend of this database waiting for a row another transaction writes (or creates), or for
# a repository's key (two-int4 advisory locks): not for a serial key (one bigint).
BLOCKED = """
SELECT EXISTS (
    SELECT FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE a.datname = current_database() AND NOT l.granted
      AND (l.locktype = 'transactionid' OR (l.locktype = 'advisory' AND l.objsubid = 2))
)
"""


def pull(repository: int, index: int) -> tuple[str, str, str, bytes]:
    drawn = (
        (repository, 1),
        False,
        "Tidy up",
        None,
        False,
        "a",
        (repository, False, "octo", "main", None),
    )
    return (f"d-{index:02d}", *timed(("pull_request", "opened", drawn), index))


def renamed(repository: int, index: int) -> tuple[str, str, str, bytes]:
    drawn = ((repository, False, "octo", "main", None),)
    return (f"d-{index:02d}", *timed(("repository", "renamed", drawn), index))


def added(installation: int, repositories: set[int], index: int) -> tuple[str, str, str, bytes]:
    drawn = (installation, repositories)
    return (f"d-{index:02d}", *timed(("installation_repositories", "added", drawn), index))


async def installed(settings: Settings, dsn: str) -> None:
    """Installation 71, with no repository yet."""
    await handle(
        settings.with_env(HOOKWISE_WORKER_BATCH=1),
        dsn,
        [("d-00", *timed(("installation", "created", (71, set())), 0))],
    )


async def until_blocked(dsn: str) -> None:
    """Return once some transaction waits for a row or a repository's key: looks every 10 ms
    (a condition, polled)."""
    never = asyncio.Event()
    conn = await asyncpg.connect(dsn)
    try:
        while not await conn.fetchval(BLOCKED):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(never.wait(), 0.01)
    finally:
        await conn.close()


async def stored(ctx: Context, conn: asyncpg.Connection, body: bytes) -> None:
    """A pull_request delivery stored in the caller's transaction."""
    headers = {k.lower(): v for k, v in github_headers(body, "pull_request").items()}
    secrets = ctx.settings.webhooks.secrets_for("github")
    delivery = parse_github(headers, body, secrets=secrets, now=0)
    await events.store(conn, ctx.integration_ids["github"], delivery)


def troubles(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the worker warned of: a deadlock in a batch's first try shows only here (the batch
    runs again under savepoints, no attempt counted)."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


async def outcomes(db: asyncpg.Connection) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        "SELECT status, attempts, last_error FROM integration_events ORDER BY arrival"
    )
    return [tuple(r) for r in rows]


async def test_two_batches_creating_the_same_new_repositories_do_not_deadlock(
    settings: Settings, dsn: str, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app")
    configured = fast(settings, HOOKWISE_MAX_ATTEMPTS=1)
    await installed(configured, dsn)
    batches = configured.with_env(HOOKWISE_WORKER_BATCH=8)
    worker = running_worker(batches, dsn, default_router(), concurrency=2)
    holder = await asyncpg.connect(dsn)
    try:
        async with open_context(batches, dsn) as ctx, worker as (_, running):
            held = holder.transaction()
            await held.start()
            # The installation's row: X's installation_repositories handler waits here, its
            # prelude having created repository 601 (its pull request's).
            await holder.execute("SELECT FROM installations WHERE id = 71 FOR NO KEY UPDATE")
            await store_all(ctx, [added(71, {602}, 1), pull(601, 2)])
            await until_waiting(dsn, 1)
            # Y: a pull request of 602 (created by its prelude), then 601 renamed (only locked
            # by the prelude, written by its handler): in event order, Y would create 602, then
            # wait for X's 601 while X's membership handler waited for Y's 602.
            await store_all(ctx, [pull(602, 3), renamed(601, 4)])
            await until_waiting(dsn, 2)
            await held.rollback()
            await running.idle(wake=True)
    finally:
        await holder.close()
    assert await outcomes(db) == [("completed", 1, None)] * 5
    names = await db.fetch("SELECT github_id, installation_id FROM repositories ORDER BY 1")
    assert [tuple(r) for r in names] == [(601, 71), (602, 71)]
    assert troubles(caplog) == []


def gated(dsn: str, reached: asyncio.Event, released: asyncio.Event) -> Router:
    """Before the handlers of a pull request of repository 602: wait for `released`, then until
    some transaction waits for a row or a repository's key."""

    async def gate(ctx: HandlerContext) -> None:
        if ctx.payload["repository"]["id"] != 602:
            return
        reached.set()
        await released.wait()
        await until_blocked(dsn)

    router = Router()
    router.add(gate, "github", "pull_request")
    return router


async def test_an_event_run_alone_and_a_batch_creating_the_same_repositories_do_not_deadlock(
    settings: Settings, dsn: str, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app")
    # An event whose serial key another transaction holds runs alone after its batch, once the
    # key is free: it takes its repositories' keys as a batch of one would. Without them it
    # would create 601, then wait for the batch's 602, while the batch's rename waited for 601.
    configured = fast(settings, HOOKWISE_MAX_ATTEMPTS=1)
    await installed(configured, dsn)
    batches = configured.with_env(HOOKWISE_WORKER_BATCH=8)
    reached, released = asyncio.Event(), asyncio.Event()
    router = Router(gated(dsn, reached, released), default_router())
    holder = await asyncpg.connect(dsn)
    try:
        async with (
            open_context(batches, dsn) as ctx,
            running_worker(batches, dsn, router, concurrency=2) as (_, running),
        ):
            held = holder.transaction()
            await held.start()
            await holder.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('installation:71', 0))"
            )
            await store_all(ctx, [added(71, {601, 602}, 1)])
            await until_waiting(dsn, 1)
            # The batch: 602 created by its prelude, 601 only locked (not stored yet), then
            # held at the gate until the event alone has begun.
            await store_all(ctx, [pull(602, 2), renamed(601, 3)])
            await reached.wait()
            await held.rollback()
            released.set()
            await running.idle(wake=True)
    finally:
        await holder.close()
    assert await outcomes(db) == [("completed", 1, None)] * 4
    names = await db.fetch("SELECT github_id, installation_id FROM repositories ORDER BY 1")
    assert [tuple(r) for r in names] == [(601, 71), (602, 71)]
    assert troubles(caplog) == []


def looking(dsn: str, reached: asyncio.Event) -> Router:
    """The backfill's handler, with a look that finds nothing open; and a gate after the state
    handlers of pull request 1, until some transaction waits for a lock."""
    router = Router()

    @router.fetcher("github", reconcile.BACKFILL)
    async def look(ctx: FetchContext) -> Found:
        return Found(ctx.payload["repository"]["full_name"])

    async def gate(ctx: HandlerContext) -> None:
        if ctx.payload["number"] == 1:
            reached.set()
            await until_any_waits(dsn)

    router.add(backfill.survey, "github", reconcile.BACKFILL)
    router.add(gate, "github", "pull_request")
    return router


async def test_a_backfill_and_a_batch_creating_the_same_new_installation_do_not_deadlock(
    settings: Settings, dsn: str, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app")
    # Batch X: pull requests 1 and 2 of repository 601 describing it apart (its prelude holds
    # the row FOR UPDATE), then a backfill of 603, stored nowhere yet, in installation 702,
    # nor stored. Batch Y: pull request 3 of 601 naming installation 702: its prelude creates
    # 702, then waits for X's 601. Were 702 created by X's backfill handler (with the
    # repository it creates), X would wait for Y's 702: a deadlock. X's prelude creates it.
    configured = fast(settings, HOOKWISE_MAX_ATTEMPTS=1, HOOKWISE_WORKER_BATCH=8)
    reached = asyncio.Event()
    router = state_router(looking(dsn, reached))
    worker = running_worker(configured, dsn, router, concurrency=2)
    async with open_context(configured, dsn) as ctx, worker as (_, running):
        # One commit: one claim takes the three together.
        async with ctx.pool.acquire() as conn, conn.transaction():
            for number, branch in ((1, "old"), (2, "main")):
                await stored(ctx, conn, in_repository(number, 1, default_branch=branch))
            target = reconcile.Target(603, "octo/repo3", 702)
            await reconcile.enqueue(conn, reconcile.BACKFILL, [target], cause="test")
        await reached.wait()
        async with ctx.pool.acquire() as conn:
            await stored(ctx, conn, in_repository(3, 1, installation=702, default_branch="main"))
        await running.idle(wake=True)
    assert await outcomes(db) == [("completed", 1, None)] * 4
    names = await db.fetch("SELECT github_id, installation_id FROM repositories ORDER BY 1")
    assert [tuple(r) for r in names] == [(601, 702), (603, 702)]
    assert troubles(caplog) == []


def listing(found: list[dict[str, Any]], asked: list[int] | None = None) -> Router:
    """The repository listing's handler, with a fetcher that answers `found` (GitHub's list)
    and notes each time it is asked in `asked`."""
    router = Router()

    @router.fetcher("github", reconcile.LIST_REPOSITORIES)
    async def listed(ctx: FetchContext) -> list[dict[str, Any]]:
        if asked is not None:
            asked.append(ctx.event.attempts)
        return found

    router.add(installations.installation_listed, "github", reconcile.LIST_REPOSITORIES)
    return router


LISTING_DONE = (
    "SELECT count(*) FROM integration_events WHERE event_type = $1 AND status = 'completed'"
)


async def until_logged(caplog: pytest.LogCaptureFixture, action: str) -> None:
    """Return once the worker logged a line of this action: looks every 10 ms."""
    never = asyncio.Event()
    while not any(getattr(r, "action", None) == action for r in caplog.records):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(never.wait(), 0.01)


async def test_a_listing_adds_a_repository_whose_key_another_holds_once_it_is_free(
    settings: Settings, dsn: str, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    # The repositories GitHub lists are known only to the listing's fetcher, not to its batch's
    # prelude: its handler takes their keys without waiting (its transaction holds rows that
    # the holder may be waiting for), and runs again, the attempt not counted, while one is held.
    caplog.set_level(logging.INFO, logger="app")
    configured = fast(settings, HOOKWISE_MAX_ATTEMPTS=1)
    await installed(configured, dsn)
    found = [{"id": 601, "name": "repo1", "full_name": "octo/repo1", "private": False}]
    asked: list[int] = []
    router = Router(repositories.router, listing(found, asked))
    holder = await asyncpg.connect(dsn)
    try:
        held = holder.transaction()
        await held.start()
        await holder.execute(f"SELECT pg_advisory_xact_lock({KEY.format(id='601::bigint')})")
        worker = running_worker(configured, dsn, router)
        async with open_context(configured, dsn) as ctx, worker as (_, running):
            async with ctx.pool.acquire() as conn:
                await reconcile.list_repositories(conn, 71, cause="test")
            await until_logged(caplog, "event_later")
            later = next(r for r in caplog.records if getattr(r, "action", None) == "event_later")
            # Given back for a pause, not due at once: it is not claimed (and GitHub not asked
            # again) over and over while the key is held.
            run_after = await db.fetchval(
                "SELECT extract(epoch FROM run_after)::float8 FROM integration_events"
                " WHERE event_type = $1",
                reconcile.LIST_REPOSITORIES,
            )
            assert run_after - later.created >= retry.BUSY_PAUSE - 0.1
            await held.rollback()
            # Claimed again when due, with no NOTIFY (the poll interval is an hour).
            await asyncio.wait_for(until(dsn, LISTING_DONE, 1, reconcile.LIST_REPOSITORIES), 30)
            await running.idle(wake=True)
    finally:
        await holder.close()
    assert asked == [1, 1]
    listed = await db.fetchrow(
        "SELECT status, attempts, last_error FROM integration_events WHERE event_type = $1",
        reconcile.LIST_REPOSITORIES,
    )
    assert tuple(listed) == ("completed", 1, None)
    names = await db.fetch("SELECT github_id, installation_id, status::text FROM repositories")
    assert [tuple(r) for r in names] == [(601, 71, "active")]
