"""Same-second transitions (issue 16, item 2): arrival order is recorded, respected, and settles
a tie of GitHub's one-second timestamps in every never-go-backwards guard.

`deliver` (tests/integration/test_handlers.py) runs the real handlers in one transaction with
the arrival given; the worker tests store deliveries through events.store_many, one group-commit
batch, so they share received_at and only `arrival` orders them.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
from collections import Counter
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st

from app.context import Context
from app.deliveries import parse_github
from app.router import HandlerContext, Router
from app.serial import serial_keys
from app.serving import default_router
from app.store import events
from tests.conftest import GITHUB_SECRET
from tests.fixtures import github_examples
from tests.integration.test_handlers import (
    CHECK_RUN_ROWS,
    PR_ID,
    SHA_B,
    deliver,
    pr_payload,
    run_payload,
)
from tests.integration.test_worker import event_rows, fast, running_worker
from tests.integration.test_worker import pr_payload as bare_pr_payload
from tests.pg import TRUNCATE
from tests.signing import github_headers

HISTORY = """
SELECT old_state::text, new_state::text, from_draft, to_draft, trigger_event::text
FROM pr_state_history ORDER BY created_at
"""
STATE = "SELECT state::text, draft FROM pull_requests WHERE github_id = $1"


def at(action: str, stamp: str, *, state: str = "open", draft: bool = False) -> dict[str, Any]:
    """The opened fixture as GitHub sends it for `action` at `stamp` (one-second resolution)."""
    payload = pr_payload(action, minutes=0, state=state, draft=draft)
    pr = payload["pull_request"]
    pr["updated_at"] = stamp
    pr["closed_at"] = stamp if state == "closed" else None
    return payload


# The failing case of the issue: closed and reopened in one second.
OPENED = at("opened", "2024-05-01T11:59:00Z")
CLOSED = at("closed", "2024-05-01T12:00:05Z", state="closed")
REOPENED = at("reopened", "2024-05-01T12:00:05Z")


async def test_closed_and_reopened_in_one_second_leave_the_pull_request_open(
    conn: asyncpg.Connection, app: Context
) -> None:
    for arrival, payload in enumerate((OPENED, CLOSED, REOPENED), start=1):
        await deliver(conn, app, "pull_request", payload, arrival=arrival)
    assert tuple(await conn.fetchrow(STATE, PR_ID)) == ("opened", False)
    history = [tuple(r) for r in await conn.fetch(HISTORY)]
    assert history == [
        (None, "opened", None, False, "opened"),
        ("opened", "closed", False, False, "closed"),
        ("closed", "opened", False, False, "reopened"),
    ]

    # A replay of the close keeps its own, earlier arrival: it changes nothing.
    await deliver(conn, app, "pull_request", CLOSED, arrival=2)
    assert tuple(await conn.fetchrow(STATE, PR_ID)) == ("opened", False)
    assert len(await conn.fetch(HISTORY)) == 3


async def test_a_tie_handled_out_of_order_still_ends_as_the_last_arrival_says(
    conn: asyncpg.Connection, app: Context
) -> None:
    await deliver(conn, app, "pull_request", OPENED, arrival=1)
    await deliver(conn, app, "pull_request", REOPENED, arrival=3)
    await deliver(conn, app, "pull_request", CLOSED, arrival=2)
    assert tuple(await conn.fetchrow(STATE, PR_ID)) == ("opened", False)


async def test_an_opened_delivered_after_a_close_of_its_second_leaves_it_closed(
    conn: asyncpg.Connection, app: Context
) -> None:
    # GitHub does not promise delivery order: a PR opened and closed (by a bot, say) in one
    # second may have its close arrive first. An `opened` is always its PR's first payload, so
    # one of the same second arriving later is older, not newer: it changed the row back.
    opened = at("opened", "2024-05-01T12:00:05Z")
    await deliver(conn, app, "pull_request", CLOSED, arrival=1)
    await deliver(conn, app, "pull_request", opened, arrival=2)
    assert tuple(await conn.fetchrow(STATE, PR_ID)) == ("closed", False)
    assert [tuple(r) for r in await conn.fetch(HISTORY)] == [
        (None, "closed", None, False, "closed"),
    ]


async def test_an_opened_delivered_after_a_label_of_its_second_keeps_the_label(
    conn: asyncpg.Connection, app: Context
) -> None:
    # A PR created with its labels: `opened` and `labeled` share a second, and the label's
    # payload may come first.
    opened = at("opened", "2024-05-01T12:00:05Z")
    labeled = at("labeled", "2024-05-01T12:00:05Z")
    labeled["pull_request"]["labels"] = [{"id": 1, "name": "bug"}]
    labeled["label"] = {"id": 1, "name": "bug"}
    await deliver(conn, app, "pull_request", labeled, arrival=1)
    await deliver(conn, app, "pull_request", opened, arrival=2)
    metadata = await conn.fetchval("SELECT metadata FROM pull_requests WHERE github_id = $1", PR_ID)
    assert metadata == {"labels": ["bug"]}


async def test_check_run_payloads_of_one_second_go_by_arrival(
    conn: asyncpg.Connection, app: Context
) -> None:
    failed = run_payload(
        "completed", run_id=1, sha=SHA_B, status="completed", conclusion="failure",
        completed_minutes=4,
    )  # fmt: skip
    passed = copy.deepcopy(failed)
    passed["check_run"]["conclusion"] = "success"
    await deliver(conn, app, "check_run", failed, arrival=1)
    await deliver(conn, app, "check_run", passed, arrival=2)
    await deliver(conn, app, "check_run", failed, arrival=1)  # a replay of the first
    [run] = await conn.fetch(CHECK_RUN_ROWS)
    assert run["conclusion"] == "success"


# Transitions GitHub can send about an open or closed, draft or ready PR.
MOVES = {
    "closed": lambda state, draft: ("closed", draft) if state == "open" else None,
    "reopened": lambda state, draft: ("open", draft) if state == "closed" else None,
    "converted_to_draft": lambda state, draft: (
        (state, True) if state == "open" and not draft else None
    ),
    "ready_for_review": lambda state, draft: (state, False) if state == "open" and draft else None,
}


@st.composite
def lives(draw: st.DrawFn) -> list[tuple[str, str, bool, int]]:
    """(action, state, draft, second) of one PR's life: valid transitions, their seconds never
    decreasing and often equal (GitHub's timestamps have one-second resolution)."""
    life = [("opened", "open", False, 0)]
    for _ in range(draw(st.integers(1, 6))):
        _, state, draft, second = life[-1]
        possible = [(a, move(state, draft)) for a, move in MOVES.items() if move(state, draft)]
        action, (state, draft) = draw(st.sampled_from(possible))
        life.append((action, state, draft, second + draw(st.sampled_from((0, 0, 1)))))
    return life


def payload_of(action: str, state: str, draft: bool, second: int) -> dict[str, Any]:
    return at(action, f"2024-05-01T12:00:{second:02d}Z", state=state, draft=draft)


def stored(state: str | None) -> str | None:
    """A payload's state as `pr_state` names it (seed 002: `opened`, where GitHub says `open`)."""
    return "opened" if state == "open" else state


@examples(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(life=lives(), order=st.randoms(use_true_random=False))
async def test_any_life_with_ties_ends_as_it_ended_and_in_order_keeps_its_history(
    conn: asyncpg.Connection, app: Context, life: list[tuple[str, str, bool, int]], order: Any
) -> None:
    # Handled in arrival order: the row is the last transition's, the history each real change.
    await conn.execute(TRUNCATE)
    for arrival, step in enumerate(life, start=1):
        await deliver(conn, app, "pull_request", payload_of(*step), arrival=arrival)
    _, state, draft, _ = life[-1]
    assert tuple(await conn.fetchrow(STATE, PR_ID)) == (stored(state), draft)
    expected = [(None, "opened", None, False, "opened")]
    for (_, before, was_draft, _), (action, after, is_draft, _) in itertools.pairwise(life):
        expected.append((stored(before), stored(after), was_draft, is_draft, action))
    assert [tuple(r) for r in await conn.fetch(HISTORY)] == expected

    # Handled in any order, each with its own arrival: the row ends the same.
    await conn.execute(TRUNCATE)
    shuffled = list(enumerate(life, start=1))
    order.shuffle(shuffled)
    for arrival, step in shuffled:
        await deliver(conn, app, "pull_request", payload_of(*step), arrival=arrival)
    assert tuple(await conn.fetchrow(STATE, PR_ID)) == (stored(state), draft)


# --- the worker: arrival order recorded within a batch, and respected ----------------------------


async def store_batch(ctx: Context, bodies: list[tuple[str, bytes]]) -> list[str]:
    """Store (event, body) deliveries in one statement, as one group-commit batch does."""
    incoming = []
    for event, body in bodies:
        headers = {k.lower(): v for k, v in github_headers(body, event).items()}
        delivery = parse_github(
            headers, body, secrets=ctx.settings.webhooks.secrets_for("github"), now=0
        )
        incoming.append(await events.incoming(ctx.integration_ids["github"], delivery))
    async with ctx.pool.acquire() as conn:
        await events.store_many(conn, incoming)
    return [i.delivery.delivery_id for i in incoming]


async def test_a_batch_shares_received_at_and_the_worker_still_follows_arrival(
    settings, dsn, db
) -> None:
    handled: list[str] = []
    running: Counter[str] = Counter()
    most = 0

    async def record(ctx: HandlerContext) -> None:
        nonlocal most
        running[ctx.event.delivery_id] += 1
        most = max(most, sum(running.values()))
        handled.append(ctx.event.delivery_id)
        await asyncio.sleep(0)  # give another slot the chance to run an event of this PR
        running[ctx.event.delivery_id] -= 1

    recorder = Router()
    recorder.add(record, "github", "pull_request")
    router = Router(recorder, default_router())
    async with running_worker(fast(settings), dsn, router, 4) as (ctx, worker):
        idle = asyncio.ensure_future(worker.idle())
        bodies = [("pull_request", json.dumps(p).encode()) for p in (OPENED, CLOSED, REOPENED)]
        delivered = await store_batch(ctx, bodies)
        await asyncio.wait_for(idle, 30)
    rows = await db.fetch(
        "SELECT delivery_id, received_at, arrival, status FROM integration_events ORDER BY arrival"
    )
    assert [r["delivery_id"] for r in rows] == delivered
    assert len({r["received_at"] for r in rows}) == 1
    assert {r["status"] for r in rows} == {"completed"}
    assert handled == delivered
    assert most == 1
    assert tuple(await db.fetchrow(STATE, PR_ID)) == ("opened", False)
    history = await db.fetch("SELECT old_state::text, new_state::text FROM pr_state_history")
    assert ("closed", "opened") in [tuple(r) for r in history]


async def test_an_event_waiting_for_its_retry_holds_back_the_rest_of_its_pull_request(
    settings, dsn, db
) -> None:
    handled: list[tuple[str, int, int]] = []

    async def flaky(ctx: HandlerContext) -> None:
        handled.append((ctx.payload["action"], ctx.payload["number"], ctx.event.attempts))
        if ctx.payload["action"] == "opened" and ctx.event.attempts == 1:
            raise RuntimeError("upstream hiccup")

    async with running_worker(fast(settings), dsn, Router(_only(flaky))) as (ctx, worker):
        idle = asyncio.ensure_future(worker.idle())
        await store_batch(
            ctx,
            [
                ("pull_request", bare_pr_payload(1)),
                ("pull_request", bare_pr_payload(1, action="closed")),
                ("pull_request", bare_pr_payload(2)),
            ],
        )
        await asyncio.wait_for(idle, 30)
    of_one = [step for step in handled if step[1] == 1]
    assert of_one == [("opened", 1, 1), ("opened", 1, 2), ("closed", 1, 1)]
    assert ("opened", 2, 1) in handled
    assert {r["status"] for r in await event_rows(db)} == {"completed"}


def _only(handler: Any) -> Router:
    router = Router()
    router.add(handler, "github", "pull_request")
    return router


def test_the_keys_worked_out_at_ingest_are_the_payloads() -> None:
    """Ingest reads only the few fields the keys need; every fixture gets the keys its whole
    decoded payload gives (which the worker falls back to for events stored without keys)."""
    seen = set()
    for event, payload in github_examples():
        body = json.dumps(payload).encode()
        headers = {k.lower(): v for k, v in github_headers(body, event).items()}
        delivery = parse_github(headers, body, secrets=(GITHUB_SECRET.encode(),), now=0)
        assert delivery.serial_keys == serial_keys("github", event, payload), event
        seen.update(key.split(":")[0] for key in delivery.serial_keys)
    assert seen >= {"pr", "sha", "installation"}


async def test_an_event_whose_retry_is_far_off_lets_the_rest_of_its_pull_request_go_ahead(
    settings, dsn, db
) -> None:
    handled: list[tuple[str, int]] = []

    async def fails_once_opened(ctx: HandlerContext) -> None:
        handled.append((ctx.payload["action"], ctx.event.attempts))
        if ctx.payload["action"] == "opened":
            raise RuntimeError("upstream outage")

    # A backoff of half an hour or more: past the minute an event holds its pull request for.
    slow_retry = fast(
        settings, HOOKWISE_RETRY_BASE_SECONDS=3600.0, HOOKWISE_RETRY_MAX_SECONDS=3600.0
    )
    async with running_worker(slow_retry, dsn, _only(fails_once_opened)) as (ctx, worker):
        idle = asyncio.ensure_future(worker.idle())
        await store_batch(
            ctx,
            [
                ("pull_request", bare_pr_payload(1)),
                ("pull_request", bare_pr_payload(1, action="closed")),
            ],
        )
        await asyncio.wait_for(idle, 30)
    assert handled == [("opened", 1), ("closed", 1)]
    rows = await db.fetch(
        "SELECT action, status, attempts, run_after > now() + interval '20 minutes' AS far"
        " FROM integration_events ORDER BY arrival"
    )
    assert [tuple(r) for r in rows] == [
        ("opened", "pending", 1, True),
        ("closed", "completed", 1, False),
    ]


async def test_an_event_due_again_while_a_later_one_of_its_pull_request_runs_waits_for_it(
    settings, dsn, db, caplog
) -> None:
    # The claim no longer looks for running events of a key (app/queue.py): the key's advisory
    # lock keeps a stepped-aside event from running beside the later one that went ahead.
    handled: list[tuple[str, int, str]] = []
    closed_running = asyncio.Event()
    let_closed_finish = asyncio.Event()
    opened_again = asyncio.Event()

    class Begun(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            begun = getattr(record, "action", None) == "event_handling"
            if begun and (record.event_action, record.attempt) == ("opened", 2):
                opened_again.set()

    async def gated(ctx: HandlerContext) -> None:
        action, attempt = ctx.payload["action"], ctx.event.attempts
        handled.append((action, attempt, "start"))
        if action == "opened" and attempt == 1:
            raise RuntimeError("upstream outage")
        if action == "closed":
            closed_running.set()
            await let_closed_finish.wait()
        handled.append((action, attempt, "end"))

    slow_retry = fast(
        settings, HOOKWISE_RETRY_BASE_SECONDS=3600.0, HOOKWISE_RETRY_MAX_SECONDS=3600.0
    )
    caplog.set_level(logging.DEBUG, logger="app.worker")
    worker_log = logging.getLogger("app.worker")
    begun = Begun()
    worker_log.addHandler(begun)
    async with running_worker(slow_retry, dsn, _only(gated)) as (ctx, worker):
        await store_batch(
            ctx,
            [
                ("pull_request", bare_pr_payload(1)),
                ("pull_request", bare_pr_payload(1, action="closed")),
            ],
        )
        await asyncio.wait_for(closed_running.wait(), 30)
        # The operator makes the stepped-aside event due now, while closed runs.
        await db.execute(
            "UPDATE integration_events SET run_after = now() WHERE action = 'opened';"
            " SELECT pg_notify('hookwise_events', '')"
        )
        # Claimed again while closed runs (the worker begins its second attempt), then it waits.
        await asyncio.wait_for(opened_again.wait(), 30)
        assert ("opened", 2, "start") not in handled
        idle = asyncio.ensure_future(worker.idle())
        let_closed_finish.set()
        await asyncio.wait_for(idle, 30)
    worker_log.removeHandler(begun)
    assert handled == [
        ("opened", 1, "start"),
        ("closed", 1, "start"),
        ("closed", 1, "end"),
        ("opened", 2, "start"),
        ("opened", 2, "end"),
    ]
    assert {r["status"] for r in await event_rows(db)} == {"completed"}
