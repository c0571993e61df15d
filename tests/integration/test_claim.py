"""The claim's head-of-line look-up (integration_event_keys, migration 0012): the table holds an
event's serial keys exactly while it is pending or processing, whoever writes the event, and a
claim takes the first event of each pull request however many of it are queued.
"""

from __future__ import annotations

import json
import time

import asyncpg
import pytest

from app import queue
from app.context import Context, open_context
from app.deliveries import parse_github, parse_linear
from app.serial import serial_keys
from app.store import events
from app.store.statuses import EventStatus
from tests.integration.test_arrival_order import store_batch
from tests.integration.test_worker import fast, pr_payload
from tests.signing import github_headers, linear_body, linear_headers

KEYS = "SELECT key, arrival, event_id FROM integration_event_keys ORDER BY 1, 2, 3"
UNFINISHED_KEYS = """
SELECT DISTINCT k.key, e.arrival, e.id FROM integration_events e, unnest(e.serial_keys) AS k (key)
WHERE e.status IN ('pending', 'processing') ORDER BY 1, 2, 3
"""


async def assert_keys_follow_the_events(db: asyncpg.Connection) -> int:
    """The table equals the unfinished events' keys; how many rows it has."""
    kept = [tuple(r) for r in await db.fetch(KEYS)]
    assert kept == [tuple(r) for r in await db.fetch(UNFINISHED_KEYS)]
    return len(kept)


async def test_the_keys_table_follows_every_writer_of_the_events(settings, dsn, db) -> None:
    async with open_context(fast(settings), dsn) as ctx:
        await store_batch(ctx, [("pull_request", pr_payload(n)) for n in (1, 2, 3, 4)])
        # Each pull request's number and head commit.
        assert await assert_keys_follow_the_events(db) == 8
        async with ctx.pool.acquire() as conn:
            claimed = await queue.claim_many(conn, lease=300.0, limit=4)
            assert await assert_keys_follow_the_events(db) == 8
            [first, second, third, fourth] = [c.row for c in claimed]
            await queue.finish_many(conn, [(first, EventStatus.COMPLETED)])
            assert await queue.finish(conn, second, EventStatus.IGNORED)
            assert await queue.retry(conn, third, "boom", max_attempts=1, delay=0) == "failed"
            assert await queue.retry(conn, fourth, "hiccup", max_attempts=5, delay=0) == "pending"
            assert await assert_keys_follow_the_events(db) == 2
            # Replayed (the completed, ignored and dead-lettered ones back to pending).
            await events.replay(conn, events.Selection())
            assert await assert_keys_follow_the_events(db) == 8
        # An operator's UPDATE and DELETE, and a TRUNCATE naming both tables.
        await db.execute("UPDATE integration_events SET status = 'failed' WHERE arrival % 2 = 0")
        await assert_keys_follow_the_events(db)
        await db.execute("DELETE FROM integration_events WHERE status = 'pending'")
        await assert_keys_follow_the_events(db)
        await db.execute("UPDATE integration_events SET status = 'pending'")
        assert await assert_keys_follow_the_events(db) > 0
        await db.execute("TRUNCATE integration_events, integration_event_keys CASCADE")
        assert await assert_keys_follow_the_events(db) == 0


async def test_one_update_moving_events_both_ways_keeps_the_keys_right(settings, dsn, db) -> None:
    # The table is kept once per UPDATE statement (migration 0013): one statement whose rows
    # leave and enter the unfinished set, change their keys, arrival or id, must come out right.
    async with open_context(fast(settings), dsn) as ctx:
        await store_batch(ctx, [("pull_request", pr_payload(n)) for n in (1, 2, 3, 4, 5, 6)])
    await db.execute("UPDATE integration_events SET status = 'completed' WHERE arrival % 3 = 0")
    before = await assert_keys_follow_the_events(db)
    await db.execute(
        "UPDATE integration_events SET status = CASE status WHEN 'completed' THEN 'pending'"
        " ELSE 'ignored' END WHERE arrival % 2 = 0"
    )
    await assert_keys_follow_the_events(db)
    # A key named twice is one row; the keys of unfinished and finished events change alike.
    await db.execute(
        "UPDATE integration_events SET serial_keys = serial_keys || '{shared,shared}'::text[]"
        " WHERE arrival % 3 = 1"
    )
    await assert_keys_follow_the_events(db)
    await db.execute("UPDATE integration_events SET arrival = arrival + 1 WHERE arrival % 4 = 0")
    await assert_keys_follow_the_events(db)
    await db.execute("UPDATE integration_events SET id = gen_random_uuid()")
    await assert_keys_follow_the_events(db)
    # Rows that stay unfinished with the same keys: nothing to change.
    await db.execute("UPDATE integration_events SET status = 'processing' WHERE status = 'pending'")
    after = await assert_keys_follow_the_events(db)
    await db.execute("UPDATE integration_events SET status = 'pending'")
    assert await assert_keys_follow_the_events(db) > max(before, after)


async def test_a_redelivered_dead_letter_is_queued_with_its_keys(settings, dsn, db) -> None:
    async with open_context(fast(settings), dsn) as ctx:
        body = pr_payload(7)
        await store_batch(ctx, [("pull_request", body)])
        await db.execute("UPDATE integration_events SET status = 'failed'")
        assert await assert_keys_follow_the_events(db) == 0
        # Stored again: GitHub's redelivery of it.
        delivery_id = await db.fetchval("SELECT delivery_id FROM integration_events")
        headers = {
            k.lower(): v
            for k, v in github_headers(body, "pull_request", delivery=delivery_id).items()
        }
        delivery = parse_github(
            headers, body, secrets=ctx.settings.webhooks.secrets_for("github"), now=0
        )
        async with ctx.pool.acquire() as conn:
            stored = await events.store(conn, ctx.integration_ids["github"], delivery)
        assert stored.duplicate
        assert await db.fetchval("SELECT status FROM integration_events") == "pending"
        assert await assert_keys_follow_the_events(db) == 2


async def claim_all(ctx: Context, limit: int = 16, walk: int = queue.WALK) -> list[list[int]]:
    """Claim and finish until nothing is due; the arrivals of each claim."""
    claims = []
    async with ctx.pool.acquire() as conn:
        while claimed := await queue.claim_many(conn, lease=300.0, limit=limit, walk=walk):
            claims.append([c.row.arrival for c in claimed])
            await queue.finish_many(conn, [(c.row, EventStatus.COMPLETED) for c in claimed])
    return claims


# The default walk passes the hot one's 199 waiting events; a walk of 16 stops among them and
# finds the others by their keys.
@pytest.mark.parametrize("walk", [queue.WALK, 16])
async def test_one_pull_request_sent_many_times_goes_one_at_a_time_and_lets_others_pass(
    settings, dsn, db, walk: int
) -> None:
    hot = [("pull_request", pr_payload(1, action="synchronize")) for _ in range(200)]
    # Two other pull requests, stored after all of the hot one's.
    others = [("pull_request", pr_payload(2)), ("pull_request", pr_payload(3))]
    async with open_context(fast(settings), dsn) as ctx:
        await store_batch(ctx, hot + others)
        arrivals = [
            r["arrival"]
            for r in await db.fetch("SELECT arrival FROM integration_events ORDER BY arrival")
        ]
        claims = await claim_all(ctx, walk=walk)
    # The first claim takes the hot one's first event and both others, past its 199 waiting;
    # then one event of it a claim, in arrival order.
    assert claims[0] == [arrivals[0], arrivals[200], arrivals[201]]
    assert claims[1:] == [[a] for a in arrivals[1:200]]
    assert await assert_keys_follow_the_events(db) == 0


def push_payload(n: int) -> bytes:
    # A push names its repository but no pull request: no serial key (app/serial.py).
    return json.dumps(
        {"ref": "refs/heads/main", "after": f"{n:040x}", "repository": {"id": 1}}
    ).encode()


async def test_an_event_with_no_key_is_claimed_behind_a_head_deeper_than_the_walk(
    settings, dsn, db
) -> None:
    # A walk of 4 stops among the hot pull request's 20 events; the push behind them holds no
    # key, so nothing holds it back, and the first claim takes it with the hot one's first.
    hot = [("pull_request", pr_payload(1, action="synchronize")) for _ in range(20)]
    async with open_context(fast(settings), dsn) as ctx:
        await store_batch(ctx, [*hot, ("push", push_payload(1))])
        arrivals = [
            r["arrival"]
            for r in await db.fetch("SELECT arrival FROM integration_events ORDER BY arrival")
        ]
        assert (
            await db.fetchval(
                "SELECT serial_keys FROM integration_events WHERE event_type = 'push'"
            )
            == []
        )
        claims = await claim_all(ctx, walk=4)
    assert claims[0] == [arrivals[0], arrivals[20]]
    assert claims[1:] == [[a] for a in arrivals[1:20]]


async def test_an_event_with_no_key_is_claimed_past_more_keyless_ones_in_flight_than_the_walk(
    settings, dsn, db
) -> None:
    # Six pushes in flight (claimed, not finished), then a hot pull request's 20 events, then a
    # push: a walk of 4 stops among the pushes in flight, and the last push is still found.
    async with open_context(fast(settings), dsn) as ctx:
        await store_batch(ctx, [("push", push_payload(n)) for n in range(6)])
        async with ctx.pool.acquire() as conn:
            in_flight = await queue.claim_many(conn, lease=300.0, limit=6)
        assert len(in_flight) == 6
        hot = [("pull_request", pr_payload(1, action="synchronize")) for _ in range(20)]
        await store_batch(ctx, [*hot, ("push", push_payload(6))])
        arrivals = [
            r["arrival"]
            for r in await db.fetch("SELECT arrival FROM integration_events ORDER BY arrival")
        ]
        async with ctx.pool.acquire() as conn:
            claimed = await queue.claim_many(conn, lease=300.0, limit=16, walk=4)
    assert [c.row.arrival for c in claimed] == [arrivals[6], arrivals[26]]


async def test_events_of_one_linear_issue_are_claimed_one_at_a_time_in_order(
    settings, dsn, db
) -> None:
    # Two Linear events of issue A, then one of issue B: A's second waits for its first.
    def issue(id_: str, action: str) -> bytes:
        return linear_body(action=action, data={"id": id_, "identifier": f"ENG-{id_}"})

    bodies = [issue("a", "create"), issue("a", "update"), issue("b", "create")]
    async with open_context(fast(settings), dsn) as ctx:
        async with ctx.pool.acquire() as conn:
            for body in bodies:
                delivery = parse_linear(
                    {k.lower(): v for k, v in linear_headers(body).items()},
                    body,
                    secrets=ctx.settings.webhooks.secrets_for("linear"),
                    now=time.time(),
                )
                assert delivery.serial_keys == serial_keys("linear", "Issue", json.loads(body))
                await events.store(conn, ctx.integration_ids["linear"], delivery)
        arrivals = [
            r["arrival"]
            for r in await db.fetch("SELECT arrival FROM integration_events ORDER BY arrival")
        ]
        claims = await claim_all(ctx)
    assert claims == [[arrivals[0], arrivals[2]], [arrivals[1]]]
