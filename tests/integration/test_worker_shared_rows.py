"""Two batches in flight whose events share rows: no deadlock, every event done on its first try.

Events of different pull requests run in one batch's transaction, several batches at once, and
they share their installation's and repository's rows. Batch A here holds pull requests 1 (in
repository 1, installation 1) and 2 (repository 2, installation 2), batch B pull requests 3
(repository 2) and 4 (repository 1): in event order, A would take its rows as 1 then 2 and B as
2 then 1. A gate after each batch's first event lets neither go on until the other batch has
handled its own first event, or waits on a lock (then it is not going to: the rows are taken in
one order, and the first batch to take them runs through). The worker, the handlers and the
database are the real ones; the gate is a handler of the test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from typing import Any

import asyncpg

from app.context import open_context
from app.router import HandlerContext, Router
from app.serving import default_router
from app.settings import Settings
from tests.fixtures import github_example
from tests.integration.test_worker import fast, running_worker, store

OPENED = github_example("pull_request", "opened")

# A backend of this database waiting for a lock (a row, or a transaction to end).
WAITING = """
SELECT EXISTS (
    SELECT FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock'
)
"""


async def until_waiting(dsn: str, done: asyncio.Event | None = None) -> None:
    """Return once some transaction of the database waits for a lock, or `done` is set: looks
    every 10 ms (a condition, polled; woken at once by `done`)."""
    done = done or asyncio.Event()
    conn = await asyncpg.connect(dsn)
    try:
        while not done.is_set() and not await conn.fetchval(WAITING):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 0.01)
    finally:
        await conn.close()


def opened(number: int, repository: int) -> bytes:
    payload: dict[str, Any] = copy.deepcopy(OPENED)
    payload["number"] = number
    payload["installation"] = {"id": 700 + repository}
    repo = payload["repository"]
    repo.update(
        id=600 + repository,
        name=f"repo{repository}",
        full_name=f"octo/repo{repository}",
        html_url=f"https://github.com/octo/repo{repository}",
    )
    pr = payload["pull_request"]
    pr.update(id=500 + number, number=number)
    pr["head"]["sha"] = f"{number:040x}"
    pr["head"]["repo"] = pr["base"]["repo"] = repo
    return json.dumps(payload).encode()


def gate(dsn: str, firsts: dict[int, int]) -> Router:
    """After the state handlers of each batch's first event (pull request number -> the
    number of the other batch's first), wait until that one was handled or some transaction
    waits for a lock."""
    reached = {number: asyncio.Event() for number in firsts}

    async def wait_for_other(ctx: HandlerContext) -> None:
        number = ctx.payload["number"]
        if number not in firsts:
            return
        reached[number].set()
        # Woken by the other batch's gate, else once one transaction waits for the other.
        await until_waiting(dsn, reached[firsts[number]])

    router = Router()
    router.add(wait_for_other, "github", "pull_request")
    return router


async def test_two_batches_sharing_rows_in_opposite_orders_complete_first_time(
    settings: Settings, dsn: str, db: asyncpg.Connection
) -> None:
    settings = fast(settings, HOOKWISE_WORKER_BATCH=2, HOOKWISE_MAX_ATTEMPTS=5)
    # Stored before the worker starts, so its first two claims take them two by two.
    async with open_context(settings, dsn) as ctx:
        for number, repository in ((1, 1), (2, 2), (3, 2), (4, 1)):
            await store(ctx, opened(number, repository))
    router = Router(default_router(), gate(dsn, {1: 3, 3: 1}))
    # Returns once the worker found nothing left to do: every event ended, retries included.
    async with running_worker(settings, dsn, router, concurrency=2):
        pass

    rows = await db.fetch(
        "SELECT status, attempts, last_error FROM integration_events ORDER BY arrival"
    )
    assert [(r["status"], r["attempts"], r["last_error"]) for r in rows] == [
        ("completed", 1, None)
    ] * 4
    assert await db.fetchval("SELECT count(*) FROM event_attempts") == 0
    stored = await db.fetch(
        "SELECT p.pr_number, r.full_name, r.installation_id FROM pull_requests p "
        "JOIN repositories r ON r.id = p.repository_id ORDER BY p.pr_number"
    )
    assert [tuple(r) for r in stored] == [
        (1, "octo/repo1", 701),
        (2, "octo/repo2", 702),
        (3, "octo/repo2", 702),
        (4, "octo/repo1", 701),
    ]
