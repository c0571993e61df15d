"""Batch steps (app/router.py): a batch's pull_request and check_run events send their record
statements in one round trip, and what they leave is what each event alone would leave; a
statement that fails rolls its event back alone, the others commit.

The worker, the default handlers and the database are the real ones; the events are stored
first, then one worker slot claims them in one batch.
"""

from __future__ import annotations

import copy
import json
import logging
from typing import Any

import asyncpg

from app.context import open_context
from app.serving import default_router
from app.settings import Settings
from tests.fixtures import github_example
from tests.integration.test_worker import fast, running_worker, store

OPENED = github_example("pull_request", "opened")
RUN = github_example("check_run", "completed")
# Out of pr_number's integer range: the store refuses the statement, the handlers do not.
TOO_LARGE = 2**31


def opened(number: int) -> bytes:
    payload: dict[str, Any] = copy.deepcopy(OPENED)
    payload["number"] = number
    pr = payload["pull_request"]
    pr.update(id=500 + number % 1000, number=number)
    pr["head"]["sha"] = f"{number:040x}"
    return json.dumps(payload).encode()


def check_run(number: int) -> bytes:
    """A run of a head commit no pull request has (yet), listing PR `number`."""
    payload: dict[str, Any] = copy.deepcopy(RUN)
    payload["repository"] = OPENED["repository"]
    payload["installation"] = OPENED.get("installation") or {"id": 1}
    run = payload["check_run"]
    run.update(id=800 + number, head_sha=f"{number + 100:040x}")
    listed = copy.deepcopy(run["pull_requests"][0])
    listed.update(number=number)
    listed["base"]["repo"]["id"] = OPENED["repository"]["id"]
    run["pull_requests"] = [listed]
    return json.dumps(payload).encode()


async def drain(
    settings: Settings, dsn: str, bodies: list[tuple[bytes, str]], batch: int = 8
) -> None:
    """Store `bodies` (body, event), then run one worker slot, `batch` events a claim, until
    it found nothing left to do."""
    configured = fast(settings, HOOKWISE_WORKER_BATCH=batch, HOOKWISE_MAX_ATTEMPTS=1)
    async with open_context(configured, dsn) as ctx:
        for body, event in bodies:
            await store(ctx, body, event)
    async with running_worker(configured, dsn, default_router(), concurrency=1):
        pass


async def outcomes(db: asyncpg.Connection) -> list[tuple[str, str, int]]:
    rows = await db.fetch(
        "SELECT event_type, status, attempts FROM integration_events ORDER BY arrival"
    )
    return [(r["event_type"], r["status"], r["attempts"]) for r in rows]


async def test_a_batch_of_pull_requests_and_check_runs_is_recorded_as_one_by_one(
    settings, dsn, db, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="app.worker")
    await drain(
        settings,
        dsn,
        [
            (opened(1), "pull_request"),
            (opened(2), "pull_request"),
            (check_run(3), "check_run"),
            (check_run(4), "check_run"),
            (opened(5), "pull_request"),
        ],
    )
    assert await outcomes(db) == [
        ("pull_request", "completed", 1),
        ("pull_request", "completed", 1),
        ("check_run", "completed", 1),
        ("check_run", "completed", 1),
        ("pull_request", "completed", 1),
    ]
    # One transaction, no step failed.
    assert await db.fetchval("SELECT count(DISTINCT xmin::text) FROM integration_events") == 1
    assert not [r for r in caplog.records if getattr(r, "action", "") == "batch_step_failed"]
    pulls = await db.fetch(
        "SELECT p.pr_number, h.new_state::text AS state, h.trigger_event::text AS trigger"
        " FROM pull_requests p JOIN pr_state_history h ON h.pr_id = p.id ORDER BY 1"
    )
    assert [tuple(r) for r in pulls] == [(n, "opened", "opened") for n in (1, 2, 5)]
    runs = await db.fetch("SELECT github_id, pr_id, status FROM check_runs ORDER BY 1")
    assert [tuple(r) for r in runs] == [(803, None, "completed"), (804, None, "completed")]


async def test_a_statement_that_fails_in_a_batch_step_fails_its_event_alone(
    settings, dsn, db, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="app.worker")
    await drain(
        settings,
        dsn,
        [
            (opened(1), "pull_request"),
            (opened(TOO_LARGE), "pull_request"),
            (opened(3), "pull_request"),
        ],
    )
    assert await outcomes(db) == [
        ("pull_request", "completed", 1),
        ("pull_request", "failed", 1),
        ("pull_request", "completed", 1),
    ]
    error = await db.fetchval("SELECT last_error FROM integration_events WHERE status = 'failed'")
    assert "out of int32 range" in error
    # The others, handled again under a savepoint each, committed with the failure.
    assert await db.fetchval("SELECT count(DISTINCT xmin::text) FROM integration_events") == 1
    numbers = await db.fetch("SELECT pr_number FROM pull_requests ORDER BY 1")
    assert [r["pr_number"] for r in numbers] == [1, 3]
    assert await db.fetchval("SELECT count(*) FROM pr_state_history") == 2
    assert [r.levelname for r in caplog.records if r.action == "batch_step_failed"] == ["WARNING"]


async def test_a_prelude_that_fails_in_a_batch_fails_only_the_event_it_could_not_store(
    settings, dsn, db, caplog
) -> None:
    # The batch's first try takes the shared rows with no savepoint: the refused repository
    # (a URL longer than its column holds) rolls that try back, and the batch runs again as it
    # did before batch steps, its prelude's fallback taking the rows' keys instead.
    refused: dict[str, Any] = json.loads(opened(2))
    refused["repository"].update(
        id=602, full_name="octo/long", html_url="https://github.com/octo/" + "l" * 500
    )
    caplog.set_level(logging.INFO, logger="app.worker")
    await drain(
        settings,
        dsn,
        [
            (opened(1), "pull_request"),
            (json.dumps(refused).encode(), "pull_request"),
            (opened(3), "pull_request"),
        ],
    )
    assert await outcomes(db) == [
        ("pull_request", "completed", 1),
        ("pull_request", "failed", 1),
        ("pull_request", "completed", 1),
    ]
    assert await db.fetchval("SELECT count(DISTINCT xmin::text) FROM integration_events") == 1
    numbers = await db.fetch("SELECT pr_number FROM pull_requests ORDER BY 1")
    assert [r["pr_number"] for r in numbers] == [1, 3]
    actions = [r.action for r in caplog.records if r.levelname == "WARNING"]
    assert actions[:2] == ["batch_step_failed", "prelude_failed"]


def described(body: bytes, **repository: Any) -> bytes:
    """`body` with its repository's fields changed as `repository` says."""
    payload: dict[str, Any] = json.loads(body)
    payload["repository"].update(repository)
    return json.dumps(payload).encode()


async def test_a_repository_two_payloads_of_a_batch_describe_apart_ends_as_the_last_says(
    settings, dsn, db
) -> None:
    # A step sends every event's first statement before any handler runs, so an earlier
    # event's handler refreshing the repository to its own (older) description would come
    # after the later events' statements had found the row current: the older one would stand.
    await drain(
        settings,
        dsn,
        [
            (opened(1), "pull_request"),
            (described(check_run(2), default_branch="old"), "check_run"),
            (described(opened(3), default_branch="newest"), "pull_request"),
            (described(opened(4), default_branch="newest"), "pull_request"),
        ],
    )
    assert await outcomes(db) == [
        ("pull_request", "completed", 1),
        ("check_run", "completed", 1),
        ("pull_request", "completed", 1),
        ("pull_request", "completed", 1),
    ]
    assert await db.fetchval("SELECT count(DISTINCT xmin::text) FROM integration_events") == 1
    assert await db.fetchval("SELECT default_branch FROM repositories") == "newest"
    numbers = await db.fetch("SELECT pr_number FROM pull_requests ORDER BY 1")
    assert [r["pr_number"] for r in numbers] == [1, 3, 4]
