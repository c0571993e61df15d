"""Workers as real processes: one killed mid-event, and two sharing a thousand events."""

from __future__ import annotations

import copy
import json
import queue
import signal

import asyncpg

from app.context import open_context
from app.deliveries import parse_github
from app.settings import Settings
from app.store import events
from app.worker import LOCK, serial_keys
from tests.conftest import GITHUB_SECRET
from tests.fixtures import github_example
from tests.processes import Logged, Served, environment
from tests.signing import github_headers

OPENED_DONE = Logged.of("event_completed", event="pull_request", event_action="opened")

OPENED = github_example("pull_request", "opened")


def opened(number: int) -> bytes:
    payload = copy.deepcopy(OPENED)
    payload["number"] = number
    payload["pull_request"].update(number=number, id=10_000 + number)
    payload["pull_request"]["head"]["sha"] = f"{number:040x}"
    return json.dumps(payload).encode()


async def store_all(settings: Settings, dsn: str, bodies: list[bytes]) -> list[str]:
    async with open_context(settings, dsn) as ctx, ctx.pool.acquire() as conn:
        ids = []
        for body in bodies:
            headers = {k.lower(): v for k, v in github_headers(body, "pull_request").items()}
            delivery = parse_github(
                headers, body, secrets=settings.webhooks.secrets_for("github"), now=0
            )
            await events.store(conn, ctx.integration_ids["github"], delivery)
            ids.append(delivery.delivery_id)
        return ids


def worker_env(dsn: str, **extra: str) -> dict[str, str]:
    return environment(DATABASE_URL=dsn, GITHUB_WEBHOOK_SECRET=GITHUB_SECRET, **extra)


async def test_a_killed_worker_event_completes_once_after_its_lease(settings, dsn, db) -> None:
    body = opened(1)
    [delivery] = await store_all(settings, dsn, [body])
    # At DEBUG: the line that says an event began (event_handling).
    env = worker_env(
        dsn,
        HOOKWISE_LEASE_SECONDS="2",
        HOOKWISE_POLL_INTERVAL="0.5",
        HOOKWISE_LOG_LEVEL="debug",
    )

    # Hold the pull request's lock so the first worker is caught inside the event.
    holder = await asyncpg.connect(dsn)
    transaction = holder.transaction()
    await transaction.start()
    for key in serial_keys("github", "pull_request", json.loads(body)):
        await holder.execute(LOCK, key)
    first = Served(env=env, command="worker")
    try:
        first.wait_for("event_handling", delivery_id=delivery, attempt=1)
        first.stop(signal.SIGKILL)
    finally:
        first.kill()
        await transaction.rollback()
        await holder.close()
    assert (await db.fetchval("SELECT status FROM integration_events")) == "processing"

    second = Served(env=env, command="worker")
    try:
        second.wait_for(
            "event_completed", delivery_id=delivery, event="pull_request", event_action="opened"
        )
        assert second.interrupt() == 0
    finally:
        second.kill()
    row = await db.fetchrow("SELECT status, attempts FROM integration_events")
    assert (row["status"], row["attempts"]) == ("completed", 2)
    assert await db.fetchval("SELECT count(*) FROM pull_requests") == 1
    history = await db.fetch("SELECT trigger_event::text, delivery_id FROM pr_state_history")
    assert [tuple(r) for r in history] == [("opened", delivery)]


async def test_two_worker_processes_handle_each_event_once(settings, dsn, db) -> None:
    total = 1000
    lines: queue.Queue[str | None] = queue.Queue()
    env = worker_env(dsn)
    workers = [
        Served("--concurrency", "4", env=env, command="worker", lines=lines) for _ in range(2)
    ]
    try:
        for worker in workers:
            worker.wait_for("worker_started")
        await store_all(settings, dsn, [opened(n) for n in range(1, total + 1)])
        done = 0
        while done < total:
            line = lines.get(timeout=120)
            assert line is not None, "a worker exited"
            done += OPENED_DONE.matches(line)
        for worker in workers:
            assert worker.interrupt() == 0
    finally:
        for worker in workers:
            worker.kill()

    shares = [Logged.of("event_completed", source="github").count(w.log) for w in workers]
    assert sum(shares) == total
    assert min(shares) > 0, shares
    attempts = await db.fetch(
        "SELECT status, attempts, count(*) FROM integration_events GROUP BY 1, 2"
    )
    assert [tuple(r) for r in attempts] == [("completed", 1, total)]
    assert await db.fetchval("SELECT count(*) FROM pull_requests") == total
    assert await db.fetchval("SELECT count(*) FROM pr_state_history") == total
