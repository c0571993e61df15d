"""hookwise replay and hookwise status, run as an operator runs them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.operate import parse_time
from app.store import events
from tests.harness import Running
from tests.processes import environment, hookwise
from tests.signing import github_headers

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6h", NOW - timedelta(hours=6)),
        ("30m", NOW - timedelta(minutes=30)),
        ("2d", NOW - timedelta(days=2)),
        ("1.5h", NOW - timedelta(minutes=90)),
        ("2026-11-20T08:00:00", datetime(2026, 11, 20, 8, tzinfo=UTC)),
        ("2026-11-20T08:00:00+01:00", datetime(2026, 11, 20, 7, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW) == expected


def test_parse_time_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="neither a duration"):
        parse_time("yesterday", now=NOW)


@pytest.mark.parametrize("text", ["99999999999999999999d", "1000000000d", "100000000w"])
def test_parse_time_refuses_a_duration_beyond_the_calendar(text: str) -> None:
    # Not an OverflowError: the CLI would print a traceback, the admin page answer 500.
    with pytest.raises(ValueError, match="too far back"):
        parse_time(text, now=NOW)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_parse_time_refuses_an_iso_time_off_the_calendar_in_utc(text: str) -> None:
    # Not a datetime asyncpg refuses (a DataError: the admin page answered 500).
    with pytest.raises(ValueError, match="beyond the calendar once in UTC"):
        parse_time(text, now=NOW)


def test_parse_time_answers_an_iso_time_in_utc() -> None:
    assert parse_time("2024-05-01T12:00:00+02:00", now=NOW) == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert parse_time("0001-01-01T00:00:00", now=NOW) == datetime(1, 1, 1, tzinfo=UTC)


async def seed(hookwise: Running, db) -> dict[str, str]:
    """Four stored events: failed twice (two errors), completed, and an old failed one."""
    ids = {}
    for name, event in [("a", "pull_request"), ("b", "check_run"), ("c", "push"), ("d", "push")]:
        body = b'{"action": "created"}' if event != "push" else b'{"ref": "refs/heads/main"}'
        response = await hookwise.client.post(
            "/webhooks/github", content=body, headers=github_headers(body, event, delivery=name)
        )
        ids[name] = response.json()["id"]
    await db.execute(
        "UPDATE integration_events SET status = 'failed', attempts = 8,"
        " last_error = 'KeyError: repository' WHERE delivery_id IN ('a', 'b')"
    )
    await db.execute("UPDATE integration_events SET status = 'completed' WHERE delivery_id = 'c'")
    await db.execute(
        "UPDATE integration_events SET status = 'failed', last_error = 'TimeoutError: x',"
        " received_at = now() - interval '3 days' WHERE delivery_id = 'd'"
    )
    return ids


async def test_status_shows_depth_and_failures(hookwise: Running, db, dsn) -> None:
    await seed(hookwise, db)
    result = hookwise_cmd("status", dsn=dsn)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:6] == [
        "status      events",
        "pending     0",
        "processing  0",
        "completed   1",
        "ignored     0",
        "failed      3",
    ]
    assert "oldest pending: -" in result.stdout
    assert "2         KeyError: repository" in result.stdout
    assert "1         TimeoutError: x" in result.stdout


def hookwise_cmd(*args: str, dsn: str):
    return hookwise(*args, env=environment(DATABASE_URL=dsn))


async def test_replay_dry_run_then_for_real(hookwise: Running, db, dsn) -> None:
    ids = await seed(hookwise, db)
    dry = hookwise_cmd("replay", "--status", "failed", "--since", "1d", "--dry-run", dsn=dsn)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[-1] == "would re-queue 2 events"
    assert ids["a"] in dry.stdout and ids["b"] in dry.stdout and ids["d"] not in dry.stdout
    assert await db.fetchval("SELECT count(*) FROM integration_events WHERE status = 'failed'") == 3

    real = hookwise_cmd("replay", "--status", "failed", "--event", "check_run", dsn=dsn)
    assert real.returncode == 0, real.stderr
    assert real.stdout.splitlines()[-1] == "re-queued 1 event"
    row = await db.fetchrow("SELECT status, attempts FROM integration_events WHERE delivery_id='b'")
    assert (row["status"], row["attempts"]) == ("pending", 0)

    by_id = hookwise_cmd("replay", "--id", ids["c"], dsn=dsn)
    assert by_id.stdout.splitlines()[-1] == "re-queued 1 event"
    assert "completed" in by_id.stdout  # what it was
    status = await db.fetchval("SELECT status FROM integration_events WHERE delivery_id = 'c'")
    assert status == "pending"


async def test_replay_names_an_id_no_event_has_and_exits_1(hookwise: Running, db, dsn) -> None:
    ids = await seed(hookwise, db)
    unknown = str(uuid.uuid4())
    # A typo or a pruned event: not "re-queued 0 events" and success.
    alone = hookwise_cmd("replay", "--id", unknown, dsn=dsn)
    assert (alone.returncode, alone.stderr) == (1, f"hookwise: no stored event has id {unknown}\n")
    assert alone.stdout.splitlines()[-1] == "re-queued 0 events"
    # Beside one that is stored: that one is replayed all the same.
    both = hookwise_cmd("replay", "--id", ids["a"], "--id", unknown, "--dry-run", dsn=dsn)
    assert (both.returncode, both.stderr) == (1, f"hookwise: no stored event has id {unknown}\n")
    assert ids["a"] in both.stdout and both.stdout.splitlines()[-1] == "would re-queue 1 event"
    # Stored but held by a worker: left alone, and said so, not a silent "re-queued 0 events".
    await db.execute("UPDATE integration_events SET status = 'processing' WHERE id = $1", ids["a"])
    held = hookwise_cmd("replay", "--id", ids["a"], "--id", ids["c"], dsn=dsn)
    assert (held.returncode, held.stderr) == (
        1,
        f"hookwise: event {ids['a']} is being handled now, so it was left alone;"
        " replay it once it has finished\n",
    )
    assert ids["c"] in held.stdout and held.stdout.splitlines()[-1] == "re-queued 1 event"
    status = await db.fetchval("SELECT status FROM integration_events WHERE id = $1", ids["a"])
    assert status == "processing"


def test_replay_needs_a_selection(tmp_path) -> None:
    result = hookwise("replay", env=environment(HOOKWISE_DATA_DIR=str(tmp_path)))
    assert result.returncode == 2
    assert result.stderr == (
        "hookwise: say what to replay: --id, --status, --event, --since or --until\n"
    )
    bad = hookwise("replay", "--id", "nope", env=environment(HOOKWISE_DATA_DIR=str(tmp_path)))
    assert bad.returncode == 2
    assert "--id takes event ids" in bad.stderr
    swapped = hookwise(
        "replay", "--since", "1h", "--until", "2h", env=environment(HOOKWISE_DATA_DIR=str(tmp_path))
    )
    assert (swapped.returncode, swapped.stderr) == (
        2,
        "hookwise: --since 1h is not before --until 2h: no event was received in between\n",
    )
    # The choices as the user types them, not as Python spells the enum.
    status = hookwise(
        "replay", "--status", "dead", env=environment(HOOKWISE_DATA_DIR=str(tmp_path))
    )
    assert status.returncode == 2
    assert status.stderr.endswith(
        "invalid choice: 'dead' (choose from 'pending', 'completed', 'ignored', 'failed')\n"
    )
    runs = hookwise("executions", "--status", "dead", env=environment())
    assert runs.returncode == 2
    assert "(choose from 'pending', 'running', 'completed', 'failed', 'cancelled', 'skipped')" in (
        runs.stderr
    )


async def test_prune_deletes_only_old_finished_events(hookwise: Running, db, dsn) -> None:
    ids = await seed(hookwise, db)
    # c: completed long ago (goes); d: failed long ago (a dead letter: stays); e: ignored long ago
    # (goes); f: pending long ago (still work: stays); a, b: failed today (stay).
    for name in ("e", "f"):
        body = b'{"zen": "Design for failure."}'
        response = await hookwise.client.post(
            "/webhooks/github", content=body, headers=github_headers(body, "ping", delivery=name)
        )
        ids[name] = response.json()["id"]
    await db.execute("UPDATE integration_events SET status = 'ignored' WHERE delivery_id = 'e'")
    await db.execute(
        "UPDATE integration_events SET received_at = now() - interval '40 days'"
        " WHERE delivery_id IN ('c', 'd', 'e', 'f')"
    )
    await db.execute(
        "INSERT INTO event_attempts (event_id, attempt, error) VALUES ($1, 1, 'boom')",
        ids["c"],
    )
    await db.execute(
        "INSERT INTO outbound_actions (kind, idempotency_key, event_id, status)"
        " VALUES ('github.review', 'k', $1, 'sent')",
        ids["c"],
    )

    dry = hookwise_cmd("prune", "--before", "30d", "--dry-run", dsn=dsn)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would delete 2 completed or ignored events received before ")
    assert await db.fetchval("SELECT count(*) FROM integration_events") == 6

    real = hookwise_cmd("prune", "--before", "30d", dsn=dsn)
    assert real.returncode == 0, real.stderr
    assert real.stdout.startswith("deleted 2 completed or ignored events received before ")
    left = await db.fetch("SELECT delivery_id FROM integration_events ORDER BY delivery_id")
    assert [r["delivery_id"] for r in left] == ["a", "b", "d", "f"]
    assert await db.fetchval("SELECT count(*) FROM event_attempts") == 0
    # What was posted stays on record, without the event it came from.
    assert (
        await db.fetchval("SELECT event_id FROM outbound_actions WHERE idempotency_key = 'k'")
        is None
    )

    again = hookwise_cmd("prune", "--before", "30d", dsn=dsn)
    assert again.stdout.startswith("deleted 0 completed or ignored events")


async def test_prune_works_in_batches(hookwise: Running, db, dsn) -> None:
    for n in range(7):
        body = b'{"zen": "Keep it logically awesome."}'
        await hookwise.client.post(
            "/webhooks/github", content=body, headers=github_headers(body, "ping", delivery=f"p{n}")
        )
    await db.execute(
        "UPDATE integration_events SET status = 'completed', received_at = now() - interval '1 day'"
    )
    assert await events.prune(db, datetime.now(UTC), batch=3) == 7
    assert await db.fetchval("SELECT count(*) FROM integration_events") == 0


def test_prune_needs_to_know_how_old(tmp_path) -> None:
    env = environment(HOOKWISE_DATA_DIR=str(tmp_path))
    missing = hookwise("prune", env=env)
    assert missing.returncode == 2
    assert "--before" in missing.stderr
    bad = hookwise("prune", "--before", "last month", env=env)
    assert bad.returncode == 2
    assert bad.stderr == "hookwise: 'last month' is neither a duration like 6h nor an ISO time\n"
    # Parsed, but no date is that long ago: one line too, no traceback.
    far = hookwise("prune", "--before", "1000000000d", "--dry-run", env=env)
    assert (far.returncode, far.stderr) == (
        2,
        "hookwise: '1000000000d' is too far back: no date is that long ago\n",
    )
    # A time to come would take every finished event: a slip of the year, most likely.
    ahead = hookwise("prune", "--before", "2099-01-01", env=env)
    assert (ahead.returncode, ahead.stderr) == (
        2,
        "hookwise: --before 2099-01-01 is in the future; for every finished event until now,"
        " say --before 0s\n",
    )
