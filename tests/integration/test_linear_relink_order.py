"""A new Linear issue relinks the open pull requests that name it, in GitHub id order, while a
batch of pull request events relinks its own in arrival order: two transactions writing the
links of the same two pull requests in opposite orders would wait on each other (a deadlock,
an event failed). The Linear handler first takes those pull requests' serial keys, which a
batch holds from its start: one order for all.

The worker, the handlers and the database are the real ones; the test holds one link row from
a transaction of its own to make the two meet at the worst moment, and watches lock waits in
pg_stat_activity.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from app.context import open_context
from app.serving import default_router
from app.settings import Settings
from tests.integration.test_batch_equivalence_property import handle, store_all, timed
from tests.integration.test_worker import fast, running_worker
from tests.waits import until, until_waiting

REPOSITORY = (601, False, "octo", "main", None)
ISSUE = ("Todo", "unstarted")


def pull(number: int, body: str) -> tuple[Any, ...]:
    """Pull request `number` of repository 601 (GitHub id 601 * 10 + number), naming ENG-1 in
    its title and `body`."""
    return ((601, number), False, "Fix ENG-1", body, False, "a", REPOSITORY)


def issue(identifier: str, index: int) -> tuple[str, str, str, bytes]:
    return (f"d-{index:02d}", *timed(("Issue", "create", (identifier, ISSUE, "Login")), index))


def pull_event(action: str, number: int, body: str, index: int) -> tuple[str, str, str, bytes]:
    return (f"d-{index:02d}", *timed(("pull_request", action, pull(number, body)), index))


async def test_a_new_issue_and_a_batch_relinking_the_same_pull_requests_do_not_deadlock(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    # Pull requests 1 and 2 are open, name ENG-1 (not known yet) and ENG-2 (linked).
    configured = fast(settings, HOOKWISE_MAX_ATTEMPTS=1)
    await handle(
        configured.with_env(HOOKWISE_WORKER_BATCH=1),
        dsn,
        [
            issue("ENG-2", 0),
            issue("ENG-3", 1),
            pull_event("opened", 1, "Refs ENG-2", 2),
            pull_event("opened", 2, "Refs ENG-2", 3),
        ],
    )
    assert await db.fetchval("SELECT count(*) FROM pr_links") == 2
    batches = configured.with_env(HOOKWISE_WORKER_BATCH=8)
    worker = running_worker(batches, dsn, default_router(), concurrency=2)
    held = db.transaction()
    async with open_context(batches, dsn) as ctx, worker as (_, running):
        # Pull request 1's link to ENG-2, held: whoever rewrites 1's links waits here first.
        await held.start()
        await db.fetch(
            "SELECT FROM pr_links k JOIN pull_requests p ON p.id = k.pull_request_id"
            " WHERE p.github_id = 6011 AND k.linear_issue_id = 'issue-ENG-2' FOR UPDATE OF k"
        )
        # ENG-1 is created: its handler relinks 1, then 2 (GitHub id order); it waits at 1.
        await store_all(ctx, [issue("ENG-1", 4)])
        await asyncio.wait_for(until_waiting(dsn, 1), 20)
        # One batch edits 2, then 1 (arrival order), each now naming ENG-3 too.
        await store_all(
            ctx,
            [
                pull_event("edited", 2, "Refs ENG-2 and ENG-3", 5),
                pull_event("edited", 1, "Refs ENG-2 and ENG-3", 6),
            ],
        )
        await asyncio.wait_for(until_waiting(dsn, 2), 20)
        await held.rollback()
        await asyncio.wait_for(running.idle(wake=True), 30)
    events = await db.fetch(
        "SELECT delivery_id, status, attempts, last_error FROM integration_events"
        " ORDER BY delivery_id"
    )
    assert [tuple(r)[1:] for r in events] == [("completed", 1, None)] * 7, events
    links = await db.fetch(
        "SELECT p.pr_number, k.linear_issue_id FROM pr_links k"
        " JOIN pull_requests p ON p.id = k.pull_request_id ORDER BY 1, 2"
    )
    assert [tuple(r) for r in links] == [
        (number, f"issue-{identifier}")
        for number in (1, 2)
        for identifier in ("ENG-1", "ENG-2", "ENG-3")
    ]


# A transaction waits for an advisory lock, or delivery $1 was given back to run again later
# than $2 (RetryLater).
WAITS_FOR_A_KEY_OR_WAS_GIVEN_BACK = """
SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)
     + (SELECT count(*) FROM integration_events WHERE delivery_id = $1 AND run_after > $2)
"""


COMPLETED = "SELECT count(*) FROM integration_events WHERE status = 'completed'"


def other_pull(repository: int, number: int, title: str, index: int) -> tuple[str, str, str, bytes]:
    drawn = (
        (repository, number),
        False,
        title,
        None,
        False,
        "a",
        (repository, False, "octo", "main", None),
    )
    return (f"d-{index:02d}", *timed(("pull_request", "edited", drawn), index))


async def test_a_new_issue_in_a_batch_never_waits_for_a_pull_request_held_by_a_waiting_batch(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    # Batch B: repository 602 renamed (its row locked FOR UPDATE by B's prelude), then ENG-1
    # created, which relinks pull request 602#1. Batch A: edits 601#2 and 602#1 (their serial
    # keys held from A's start), its prelude locking 601's row, then 602's. If B's issue waited
    # for 602#1's key while A waits for 602's row, the two would wait on each other.
    configured = fast(settings, HOOKWISE_MAX_ATTEMPTS=1)
    await handle(
        configured.with_env(HOOKWISE_WORKER_BATCH=1),
        dsn,
        [other_pull(601, 2, "Tidy up", 0), other_pull(602, 1, "Fix ENG-1", 1)],
    )
    batches = configured.with_env(HOOKWISE_WORKER_BATCH=8)
    worker = running_worker(batches, dsn, default_router(), concurrency=2)
    issue_row = await asyncpg.connect(dsn)
    repository_row = await asyncpg.connect(dsn)
    try:
        async with open_context(batches, dsn) as ctx, worker as (_, running):
            # ENG-1's row, being inserted by a transaction of the test: B's insert waits on it.
            held_issue = issue_row.transaction()
            await held_issue.start()
            await issue_row.execute(
                "INSERT INTO linear_issues (id, identifier) VALUES ('issue-ENG-1', 'ENG-1')"
            )
            # Repository 601's row, held: A's prelude waits on it before it reaches 602's.
            held_repository = repository_row.transaction()
            await held_repository.start()
            await repository_row.execute(
                "SELECT FROM repositories WHERE github_id = 601 FOR UPDATE"
            )
            renamed = timed(("repository", "renamed", ((602, False, "octo", "main", None),)), 2)
            await store_all(ctx, [("d-02", *renamed), issue("ENG-1", 3)])
            await asyncio.wait_for(until_waiting(dsn, 1), 20)
            stored = await db.fetchval(
                "SELECT run_after FROM integration_events WHERE delivery_id = 'd-03'"
            )
            await store_all(
                ctx, [other_pull(601, 2, "Tidy up", 4), other_pull(602, 1, "Fix ENG-1", 5)]
            )
            await asyncio.wait_for(until_waiting(dsn, 2), 20)
            # B's issue inserted: it now looks for 602#1's key, which A holds. Waiting for it
            # (first: Postgres ends the one whose wait began first), B's issue would be the
            # deadlock's victim once A's prelude goes on to 602's row.
            await held_issue.rollback()
            await asyncio.wait_for(
                until(dsn, WAITS_FOR_A_KEY_OR_WAS_GIVEN_BACK, 1, "d-03", stored), 20
            )
            await held_repository.rollback()
            # B's issue, given back for a pause (retry.BUSY_PAUSE), is claimed again when due.
            await asyncio.wait_for(until(dsn, COMPLETED, 6), 30)
            await asyncio.wait_for(running.idle(wake=True), 30)
    finally:
        await issue_row.close()
        await repository_row.close()
    events = await db.fetch(
        "SELECT delivery_id, status, attempts, last_error FROM integration_events"
        " ORDER BY delivery_id"
    )
    assert [tuple(r)[1:] for r in events] == [("completed", 1, None)] * 6, events
    links = await db.fetch(
        "SELECT p.github_id, k.linear_issue_id FROM pr_links k"
        " JOIN pull_requests p ON p.id = k.pull_request_id ORDER BY 1, 2"
    )
    assert [tuple(r) for r in links] == [(6021, "issue-ENG-1")]
