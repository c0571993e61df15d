"""The worker loop: wake-ups, retries, dead letters, replay, serialisation and shutdown.

Handlers here are registered on a Router of the test's own, the extension point every handler
module uses; the worker, queue and database are the real ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from app import queue
from app.context import Context, open_context
from app.deliveries import parse_github
from app.queue import LOCK_ALL
from app.retry import RetryLater
from app.router import FetchContext, HandlerContext, Router
from app.serving import default_router
from app.settings import Settings
from app.store import events
from app.worker import LOCK, Worker, serial_keys
from tests.conftest import INSTALLATION_ID, with_github
from tests.fixtures import github_example
from tests.signing import github_headers
from tests.waits import until, until_waiting

Handler = Callable[[HandlerContext], Awaitable[None]]


def fast(settings: Settings, **changes: object) -> Settings:
    """`changes` by environment name (settings.with_env)."""
    # A poll interval of an hour: only a NOTIFY can wake the worker within a test.
    base = {
        "HOOKWISE_POLL_INTERVAL": 3600.0,
        "HOOKWISE_RETRY_BASE_SECONDS": 0.0,
        "HOOKWISE_SHUTDOWN_GRACE": 5.0,
    }
    return settings.with_env(**(base | changes))


def pr_payload(number: int, *, repo: int = 1, action: str = "opened") -> bytes:
    return json.dumps(
        {
            "action": action,
            "number": number,
            "pull_request": {"number": number, "head": {"sha": f"sha{number}"}},
            "repository": {"id": repo, "full_name": "octo/repo"},
        }
    ).encode()


async def store(ctx: Context, body: bytes, event: str = "pull_request") -> str:
    headers = {k.lower(): v for k, v in github_headers(body, event).items()}
    delivery = parse_github(
        headers, body, secrets=ctx.settings.webhooks.secrets_for("github"), now=0
    )
    async with ctx.pool.acquire() as conn:
        await events.store(conn, ctx.integration_ids["github"], delivery)
    return delivery.delivery_id


@asynccontextmanager
async def running_worker(
    settings: Settings, dsn: str, router: Router, concurrency: int = 4
) -> AsyncIterator[tuple[Context, Worker]]:
    async with open_context(settings, dsn) as ctx:
        worker = Worker(ctx, router, concurrency=concurrency)
        first_idle = asyncio.ensure_future(worker.idle())
        task = asyncio.create_task(worker.run())
        await asyncio.wait_for(first_idle, 10)
        try:
            yield ctx, worker
        finally:
            worker.stop()
            await task


def router_with(handler: Handler, event: str = "pull_request") -> Router:
    router = Router()
    router.add(handler, "github", event)
    return router


async def event_rows(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT delivery_id, status, attempts, last_error FROM integration_events"
        " ORDER BY received_at"
    )


async def test_a_notification_wakes_the_worker(settings, dsn, db) -> None:
    seen: list[tuple[str, int]] = []

    async def record(ctx: HandlerContext) -> None:
        seen.append((ctx.event.delivery_id, ctx.payload["number"]))

    async with running_worker(fast(settings), dsn, router_with(record)) as (ctx, worker):
        idle = asyncio.ensure_future(worker.idle())
        delivery = await store(ctx, pr_payload(7))
        await asyncio.wait_for(idle, 20)
    assert seen == [(delivery, 7)]
    rows = await event_rows(db)
    assert [(r["status"], r["attempts"]) for r in rows] == [("completed", 1)]


async def test_an_event_without_handler_is_ignored(settings, dsn, db) -> None:
    async with running_worker(fast(settings), dsn, Router()) as (ctx, worker):
        idle = asyncio.ensure_future(worker.idle())
        await store(ctx, b'{"zen": "Design for failure.", "hook_id": 1}', "ping")
        await asyncio.wait_for(idle, 20)
    rows = await db.fetch("SELECT status, processed_at FROM integration_events")
    assert rows[0]["status"] == "ignored"
    assert rows[0]["processed_at"] is not None


async def test_a_failing_handler_is_retried_then_succeeds(settings, dsn, db) -> None:
    async def flaky(ctx: HandlerContext) -> None:
        if ctx.event.attempts < 3:
            raise RuntimeError(f"upstream hiccup {ctx.event.attempts}")

    async with running_worker(fast(settings), dsn, router_with(flaky)) as (ctx, worker):
        idle = asyncio.ensure_future(worker.idle())
        await store(ctx, pr_payload(1))
        await asyncio.wait_for(idle, 20)
    [row] = await event_rows(db)
    assert (row["status"], row["attempts"]) == ("completed", 3)
    assert row["last_error"] == "RuntimeError: upstream hiccup 2"


async def test_dead_letter_after_max_attempts_then_replay_completes(settings, dsn, db) -> None:
    healed = False

    async def broken(ctx: HandlerContext) -> None:
        await ctx.conn.execute("INSERT INTO integrations (name, type) VALUES ('x', 'linear')")
        if not healed:
            raise RuntimeError("no such repository")

    async with running_worker(
        fast(settings, HOOKWISE_MAX_ATTEMPTS=3), dsn, router_with(broken)
    ) as (
        ctx,
        worker,
    ):
        idle = asyncio.ensure_future(worker.idle())
        await store(ctx, pr_payload(1))
        await asyncio.wait_for(idle, 20)
        [row] = await event_rows(db)
        assert (row["status"], row["attempts"]) == ("failed", 3)
        assert row["last_error"] == "RuntimeError: no such repository"
        # The failed attempts' writes were rolled back with them.
        assert await db.fetchval("SELECT count(*) FROM integrations WHERE name = 'x'") == 0

        healed = True
        idle = asyncio.ensure_future(worker.idle())
        async with ctx.pool.acquire() as conn:
            replayed = await events.replay(conn, events.Selection(status="failed"))
        assert [r.status for r in replayed] == ["failed"]
        await asyncio.wait_for(idle, 20)
    [row] = await event_rows(db)
    assert (row["status"], row["attempts"]) == ("completed", 1)
    assert await db.fetchval("SELECT count(*) FROM integrations WHERE name = 'x'") == 1


async def test_a_handler_asking_github_inside_its_transaction_fails_and_a_fetcher_may(
    settings, dsn, db, fake_github
) -> None:
    # The house rule, enforced where requests leave: a handler (in the event's transaction,
    # holding its pull request's lock) may not ask GitHub; the event's fetcher, run before, may.
    fake_github.add_repo("octo-org/alpha", installation_id=INSTALLATION_ID)
    seen: list[str] = []

    async def asks_inside(ctx: HandlerContext) -> None:
        api = await ctx.app.github.installation_api(INSTALLATION_ID)
        await api.getitem("/repos/octo-org/alpha")

    async def asks_first(ctx: FetchContext) -> str:
        api = await ctx.app.github.installation_api(INSTALLATION_ID)
        return (await api.getitem("/repos/octo-org/alpha"))["full_name"]

    async def records(ctx: HandlerContext) -> None:
        seen.append(ctx.fetched)

    router = Router()
    router.add(asks_inside, "github", "pull_request")
    router.fetcher("github", "issues")(asks_first)
    router.add(records, "github", "issues")
    configured = with_github(fast(settings, HOOKWISE_MAX_ATTEMPTS=1), fake_github)
    async with running_worker(configured, dsn, router) as (ctx, worker):
        # The fetcher's event first: the installation token it gets is the handler's too.
        idle = asyncio.ensure_future(worker.idle())
        await store(ctx, pr_payload(2), "issues")
        await asyncio.wait_for(idle, 20)
        idle = asyncio.ensure_future(worker.idle())
        await store(ctx, pr_payload(1))
        await asyncio.wait_for(idle, 20)
    rows = await db.fetch(
        "SELECT event_type, status, last_error FROM integration_events ORDER BY event_type"
    )
    assert [(r["event_type"], r["status"]) for r in rows] == [
        ("issues", "completed"),
        ("pull_request", "failed"),
    ]
    assert rows[1]["last_error"] == (
        "HeldAcrossNetwork: GET 127.0.0.1/repos/octo-org/alpha asked while the event's"
        " transaction is held"
    )
    assert seen == ["octo-org/alpha"]
    # Only the token and the fetcher's request reached GitHub; the handler's never left.
    assert [r.path for r in fake_github.requests if r.path.startswith("/repos/")] == [
        "/repos/octo-org/alpha"
    ]


def test_an_event_has_one_fetcher() -> None:
    async def one(ctx: FetchContext) -> None:
        return None

    router = Router()
    router.fetcher("github", "issues")(one)
    with pytest.raises(ValueError, match="two fetchers"):
        router.fetcher("github", "issues")(one)
    with pytest.raises(ValueError, match="two fetchers"):
        Router(router, router)


async def test_events_of_one_pull_request_never_run_at_once(settings, dsn, db) -> None:
    active: Counter[int] = Counter()
    most: Counter[int] = Counter()
    finished: list[int] = []
    others_done = asyncio.Event()

    async def handle(ctx: HandlerContext) -> None:
        number = ctx.payload["number"]
        active[number] += 1
        most[number] = max(most[number], active[number])
        await ctx.conn.fetchval("SELECT 1")  # yield to the loop inside the handler
        active[number] -= 1
        finished.append(number)
        if finished.count(2) == 3:
            others_done.set()

    blocked = serial_keys("github", "pull_request", json.loads(pr_payload(1)))
    holder = await asyncpg.connect(dsn)
    try:
        async with running_worker(fast(settings), dsn, router_with(handle), 4) as (ctx, worker):
            async with holder.transaction():
                for key in blocked:
                    await holder.execute(LOCK, key)
                for number in (1, 2, 1, 2, 1, 2):
                    await store(ctx, pr_payload(number))
                # PR 2 goes ahead while PR 1 waits on the lock we hold.
                await asyncio.wait_for(others_done.wait(), 20)
                assert 1 not in finished
            await asyncio.wait_for(worker.idle(), 20)
    finally:
        await holder.close()
    assert sorted(finished) == [1, 1, 1, 2, 2, 2]
    assert most[1] == 1 and most[2] == 1
    assert {r["status"] for r in await event_rows(db)} == {"completed"}


@pytest.mark.parametrize("finish_in_time", [True, False], ids=["graceful", "released"])
async def test_stop_finishes_in_flight_events_or_releases_them(
    settings, dsn, db, finish_in_time: bool
) -> None:
    started = asyncio.Event()
    gate = asyncio.Event()

    async def slow(ctx: HandlerContext) -> None:
        started.set()
        await gate.wait()

    grace = 30.0 if finish_in_time else 0.05
    async with open_context(fast(settings, HOOKWISE_SHUTDOWN_GRACE=grace), dsn) as ctx:
        worker = Worker(ctx, router_with(slow), concurrency=2)
        task = asyncio.create_task(worker.run())
        await store(ctx, pr_payload(1))
        await asyncio.wait_for(started.wait(), 20)
        worker.stop()
        worker.stop()  # safe twice
        if finish_in_time:
            gate.set()
        await asyncio.wait_for(task, 20)
    [row] = await event_rows(db)
    if finish_in_time:
        assert (row["status"], row["attempts"]) == ("completed", 1)
    else:
        assert (row["status"], row["attempts"]) == ("pending", 0)


def test_serial_keys_join_a_pull_request_and_its_check_runs() -> None:
    pr = {
        "pull_request": {"number": 5, "head": {"sha": "abc"}},
        "repository": {"id": 9},
    }
    fork_check = {"check_run": {"head_sha": "abc", "pull_requests": []}, "repository": {"id": 9}}
    check = {
        "check_run": {"head_sha": "abc", "pull_requests": [{"number": 5}]},
        "repository": {"id": 9},
    }
    assert serial_keys("github", "pull_request", pr) == ["pr:9:5", "sha:9:abc"]
    assert serial_keys("github", "check_run", fork_check) == ["sha:9:abc"]
    assert serial_keys("github", "check_run", check) == ["pr:9:5", "sha:9:abc"]
    assert serial_keys("github", "installation", {"installation": {"id": 3}}) == ["installation:3"]
    assert serial_keys("linear", "Issue", {"data": {}}) == []
    assert serial_keys("linear", "Issue", {"data": {"id": "a1"}}) == ["linear:issue:a1"]
    assert serial_keys("linear", "Comment", {"data": {"id": "c1"}}) == []
    assert serial_keys("github", "repository", {"repository": {"id": 9}}) == ["repo:9"]
    listing = {"installation": {"id": 3}}
    assert serial_keys("github", "hookwise.list_repositories", listing) == ["installation:3"]


async def run_batch_of_three(
    settings: Settings, dsn: str, handler: Handler, **changes: object
) -> list[str]:
    """Store three pull requests (no two share a key), then let one worker slot claim them in
    one batch and handle them; the statements sent on the batch's connection from the first
    handler on."""
    statements: list[str] = []

    async def logged(ctx: HandlerContext) -> None:
        if not statements:
            ctx.conn.add_query_logger(lambda record: statements.append(record.query))
            statements.append("(first handler)")
        await handler(ctx)

    configured = fast(settings, HOOKWISE_WORKER_BATCH=8, **changes)
    async with open_context(configured, dsn) as ctx:
        for number in (1, 2, 3):
            await store(ctx, pr_payload(number))
        worker = Worker(ctx, router_with(logged), concurrency=1)
        idle = asyncio.ensure_future(worker.idle())
        task = asyncio.create_task(worker.run())
        await asyncio.wait_for(idle, 20)
        worker.stop()
        await task
    return statements


async def writes_pr_number(ctx: HandlerContext) -> None:
    await ctx.conn.execute(
        "INSERT INTO integrations (name, type) VALUES ($1, 'linear')", f"pr-{ctx.payload['number']}"
    )


async def pr_names(db: asyncpg.Connection) -> list[str]:
    rows = await db.fetch("SELECT name FROM integrations WHERE name LIKE 'pr-%' ORDER BY name")
    return [r["name"] for r in rows]


async def test_a_batch_whose_events_all_succeed_runs_without_savepoints(settings, dsn, db) -> None:
    statements = await run_batch_of_three(settings, dsn, writes_pr_number)
    rows = await db.fetch(
        "SELECT status, attempts, xmin::text AS tx FROM integration_events ORDER BY arrival"
    )
    assert [(r["status"], r["attempts"]) for r in rows] == [("completed", 1)] * 3
    assert len({r["tx"] for r in rows}) == 1
    assert await pr_names(db) == ["pr-1", "pr-2", "pr-3"]
    # The three handlers' inserts, then the finish, then the commit: no SAVEPOINT, no RELEASE.
    inserts = [q for q in statements if q.startswith("INSERT INTO integrations")]
    assert len(inserts) == 3
    assert not [q for q in statements if "SAVEPOINT" in q.upper()]
    assert "COMMIT;" in statements and "ROLLBACK;" not in statements


async def test_a_claimed_batch_commits_once_and_a_failing_event_rolls_back_alone(
    settings, dsn, db
) -> None:
    calls: Counter[int] = Counter()

    async def writes_then_maybe_fails(ctx: HandlerContext) -> None:
        calls[ctx.payload["number"]] += 1
        await writes_pr_number(ctx)
        if ctx.payload["number"] == 2:
            raise RuntimeError("no such repository")

    statements = await run_batch_of_three(
        settings, dsn, writes_then_maybe_fails, HOOKWISE_MAX_ATTEMPTS=1
    )
    rows = await db.fetch(
        "SELECT status, attempts, last_error, xmin::text AS tx FROM integration_events"
        " ORDER BY arrival"
    )
    assert [(r["status"], r["attempts"]) for r in rows] == [
        ("completed", 1),
        ("failed", 1),
        ("completed", 1),
    ]
    assert rows[1]["last_error"] == "RuntimeError: no such repository"
    # One transaction wrote all three outcomes, the dead letter's too.
    assert len({r["tx"] for r in rows}) == 1
    # The failing event's write was rolled back, and only it; the others' writes, made once
    # in the try without savepoints (rolled back) and again with them, are there once.
    assert await pr_names(db) == ["pr-1", "pr-3"]
    assert await db.fetchval("SELECT count(*) FROM event_attempts") == 1
    # The first try was rolled back whole at the failing event; the second ran the others
    # under a savepoint each and recorded the failure without running that event again.
    assert statements.count("ROLLBACK;") == 1
    assert len([q for q in statements if q.startswith("SAVEPOINT")]) == 2
    assert calls == {1: 2, 2: 1, 3: 1}


async def test_a_rate_limited_event_in_a_batch_is_given_back_and_the_others_commit(
    settings, dsn, db
) -> None:
    retry_at = datetime.now(UTC) + timedelta(hours=1)

    async def writes_then_maybe_waits(ctx: HandlerContext) -> None:
        await writes_pr_number(ctx)
        if ctx.payload["number"] == 3:
            raise RetryLater(retry_at, "rate limited")

    await run_batch_of_three(settings, dsn, writes_then_maybe_waits)
    rows = await db.fetch(
        "SELECT status, attempts, run_after, xmin::text AS tx FROM integration_events"
        " ORDER BY arrival"
    )
    assert [(r["status"], r["attempts"]) for r in rows] == [
        ("completed", 1),
        ("completed", 1),
        ("pending", 0),
    ]
    assert abs((rows[2]["run_after"] - retry_at).total_seconds()) < 1
    assert len({r["tx"] for r in rows}) == 1
    assert await pr_names(db) == ["pr-1", "pr-2"]
    assert await db.fetchval("SELECT count(*) FROM event_attempts") == 0


async def test_events_given_back_for_different_times_are_each_claimed_when_due(
    settings, dsn, db
) -> None:
    # The poll is an hour away (fast): only the worker's own timer claims them again. It once
    # kept one time, the earliest: the event due later waited for the poll.
    tried: Counter[int] = Counter()
    later = {2: 0.2, 3: 0.6}

    async def waits_once(ctx: HandlerContext) -> None:
        number = ctx.payload["number"]
        tried[number] += 1
        if number in later and tried[number] == 1:
            raise RetryLater(datetime.now(UTC) + timedelta(seconds=later[number]), "rate limited")

    configured = fast(settings, HOOKWISE_WORKER_BATCH=8)
    async with open_context(configured, dsn) as ctx:
        for number in (1, 2, 3):
            await store(ctx, pr_payload(number))
    async with running_worker(configured, dsn, router_with(waits_once), concurrency=1):
        await asyncio.wait_for(until(dsn, COMPLETED, 3), 20)
    # 1 twice: the batch's first try rolled back at 2 and ran again with savepoints.
    assert tried == {1: 2, 2: 2, 3: 2}
    rows = await db.fetch("SELECT status, attempts FROM integration_events ORDER BY arrival")
    assert [tuple(r) for r in rows] == [("completed", 1)] * 3


COMPLETED = "SELECT count(*) FROM integration_events WHERE status = 'completed'"


async def test_a_batch_skips_the_events_another_worker_took_over(settings, dsn, db) -> None:
    async with open_context(fast(settings), dsn) as ctx:
        for number in (1, 2):
            await store(ctx, pr_payload(number))
        async with ctx.pool.acquire() as conn:
            # A lease that has run out by the next statement: both are due again at once.
            first = await queue.claim_many(conn, lease=0.000001, limit=2)
            [taken] = await queue.claim_many(conn, lease=300.0, limit=1)
            async with conn.transaction():
                owned, _ = await queue.own_and_lock(conn, [(c.row, []) for c in first])
                done = await queue.finish_many(
                    conn, [(c.row, "completed") for c in first if c.row.id in owned]
                )
    assert taken.row.id == first[0].row.id and taken.row.attempts == 2
    assert owned == {first[1].row.id} and done == 1
    rows = await db.fetch("SELECT status, attempts FROM integration_events ORDER BY arrival")
    # The first is the new owner's to finish; the old owner's batch left it alone.
    assert [(r["status"], r["attempts"]) for r in rows] == [("processing", 2), ("completed", 1)]


async def test_an_event_writes_one_line_at_info_carrying_its_outcome(
    settings, dsn, db, caplog
) -> None:
    async def nothing(ctx: HandlerContext) -> None:
        pass

    caplog.set_level(logging.INFO, logger="app.worker")
    async with running_worker(fast(settings), dsn, router_with(nothing)) as (ctx, worker):
        idle = asyncio.ensure_future(worker.idle())
        delivery = await store(ctx, pr_payload(7))
        await asyncio.wait_for(idle, 20)
    lines = [r for r in caplog.records if getattr(r, "delivery_id", None) == delivery]
    assert [(r.levelname, r.action) for r in lines] == [("INFO", "event_completed")]
    [line] = lines
    fields = ("source", "event", "event_action", "attempt", "outcome")
    assert tuple(getattr(line, name) for name in fields) == (
        "github",
        "pull_request",
        "opened",
        1,
        "completed",
    )
    assert line.duration_ms >= 0
    assert line.getMessage().startswith(f"completed github pull_request.opened delivery={delivery}")


@pytest.mark.parametrize(
    ("raised", "would_be"),
    [
        (RuntimeError("GitHub said no"), "retry"),
        (RetryLater(datetime(2030, 1, 1, tzinfo=UTC), "rate limited"), "later"),
    ],
    ids=["failed", "later"],
)
async def test_an_event_taken_over_while_it_ran_alone_is_left_to_its_new_owner(
    settings, dsn, db, caplog, raised, would_be
) -> None:
    """An event deferred from its batch (its pull request's key held) runs alone once the key
    is free; if its lease lapsed and another worker took it meanwhile, its handlers' failure
    is not recorded over the taker's attempt, and it is counted and logged as lease_lost."""
    body = pr_payload(7)

    async def fails(ctx: HandlerContext) -> None:
        raise raised

    caplog.set_level(logging.INFO, logger="app.worker")
    async with running_worker(fast(settings), dsn, router_with(fails)) as (ctx, worker):
        holder = await asyncpg.connect(dsn)
        try:
            async with holder.transaction():
                await holder.execute(
                    LOCK_ALL, serial_keys("github", "pull_request", json.loads(body))
                )
                delivery = await store(ctx, body)
                # The worker waits for the key, alone; its lease lapses, another worker claims.
                await asyncio.wait_for(until_waiting(dsn, 1), 30)
                # In one transaction: the worker's own next claim must not see it lapsed.
                async with db.transaction():
                    await db.execute(LAPSED)
                    [taken] = await queue.claim_many(db, lease=300.0, limit=1)
        finally:
            await holder.close()
        await asyncio.wait_for(worker.idle(wake=True), 20)
        counted = ctx.metrics.render()
    assert taken.row.attempts == 2
    rows = await event_rows(db)
    assert [(r["status"], r["attempts"], r["last_error"]) for r in rows] == [
        ("processing", 2, None)
    ]
    lines = [r for r in caplog.records if getattr(r, "delivery_id", None) == delivery]
    assert [r.action for r in lines] == ["event_lease_lost"]
    assert 'event="pull_request",outcome="lease_lost"} 1' in counted
    assert f'outcome="{would_be}"' not in counted


LAPSED = "UPDATE integration_events SET locked_until = now() - interval '1 s'"


def payload_without(number: int, missing: str) -> bytes:
    """A pull_request event as GitHub sends one, but for `missing` ('pull_request', or
    'repository.id' given as 10**30, beyond any bigint)."""
    body = {
        "action": "opened",
        "number": number,
        "pull_request": github_example("pull_request", "opened")["pull_request"],
        "repository": github_example("pull_request", "opened")["repository"],
        "installation": {"id": INSTALLATION_ID},
    }
    if missing == "pull_request":
        del body["pull_request"]
    else:
        body["repository"] = body["repository"] | {"id": 10**30}
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("missing", "error"),
    [
        ("pull_request", "KeyError: 'pull_request'"),
        ("repository.id", "DataError: invalid input for query argument $1: 10000000000"),
    ],
)
async def test_a_payload_its_handlers_cannot_read_is_dead_lettered_at_once(
    settings, dsn, db, missing, error
) -> None:
    """The same payload fails the same way every time: no eight attempts an hour apart, the
    reason shown at once (app/failures.py). Replay brings it back."""
    async with running_worker(fast(settings), dsn, default_router()) as (ctx, worker):
        idle = asyncio.ensure_future(worker.idle())
        await store(ctx, payload_without(7, missing))
        await asyncio.wait_for(idle, 20)
        dead = ctx.metrics.render()
    [row] = await event_rows(db)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"].startswith(error)
    assert 'hookwise_dead_letters_total{source="github",event="pull_request"} 1' in dead


async def test_a_fetcher_github_refuses_dead_letters_at_once_and_one_it_fails_retries(
    settings, dsn, db, fake_github
) -> None:
    """A 404 from GitHub is asked again in vain: the event is dead-lettered at its first
    attempt with GitHub's reason. A 502 is GitHub's passing trouble: the event is retried."""
    fake_github.add_repo("octo-org/alpha", installation_id=INSTALLATION_ID)
    # Every try of the first attempt (the client tries a 5xx three times).
    fake_github.fail("GET", "/repos/octo-org/alpha", status=502, times=3)

    async def asks(ctx: FetchContext) -> str:
        api = await ctx.app.github.installation_api(INSTALLATION_ID)
        return str((await api.getitem(ctx.payload["path"]))["full_name"])

    async def records(ctx: HandlerContext) -> None:
        pass

    router = Router()
    router.fetcher("github", "issues")(asks)
    router.add(records, "github", "issues")
    configured = with_github(fast(settings, HOOKWISE_GITHUB_RETRY_SECONDS=0.0), fake_github)
    async with running_worker(configured, dsn, router) as (
        ctx,
        worker,
    ):
        for path in ("/repos/octo-org/missing", "/repos/octo-org/alpha"):
            idle = asyncio.ensure_future(worker.idle())
            await store(ctx, json.dumps({"action": "opened", "path": path}).encode(), "issues")
            await asyncio.wait_for(idle, 20)
    rows = await db.fetch(
        "SELECT status, attempts, last_error FROM integration_events ORDER BY arrival"
    )
    assert [(r["status"], r["attempts"]) for r in rows] == [("failed", 1), ("completed", 2)]
    assert rows[0]["last_error"].startswith("GitHub refused (404)")
