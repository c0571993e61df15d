"""How many statements an event's handlers send: each is a round trip, ~0.1 ms of Python and
~0.1 ms of PostgreSQL (issue 18), so a change that adds one should say so here. Counted with
asyncpg's query logger on a real connection, every handler of the default router (reactions
off) in one transaction as the worker runs them, for a repository already stored, as in
`bench/dispatch.py`: a pull request opened, pushed to (and here its title edited), then a check
run created and completed. A batch's prelude is counted apart: once per batch, whatever its size."""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg

from app.context import Context
from app.router import EventRow, HandlerContext
from app.serving import default_router
from app.store import check_runs, links, pull_requests, repositories, repository_keys
from tests.fixtures import github_example

ROUTER = default_router()
OPENED = github_example("pull_request", "opened")
RUN = github_example("check_run", "completed")
ARRIVALS = iter(range(1, 1_000))

# The statements expected, in order: one more (or another) fails the test, showing them all.
# The repository read, the PR upserted, the runs of its head that came first linked. A new PR
# has no links, and this one names no Linear issue: nothing to relink.
OPENED_STATEMENTS = [pull_requests.RECORD]
# Its text is what it was: no relink.
SYNCHRONIZE_STATEMENTS = [pull_requests.RECORD]
# Its title edited: its links are read with it (no Linear issue named: nothing to
# write).
EDITED_STATEMENTS = [pull_requests.RECORD, links.PULL_WITH_LINKS]
# The repository read, the run upserted and linked, the PR's last_checked_at.
CHECK_RUN_STATEMENTS = [check_runs.RECORD]


def pull(
    number: int, *, action: str, sha: str, minutes: int, title: str = "Update the README"
) -> dict[str, Any]:
    payload = copy.deepcopy(OPENED)
    pr = payload["pull_request"]
    payload["action"] = action
    payload["number"] = number
    pr.update(
        id=900_000 + number,
        number=number,
        title=title,
        updated_at=f"2024-01-01T00:{minutes:02d}:00Z",
    )
    pr["head"]["sha"] = sha
    return payload


def run(number: int, *, action: str, sha: str, status: str) -> dict[str, Any]:
    payload = copy.deepcopy(RUN)
    payload["action"] = action
    payload["repository"] = OPENED["repository"]
    payload["installation"] = OPENED.get("installation") or {"id": 1}
    check = payload["check_run"]
    check.update(id=800_000 + number, head_sha=sha, status=status)
    if status != "completed":
        check.update(conclusion=None, completed_at=None)
    listed = copy.deepcopy(check["pull_requests"][0])
    listed.update(number=number)
    listed["base"]["repo"]["id"] = OPENED["repository"]["id"]
    check["pull_requests"] = [listed]
    return payload


def row(event: str, payload: Mapping[str, Any]) -> EventRow:
    return EventRow(
        id=uuid.uuid4(),
        source="github",
        event_type=event,
        action=payload.get("action"),
        delivery_id=str(uuid.uuid4()),
        hook_id="1",
        attempts=1,
        received_at=datetime.now(UTC),
        arrival=next(ARRIVALS),
    )


async def statements(
    conn: asyncpg.Connection, app: Context, event: str, payload: Mapping[str, Any]
) -> list[str]:
    """Run the event's handlers in a transaction of their own; the statements they sent."""
    sent: list[str] = []

    def note(record: Any) -> None:
        sent.append(record.query)

    event_row = row(event, payload)
    handlers = ROUTER.handlers_for("github", event, event_row.action)
    log = logging.LoggerAdapter(logging.getLogger("test"), {})
    async with conn.transaction():
        conn.add_query_logger(note)
        try:
            ctx = HandlerContext(event=event_row, payload=payload, conn=conn, app=app, log=log)
            for handler in handlers:
                await handler(ctx)
        finally:
            conn.remove_query_logger(note)
    return sent


async def test_statements_per_event(conn: asyncpg.Connection, app: Context) -> None:
    sha_1, sha_2 = "1" * 40, "2" * 40
    # The repository's first sight, and every statement prepared once, as in a running worker.
    await statements(conn, app, "pull_request", pull(1, action="opened", sha=sha_1, minutes=0))
    await statements(conn, app, "check_run", run(1, action="created", sha=sha_1, status="queued"))

    opened = await statements(
        conn, app, "pull_request", pull(2, action="opened", sha=sha_1, minutes=1)
    )
    synchronize = await statements(
        conn, app, "pull_request", pull(2, action="synchronize", sha=sha_2, minutes=2)
    )
    edited = await statements(
        conn,
        app,
        "pull_request",
        pull(2, action="edited", sha=sha_2, minutes=3, title="Update the README, again"),
    )
    created = await statements(
        conn, app, "check_run", run(2, action="created", sha=sha_2, status="queued")
    )
    completed = await statements(
        conn, app, "check_run", run(2, action="completed", sha=sha_2, status="completed")
    )

    assert opened == OPENED_STATEMENTS
    assert synchronize == SYNCHRONIZE_STATEMENTS
    assert edited == EDITED_STATEMENTS
    assert created == CHECK_RUN_STATEMENTS
    assert completed == CHECK_RUN_STATEMENTS

    # And they did the work: the PR at its new head, its history, its run linked and counted.
    stored = await conn.fetchrow(
        "SELECT p.head_sha, p.last_checked_at, c.status, c.updated_at"
        " FROM pull_requests p JOIN check_runs c ON c.pr_id = p.id WHERE p.github_id = $1",
        900_002,
    )
    assert stored is not None
    assert (stored["head_sha"], stored["status"]) == (sha_2, "completed")
    assert stored["last_checked_at"] == stored["updated_at"]
    history = await conn.fetch(
        "SELECT h.trigger_event::text FROM pr_state_history h JOIN pull_requests p"
        " ON p.id = h.pr_id WHERE p.github_id = $1 ORDER BY h.created_at",
        900_002,
    )
    assert [h[0] for h in history] == ["opened", "synchronize"]


async def test_statements_of_a_batch_prelude(conn: asyncpg.Connection, app: Context) -> None:
    # A batch of pull request and check run events of one repository, stored and current: the
    # repositories' keys with the installations' bare rows (one statement), then the row held.
    sha = "3" * 40
    await statements(conn, app, "pull_request", pull(3, action="opened", sha=sha, minutes=0))
    batch = [
        ("pull_request", pull(3, action="synchronize", sha=sha, minutes=1)),
        ("check_run", run(3, action="created", sha=sha, status="queued")),
        ("pull_request", pull(4, action="opened", sha=sha, minutes=2)),
    ]
    for _, payload in batch:
        payload["installation"] = {"id": 1}
    events = [(row(event, payload), payload) for event, payload in batch]
    # Every statement prepared once, as in a running worker.
    async with conn.transaction():
        await ROUTER.run_preludes(conn, events)
    sent: list[str] = []

    def note(record: Any) -> None:
        sent.append(record.query)

    async with conn.transaction():
        conn.add_query_logger(note)
        try:
            await ROUTER.run_preludes(conn, events)
        finally:
            conn.remove_query_logger(note)
    assert sent == [repository_keys.TAKE, repositories.HOLD_AS["KEY SHARE"]]
