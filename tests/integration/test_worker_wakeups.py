"""When the worker claims: at once when nothing is in flight; while a batch is in flight, once
it commits (so what was stored meanwhile is claimed together), or once a batch stuck in flight
has held the others long enough; again at once while claims come back full.

Handlers here are a test's own, on the real worker, queue and database. A poll interval of an
hour (`fast`) means that only a NOTIFY or the worker's own rules can start a claim.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from app.router import HandlerContext
from tests.integration.test_arrival_order import store_batch
from tests.integration.test_worker import (
    event_rows,
    fast,
    pr_payload,
    router_with,
    running_worker,
    store,
)


async def test_events_stored_one_by_one_while_a_batch_is_held_are_each_handled_once_in_order(
    settings, dsn, db
) -> None:
    """A batch held in flight (its handler waits) holds back its own pull request only: the
    events of the others, each stored in a commit of its own while it is held, are all
    handled meanwhile; then the held one's later events follow it, in arrival order."""
    gate = asyncio.Event()
    held = asyncio.Event()
    handled: list[tuple[int, str]] = []
    others_done = asyncio.Event()
    stored: dict[int, list[str]] = {}

    async def handle(ctx: HandlerContext) -> None:
        number = ctx.payload["number"]
        if number == 1 and not held.is_set():
            held.set()
            await gate.wait()
        handled.append((number, ctx.event.delivery_id))
        if sum(1 for n, _ in handled if n != 1) == 9:
            others_done.set()

    async with running_worker(fast(settings), dsn, router_with(handle)) as (ctx, worker):
        stored[1] = [await store(ctx, pr_payload(1))]
        await asyncio.wait_for(held.wait(), 20)
        for _ in range(3):
            for number in (1, 2, 3, 4):
                stored.setdefault(number, []).append(await store(ctx, pr_payload(number)))
        # Pull requests 2-4 go through while the batch of 1 is still in its handler.
        await asyncio.wait_for(others_done.wait(), 20)
        assert not any(number == 1 for number, _ in handled)
        gate.set()
        await asyncio.wait_for(worker.idle(), 20)

    for number, deliveries in stored.items():
        assert [d for n, d in handled if n == number] == deliveries
    rows = await event_rows(db)
    assert len(rows) == 13
    assert Counter((r["status"], r["attempts"]) for r in rows) == {("completed", 1): 13}


async def test_a_trickle_is_handled_event_by_event_without_a_poll(settings, dsn, db) -> None:
    """Each event stored while the worker is idle is handled on its NOTIFY alone."""
    handled: list[str] = []
    arrived = asyncio.Event()

    async def handle(ctx: HandlerContext) -> None:
        handled.append(ctx.event.delivery_id)
        arrived.set()

    async with running_worker(fast(settings), dsn, router_with(handle)) as (ctx, worker):
        stored = []
        for number in range(1, 6):
            arrived.clear()
            idle = asyncio.ensure_future(worker.idle())
            stored.append(await store(ctx, pr_payload(number)))
            await asyncio.wait_for(arrived.wait(), 20)
            await asyncio.wait_for(idle, 20)
    assert handled == stored
    assert {(r["status"], r["attempts"]) for r in await event_rows(db)} == {("completed", 1)}


async def test_a_full_claim_is_followed_by_another_so_batches_run_side_by_side(
    settings, dsn, db
) -> None:
    """Twelve pull requests' events stored in one commit, batches of four: the worker claims a
    second batch while the first is still in its handlers, with no further NOTIFY."""
    gate = asyncio.Event()
    in_handlers = 0
    two_at_once = asyncio.Event()
    handled: Counter[str] = Counter()

    async def handle(ctx: HandlerContext) -> None:
        nonlocal in_handlers
        in_handlers += 1
        if in_handlers >= 2:
            two_at_once.set()
        # A batch runs its events' handlers one after another: two in handlers at once are
        # two batches in flight.
        await gate.wait()
        in_handlers -= 1
        handled[ctx.event.delivery_id] += 1

    changed = fast(settings, HOOKWISE_WORKER_BATCH=4)
    async with running_worker(changed, dsn, router_with(handle)) as (ctx, worker):
        stored = await store_batch(
            ctx, [("pull_request", pr_payload(number)) for number in range(1, 13)]
        )
        await asyncio.wait_for(two_at_once.wait(), 20)
        gate.set()
        await asyncio.wait_for(worker.idle(), 20)
    assert handled == dict.fromkeys(stored, 1)
    assert {(r["status"], r["attempts"]) for r in await event_rows(db)} == {("completed", 1)}


@pytest.mark.parametrize("gather", [3600.0, 0.0], ids=["an-hour", "none"])
async def test_how_long_events_stored_while_a_batch_is_held_wait_for_it_is_a_setting(
    settings, dsn, db, gather: float
) -> None:
    """HOOKWISE_WORKER_GATHER: with an hour, events stored while a batch is held wait for its
    commit (half a second, twenty times the default, goes by without them), then are claimed
    together in one batch; with 0 they are claimed at once, beside the held one."""
    gate = asyncio.Event()
    held = asyncio.Event()
    others = asyncio.Event()
    handled: list[int] = []

    async def handle(ctx: HandlerContext) -> None:
        number = ctx.payload["number"]
        if number == 1:
            held.set()
            await gate.wait()
        handled.append(number)
        if sorted(handled) == [2, 3]:
            others.set()

    configured = fast(settings, HOOKWISE_WORKER_GATHER=gather)
    async with running_worker(configured, dsn, router_with(handle)) as (ctx, worker):
        await store(ctx, pr_payload(1))
        await asyncio.wait_for(held.wait(), 20)
        await store(ctx, pr_payload(2))
        await store(ctx, pr_payload(3))
        waiting = asyncio.ensure_future(others.wait())
        done, _ = await asyncio.wait([waiting], timeout=0.5 if gather else 20)
        waiting.cancel()
        # Claimed beside the held batch only when the worker is told not to wait for it.
        assert bool(done) == (gather == 0)
        gate.set()
        await asyncio.wait_for(worker.idle(wake=True), 20)
    rows = await db.fetch(
        "SELECT status, attempts, xmin::text AS tx FROM integration_events ORDER BY arrival"
    )
    assert [(r["status"], r["attempts"]) for r in rows] == [("completed", 1)] * 3
    if gather:
        assert handled == [1, 2, 3]
        # Claimed together once the held batch committed: one transaction finished both.
        assert rows[1]["tx"] == rows[2]["tx"] != rows[0]["tx"]
    else:
        assert handled[-1] == 1
