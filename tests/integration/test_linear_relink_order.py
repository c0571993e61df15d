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
import contextlib
from typing import Any

import asyncpg

from app.context import open_context
from app.serving import default_router
from app.settings import Settings
from tests.integration.test_batch_equivalence_property import handle, store_all, timed
from tests.integration.test_worker import fast, running_worker

REPOSITORY = (601, False, "octo", "main", None)
ISSUE = ("Todo", "unstarted")

WAITING = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


def pull(number: int, body: str) -> tuple[Any, ...]:
    """Pull request `number` of repository 601 (GitHub id 601 * 10 + number), naming ENG-1 in
    its title and `body`."""
    return ((601, number), False, "Fix ENG-1", body, False, "a", REPOSITORY)


def issue(identifier: str, index: int) -> tuple[str, str, str, bytes]:
    return (f"d-{index:02d}", *timed(("Issue", "create", (identifier, ISSUE, "Login")), index))


def pull_event(action: str, number: int, body: str, index: int) -> tuple[str, str, str, bytes]:
    return (f"d-{index:02d}", *timed(("pull_request", action, pull(number, body)), index))


async def until_waiting(dsn: str, count: int) -> None:
    """Return once `count` transactions of the database wait for a lock: looks every 10 ms (a
    condition, polled)."""
    never = asyncio.Event()
    conn = await asyncpg.connect(dsn)
    try:
        while await conn.fetchval(WAITING) < count:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(never.wait(), 0.01)
    finally:
        await conn.close()


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
