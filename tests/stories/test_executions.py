"""Reactions as executions of their own: the state is recorded whatever the model or GitHub
answers, and each remote's answer is classified once (refused: failed now, reason shown; rate
limited: rescheduled, attempt not counted; unavailable: retried). Real worker, embedded
PostgreSQL, the fakes over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from app import operate, pool_size
from app.serving import default_router
from app.setup import PERMISSIONS
from app.store import events
from app.store import executions as executions_store
from app.worker import Worker
from tests.admin_support import TOKEN, csrf_of, log_in
from tests.conftest import INSTALLATION_ID
from tests.fakes.github import FakeGitHub
from tests.processes import environment, hookwise
from tests.reactions_world import ANALYSIS, REPO, REVIEW, World, world_factory_for
from tests.waits import until_waiting


@pytest.fixture
def world_factory(settings, dsn, fake_github: FakeGitHub) -> Any:
    return world_factory_for(settings, dsn, fake_github)


def reviews_on(world: World) -> list[Any]:
    return list(world.github.reviews.values())


async def executions(db) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        "SELECT w.name, e.status, e.attempts, e.error_message FROM workflow_executions e"
        " JOIN workflows w ON w.id = e.workflow_id ORDER BY e.seq"
    )
    return [tuple(r) for r in rows]


async def events_of(db, event_type: str) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        "SELECT status, attempts FROM integration_events"
        " WHERE event_type = $1 ORDER BY received_at",
        event_type,
    )
    return [tuple(r) for r in rows]


def push(world: World, files: dict[str, str]) -> None:
    world.github.commit_files(REPO, "fix-calc", files, message="More")
    world.pull = world.github.pull_json(world.github.repo(REPO).pulls[7])


def configure(world: World, text: str) -> None:
    """The repository's .github/hookwise.yml, on its default branch (where it is read)."""
    world.github.commit_files(REPO, "main", {".github/hookwise.yml": text}, message="Config")


def counted(world: World, workflow: str, outcome: str) -> bool:
    line = f'hookwise_executions_total{{workflow="{workflow}",outcome="{outcome}"}} 1'
    return line in world.hookwise.ctx.metrics.render()


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        (404, "model claude-sonet-4 does not exist"),
        (401, "API key was refused"),
        (403, "permission denied"),
    ],
)
async def test_a_model_refusal_fails_the_review_never_the_pull_request(
    world_factory, db, status, shown
) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        if status == 404:
            # A mistyped model in the repository's config: the API answers 404 not_found_error.
            world.model.models = frozenset({"claude-sonnet-4-6"})
            configure(world, "model: claude-sonet-4\n")
        else:
            world.model.fail(status)
        await world.deliver("pull_request", world.pr_event("opened"))

        assert reviews_on(world) == []
        assert counted(world, "hookwise.review", "failed")
        # The model recovers (the config is mended); the next head commit is reviewed once.
        world.model.models = None
        configure(world, "review: true\n")
        push(world, {"notes.md": "# Notes\n"})
        world.model.reply_tool("submit_review", REVIEW)
        await world.deliver("pull_request", world.pr_event("synchronize"))
        assert len(reviews_on(world)) == 1

    assert await db.fetchval("SELECT state FROM pull_requests") == "opened"
    assert await db.fetchval("SELECT count(*) FROM pr_state_history") >= 1
    assert await events_of(db, "pull_request") == [("completed", 1), ("completed", 1)]
    [failed, posted] = await executions(db)
    assert failed[:3] == ("hookwise.review", "failed", 1)
    assert shown in failed[3]
    assert posted[:3] == ("hookwise.review", "completed", 1)
    review = await db.fetchrow("SELECT status, error FROM reviews ORDER BY created_at LIMIT 1")
    assert review["status"] == "failed" and shown in review["error"]


async def test_a_model_rate_limit_reschedules_the_review_without_an_attempt(
    world_factory, db
) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        world.model.fail(429, retry_after=600)
        await world.deliver("pull_request", world.pr_event("opened"))
        assert await events_of(db, "pull_request") == [("completed", 1)]
        row = await db.fetchrow("SELECT status, attempts, run_after FROM workflow_executions")
        assert (row["status"], row["attempts"]) == ("pending", 0)
        soon = datetime.now(UTC) + timedelta(seconds=600)
        assert abs((row["run_after"] - soon).total_seconds()) < 30
        assert counted(world, "hookwise.review", "rescheduled")

        # The time named has come.
        world.model.reply_tool("submit_review", REVIEW)
        await db.execute("UPDATE workflow_executions SET run_after = now()")
        await world.settle()
        assert len(reviews_on(world)) == 1
    [(_, status, attempts, _)] = await executions(db)
    assert (status, attempts) == ("completed", 1)


async def test_an_overloaded_model_retries_the_execution_not_the_event(world_factory, db) -> None:
    async with world_factory(
        HOOKWISE_FIX=False, HOOKWISE_ANTHROPIC_MAX_RETRIES=0, HOOKWISE_RETRY_BASE_SECONDS=0.0
    ) as world:
        world.model.fail(529)
        world.model.reply_tool("submit_review", REVIEW)
        await world.deliver("pull_request", world.pr_event("opened"))
        assert len(reviews_on(world)) == 1
        assert counted(world, "hookwise.review", "retry")
    assert await events_of(db, "pull_request") == [("completed", 1)]
    [(_, status, attempts, _)] = await executions(db)
    assert (status, attempts) == ("completed", 2)
    steps = await db.fetch("SELECT step_name, message FROM execution_logs ORDER BY created_at")
    assert any(r["step_name"] == "error" and "529" in r["message"] for r in steps)


async def test_an_outage_of_the_model_fails_the_execution_after_its_attempts(
    world_factory, db
) -> None:
    async with world_factory(
        HOOKWISE_FIX=False,
        HOOKWISE_ANTHROPIC_MAX_RETRIES=0,
        HOOKWISE_RETRY_BASE_SECONDS=0.0,
        HOOKWISE_MAX_ATTEMPTS=2,
    ) as world:
        world.model.fail(529, times=2)
        await world.deliver("pull_request", world.pr_event("opened"))
        assert reviews_on(world) == []
    assert await events_of(db, "pull_request") == [("completed", 1)]
    [(_, status, attempts, error)] = await executions(db)
    assert (status, attempts) == ("failed", 2)
    assert "Anthropic" in error and "529" in error


async def test_an_analysis_failed_after_its_attempts_says_so_in_our_check_run(
    world_factory, db
) -> None:
    async with world_factory(
        HOOKWISE_REVIEW=False,
        HOOKWISE_ANTHROPIC_MAX_RETRIES=0,
        HOOKWISE_RETRY_BASE_SECONDS=0.0,
        HOOKWISE_MAX_ATTEMPTS=2,
    ) as world:
        await world.deliver("pull_request", world.pr_event("opened"))
        world.model.fail(529, times=2)
        await world.deliver("check_run", world.failed_check())
        # The user looks on the pull request: hookwise's check run says why there is nothing.
        [ours] = [r for r in world.github.check_runs.values() if r.name == "hookwise: tests"]
        assert ours.output["title"] == "Analysis failed"
        assert "Anthropic" in ours.output["summary"] and "529" in ours.output["summary"]
    [(_, state, attempts, error)] = [e for e in await executions(db) if "analyse" in e[0]]
    assert "529" in error
    assert (state, attempts) == ("failed", 2)


async def test_a_review_failed_after_its_attempts_is_recorded_failed(world_factory, db) -> None:
    async with world_factory(
        HOOKWISE_FIX=False, HOOKWISE_RETRY_BASE_SECONDS=0.0, HOOKWISE_MAX_ATTEMPTS=2
    ) as world:
        world.model.reply_tool("submit_review", REVIEW)
        # GitHub keeps failing the post: each attempt ends in a 502 (retried as transient).
        world.github.fail("POST", r"/repos/.+/pulls/\d+/reviews", status=502, times=2)
        await world.deliver("pull_request", world.pr_event("opened"))
        assert reviews_on(world) == []
        assert len(world.model.calls) == 1
    review = await db.fetchrow("SELECT status, error, input_tokens FROM reviews")
    assert review["status"] == "failed" and "502" in review["error"]
    assert review["input_tokens"] == 1200


@pytest.mark.parametrize("status", [403, 404])
async def test_a_refused_job_listing_fails_the_analysis_not_the_check_run(
    world_factory, db, status
) -> None:
    # 403: an installation without `actions: read`; 404: the workflow run was deleted.
    async with world_factory(HOOKWISE_REVIEW=False) as world:
        await world.deliver("pull_request", world.pr_event("opened"))
        world.github.fail("GET", r"/repos/.+/actions/runs/\d+/jobs", status=status)
        await world.deliver("check_run", world.failed_check())
        assert world.model.calls == []
        [ours] = [r for r in world.github.check_runs.values() if r.name == "hookwise: tests"]
        assert ours.output["title"] == "Analysis failed"
        assert f"GitHub refused ({status})" in ours.output["summary"]
        assert counted(world, "hookwise.analyse_failure", "failed")
    assert await events_of(db, "check_run") == [("completed", 1)]
    stored = await db.fetchrow("SELECT conclusion, pr_id FROM check_runs LIMIT 1")
    assert stored["conclusion"] == "failure" and stored["pr_id"] is not None
    [(_, state, attempts, error)] = [e for e in await executions(db) if "analyse" in e[0]]
    assert (state, attempts) == ("failed", 1)
    assert f"GitHub refused ({status})" in error


async def test_a_review_github_refuses_fails_at_once_with_the_reason(world_factory, db) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        world.model.reply_tool("submit_review", REVIEW)
        # Refused in every form: whole, its one comment alone, and without it.
        world.github.fail("POST", r"/repos/.+/pulls/\d+/reviews", status=422, times=3)
        await world.deliver("pull_request", world.pr_event("opened"))
        assert reviews_on(world) == []
        assert len(world.model.calls) == 1
    assert await events_of(db, "pull_request") == [("completed", 1)]
    [(_, status, attempts, error)] = await executions(db)
    assert (status, attempts) == ("failed", 1)
    assert "GitHub refused (422)" in error
    assert await db.fetchval("SELECT status FROM reviews") == "failed"


async def test_a_review_github_refuses_counts_the_tokens_it_paid_for(world_factory, db) -> None:
    # Installed yesterday without pull_requests: write. The model is paid for each review,
    # then GitHub refuses it: the daily budget must see that spend and stop the next one.
    async with world_factory(HOOKWISE_FIX=False, HOOKWISE_DAILY_TOKEN_BUDGET=1000) as world:
        read_only = {**PERMISSIONS, "pull_requests": "read"}
        world.github.add_installation(INSTALLATION_ID, permissions=read_only)
        world.model.reply_tool("submit_review", REVIEW, input_tokens=1200, output_tokens=300)
        await world.deliver("pull_request", world.pr_event("opened"))
        push(world, {"notes.md": "# Notes\n"})
        world.model.reply_tool("submit_review", REVIEW)
        await world.deliver("pull_request", world.pr_event("synchronize"))
        assert len(world.model.calls) == 1
        assert reviews_on(world) == []
    failed = await db.fetchrow(
        "SELECT status, error, model, input_tokens, output_tokens, cost_usd FROM reviews"
        " ORDER BY created_at LIMIT 1"
    )
    assert failed["status"] == "failed" and "GitHub refused (403)" in failed["error"]
    assert (failed["input_tokens"], failed["output_tokens"]) == (1200, 300)
    assert failed["model"] is not None and failed["cost_usd"] > 0
    skipped = await db.fetchrow(
        "SELECT status, error FROM reviews ORDER BY created_at DESC LIMIT 1"
    )
    assert tuple(skipped) == ("skipped", "daily token budget reached")


async def waiting_review(world: World, db) -> None:
    """Opened, and its review waits: the model asked us to come back in ten minutes."""
    world.model.fail(429, retry_after=600)
    await world.deliver("pull_request", world.pr_event("opened"))
    [(_, status, attempts, error)] = await executions(db)
    assert (status, attempts) == ("pending", 0) and "rate limit" in error


async def due_now(world: World, db) -> None:
    await db.execute("UPDATE workflow_executions SET run_after = now() WHERE status = 'pending'")
    await world.settle()


async def test_a_pull_request_closed_while_its_review_waits_is_not_reviewed(
    world_factory, db
) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        await waiting_review(world, db)
        closed = world.pr_event("closed")
        later = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        closed["pull_request"] = world.pull | {
            "state": "closed",
            "closed_at": later,
            "updated_at": later,
        }
        await world.deliver("pull_request", closed)
        await due_now(world, db)
        assert world.model.calls == []
        assert reviews_on(world) == []
    assert await executions(db) == [
        ("hookwise.review", "cancelled", 1, "the pull request is closed")
    ]


async def test_a_push_while_the_review_waits_reviews_only_the_new_head(world_factory, db) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        first = world.pull["head"]["sha"]
        await waiting_review(world, db)
        push(world, {"notes.md": "# Notes\n"})
        world.model.reply_tool("submit_review", REVIEW)
        await world.deliver("pull_request", world.pr_event("synchronize"))
        await due_now(world, db)
        assert len(world.model.calls) == 1
        [review] = reviews_on(world)
        assert review.commit_id == world.pull["head"]["sha"] != first
    [superseded, reviewed] = await executions(db)
    assert superseded[:3] == ("hookwise.review", "cancelled", 1)
    assert superseded[3].startswith(f"superseded: the head moved from {first[:7]}")
    assert reviewed[:3] == ("hookwise.review", "completed", 1)


async def test_a_slow_model_keeps_its_lease_and_runs_once(world_factory, db) -> None:
    async with world_factory(HOOKWISE_FIX=False, HOOKWISE_LEASE_SECONDS=0.6) as world:
        world.model.delay = 2.0
        world.model.reply_tool("submit_review", REVIEW, times=2)
        # A second worker polling often: it would take the execution over if its lease lapsed.
        ctx = world.hookwise.ctx
        eager = dataclasses.replace(
            ctx, settings=ctx.settings.with_env(HOOKWISE_POLL_INTERVAL=0.05)
        )
        rival = Worker(eager, default_router(), concurrency=1)
        running = asyncio.create_task(rival.run())
        try:
            await world.deliver("pull_request", world.pr_event("opened"))
            await asyncio.wait_for(rival.idle(), 30)
        finally:
            rival.stop()
            await running
        assert len(world.model.calls) == 1
        assert len(reviews_on(world)) == 1
    [(_, status, attempts, _)] = await executions(db)
    assert (status, attempts) == ("completed", 1)


@pytest.mark.parametrize(
    ("status", "would_be"), [(529, "retry"), (429, "rescheduled")], ids=["overloaded", "limited"]
)
async def test_a_review_whose_lease_was_taken_over_leaves_the_row_to_its_new_owner(
    world_factory, db, status, would_be
) -> None:
    """The model answers an error only after the review's lease lapsed and another worker took
    the execution over: the first worker neither retries nor reschedules a row it no longer
    holds (the taker's attempt stands), and counts the outcome as lease_lost."""
    async with world_factory(
        HOOKWISE_FIX=False, HOOKWISE_ANTHROPIC_MAX_RETRIES=0, HOOKWISE_RETRY_BASE_SECONDS=0.0
    ) as world:
        world.model.hold()
        world.model.fail(status, retry_after=600)
        world.start()
        await world.store("pull_request", world.pr_event("opened"))
        await asyncio.wait_for(world.model.holding(1), 30)
        # The lease lapses (a worker paused past it, say) and another worker claims the row, in
        # one transaction: the first worker's own next claim must not see it lapsed.
        async with db.transaction():
            await db.execute(LAPSED)
            taken = await executions_store.claim(db, lease=300)
        assert taken is not None and taken.attempts == 2
        world.model.release()
        await world.settle()
        assert counted(world, "hookwise.review", "lease_lost")
        assert not counted(world, "hookwise.review", would_be)
    [(_, row_status, attempts, error)] = await executions(db)
    assert (row_status, attempts, error) == ("running", 2, None)


async def test_a_cancelled_review_whose_lease_was_taken_over_is_left_to_its_new_owner(
    world_factory, db, dsn
) -> None:
    """The review is found pointless (its event deleted) and cancelled, but by the time its
    worker records that, the lease has lapsed and another worker holds the row: the taker's
    claim stands, and the first worker counts lease_lost, not cancelled."""
    async with world_factory(HOOKWISE_FIX=False) as world:
        await waiting_review(world, db)
        await db.execute("DELETE FROM integration_events")
        holder = await asyncpg.connect(dsn)
        try:
            async with holder.transaction():
                # The worker's line in the execution's log waits, after its claim.
                await holder.execute("LOCK TABLE execution_logs IN EXCLUSIVE MODE")
                await db.execute("UPDATE workflow_executions SET run_after = now()")
                idle = asyncio.ensure_future(world.worker.idle(wake=True))
                await asyncio.wait_for(until_waiting(dsn, 1), 30)
                await holder.execute(LAPSED)
                taken = await executions_store.claim(holder, lease=300)
                assert taken is not None and taken.attempts == 2
        finally:
            await holder.close()
        await asyncio.wait_for(idle, 30)
        assert counted(world, "hookwise.review", "lease_lost")
        assert not counted(world, "hookwise.review", "cancelled")
    [(_, status, attempts, _)] = await executions(db)
    assert (status, attempts) == ("running", 2)


LAPSED = "UPDATE workflow_executions SET locked_until = now() - interval '1 s'"


async def test_a_pool_of_two_and_two_slots_reviews_twenty_pull_requests(world_factory, db) -> None:
    async with world_factory(
        HOOKWISE_FIX=False, HOOKWISE_DB_POOL_SIZE=2, HOOKWISE_WORKER_CONCURRENCY=2
    ) as world:
        world.model.responder = lambda request: {"summary": "Fine.", "comments": []}
        for number in range(101, 121):
            pull = world.github.add_pull(REPO, number, head_branch="fix-calc", title=f"PR {number}")
            event = world.pr_event("opened") | {"number": number, "pull_request": pull}
            await world.store("pull_request", event)
        # Bounded by the timeout, not a sleep: every review is posted or this fails.
        await asyncio.wait_for(world.settle(), 120)
        assert len(reviews_on(world)) == 20
    assert (
        await db.fetchval("SELECT count(*) FROM workflow_executions WHERE status = 'completed'")
        == 20
    )
    assert (
        await db.fetchval("SELECT count(*) FROM integration_events WHERE status = 'completed'")
        == 20
    )


async def test_executions_are_listed_and_replayed_from_the_cli(world_factory, db, dsn) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        # Refused in every form: whole, its one comment alone, and without it.
        world.github.fail("POST", r"/repos/.+/pulls/\d+/reviews", status=422, times=3)
        world.model.reply_tool("submit_review", REVIEW, times=2)
        await world.deliver("pull_request", world.pr_event("opened"))
        env = environment(DATABASE_URL=dsn)

        failed = hookwise("executions", "--status", "failed", "--pr", f"{REPO}#7", env=env)
        assert failed.returncode == 0, failed.stderr
        [header, row, total] = failed.stdout.splitlines()
        assert "workflow" in header and total == "1 execution"
        assert "review" in row and f"{REPO}#7" in row and "GitHub refused (422)" in row
        status = hookwise("status", env=env)
        [line] = [line for line in status.stdout.splitlines() if line.startswith("review ")]
        assert line.split() == ["review", "0", "0", "0", "1", "0", "0"]
        other = hookwise("executions", "--pr", f"{REPO}#8", env=env)
        assert other.stdout.splitlines()[-1] == "0 executions"

        execution_id = row.split()[0]
        replayed = hookwise("replay", "--execution", execution_id, env=env)
        assert replayed.returncode == 0, replayed.stderr
        assert replayed.stdout == f"re-queued execution {execution_id}\n"
        await world.settle()
        assert len(reviews_on(world)) == 1
        # Its log says why it ran again, and who asked.
        steps = await db.fetch(
            "SELECT step_name, message FROM execution_logs WHERE execution_id = $1",
            uuid.UUID(execution_id),
        )
        assert ("replay", "replayed by an operator (hookwise replay)") in [tuple(r) for r in steps]

        bad = hookwise("executions", "--pr", "widgets-7", env=env)
        assert bad.returncode == 2 and "owner/repo#N" in bad.stderr
    assert await db.fetchval("SELECT status FROM workflow_executions") == "completed"


@pytest.mark.parametrize(
    ("command", "env", "named"),
    [
        (("serve",), {"HOOKWISE_DB_POOL_SIZE": "6"}, "at least 7"),
        (("serve", "--no-worker"), {"HOOKWISE_DB_POOL_SIZE": "2"}, "at least 3"),
        (("worker", "--concurrency", "3"), {"HOOKWISE_DB_POOL_SIZE": "2"}, "at least 3"),
    ],
)
def test_a_pool_too_small_is_refused_at_start(tmp_path, command, env, named) -> None:
    values = {"GITHUB_WEBHOOK_SECRET": "s", "HOOKWISE_DATA_DIR": str(tmp_path)} | env
    done = hookwise(*command, env=environment(**values))
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    assert "HOOKWISE_DB_POOL_SIZE" in line and named in line
    if command[-1] != "--no-worker":
        assert "HOOKWISE_WORKER_CONCURRENCY" in line


def test_the_default_settings_fit_the_pool() -> None:
    pool_size.check(pool=10, web=True, slots=4)
    pool_size.check(pool=2, web=False, slots=2)
    with pytest.raises(pool_size.PoolTooSmall):
        pool_size.check(pool=2, web=False, slots=3)


async def test_the_admin_timeline_shows_executions_with_their_steps(world_factory, db) -> None:
    async with world_factory(HOOKWISE_FIX=False, HOOKWISE_ADMIN_TOKEN=TOKEN) as world:
        world.model.reply_tool("submit_review", REVIEW, input_tokens=2000, output_tokens=400)
        await world.deliver("pull_request", world.pr_event("opened"))
        client = world.hookwise.client
        await log_in(client)
        pull_id = await db.fetchval("SELECT id FROM pull_requests")
        html = (await client.get(f"/admin/pulls/{pull_id}")).text
    assert "<td>execution</td>\n      <td>hookwise.review, attempt 1</td>" in html
    assert '<span class="status completed">completed</span>' in html
    assert "model: " in html and "2000 tokens in, 400 out" in html
    assert "review: review " in html and "posted with 1 comments" in html


@pytest.mark.parametrize(
    ("status", "outcome", "shown"),
    [
        (401, "failed", "API key was refused"),
        (404, "failed", "does not exist"),
        (429, "pending", "rate limit"),
    ],
)
async def test_the_model_refusing_an_analysis_shows_in_our_check_run(
    world_factory, db, status, outcome, shown
) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_ANTHROPIC_MAX_RETRIES=0) as world:
        await world.deliver("pull_request", world.pr_event("opened"))
        if status == 404:
            world.model.models = frozenset({"claude-sonnet-4-6"})
            world.model.reply_tool("report_analysis", ANALYSIS)
            configure(world, "model: claude-sonet-4\n")
            await world.deliver("pull_request", world.pr_event("synchronize"))
        else:
            world.model.fail(status, retry_after=600 if status == 429 else None)
        await world.deliver("check_run", world.failed_check())
        ours = [r for r in world.github.check_runs.values() if r.name == "hookwise: tests"]
        if outcome == "failed":
            assert [r.output["title"] for r in ours] == ["Analysis failed"]
            assert shown in ours[0].output["summary"]
        else:
            assert ours == []  # nothing to say yet: it runs again when the limit lifts
    assert await events_of(db, "check_run") == [("completed", 1)]
    assert await db.fetchval("SELECT conclusion::text FROM check_runs LIMIT 1") == "failure"
    [(_, state, attempts, error)] = [e for e in await executions(db) if "analyse" in e[0]]
    assert (state, attempts) == (outcome, 1 if outcome == "failed" else 0)
    assert shown in error


async def test_a_review_reads_its_events_stored_body_and_keeps_that_event_from_pruning(
    world_factory, db
) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        await waiting_review(world, db)
        # No copy of the 25 KB payload: the execution points at its event.
        stored = await db.fetchrow(
            "SELECT trigger_data, event_id IS NOT NULL AS has_event FROM workflow_executions"
        )
        assert stored["trigger_data"] is None and stored["has_event"]
        # The event is finished and old enough, but its execution still needs its body.
        assert await events.prune(db, datetime.now(UTC) + timedelta(hours=1)) == 0
        world.model.reply_tool("submit_review", REVIEW)
        await due_now(world, db)
        [review] = reviews_on(world)
        assert review.commit_id == world.pull["head"]["sha"]
    assert await executions(db) == [("hookwise.review", "completed", 1, None)]
    # Finished: the event may go now.
    assert await events.prune(db, datetime.now(UTC) + timedelta(hours=1)) == 1


async def test_a_review_whose_event_was_deleted_is_cancelled_with_the_reason(
    world_factory, db
) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        await waiting_review(world, db)
        await db.execute("DELETE FROM integration_events")
        await due_now(world, db)
        assert world.model.calls == []
    assert await executions(db) == [
        ("hookwise.review", "cancelled", 1, "the event that started it is no longer stored")
    ]


# ---------------------------------------------------------------------------------------------
# An operator cancels an execution that waits
# ---------------------------------------------------------------------------------------------


async def test_an_operator_cancels_a_waiting_review_and_it_never_runs(
    world_factory, db, dsn
) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        await waiting_review(world, db)
        env = environment(DATABASE_URL=dsn)
        listed = hookwise("executions", "--status", "pending", env=env)
        [header, row, _] = listed.stdout.splitlines()
        execution_id = row.split()[0]
        asked = len(world.github.requests)
        # When it is due shows: the model asked for ten minutes.
        assert header.split()[7:9] == ["due", "why"]
        due = await db.fetchval("SELECT run_after FROM workflow_executions")
        assert row.split()[3:8:3] == ["pending", due.isoformat(timespec="seconds")]
        assert timedelta(minutes=9) < due - datetime.now(UTC) <= timedelta(minutes=10)
        # Waiting already: a replay would only zero its attempts and skip the model's wait.
        early = hookwise("replay", "--execution", execution_id, env=env)
        assert (early.returncode, early.stdout) == (1, "")
        assert early.stderr == (
            f"hookwise: execution {execution_id} is pending already: it waits to run,"
            " so it was not replayed\n"
        )

        done = hookwise("cancel", "--execution", execution_id, env=env)
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout == f"cancelled execution {execution_id}: review on {REPO}#7\n"
        shown = hookwise("executions", "--pr", f"{REPO}#7", env=env).stdout.splitlines()
        assert shown[1].split()[3:7:3] == ["cancelled", "-"]
        assert "cancelled by an operator (hookwise cancel)" in shown[1]
        [line] = [
            line
            for line in hookwise("status", env=env).stdout.splitlines()
            if line.startswith("review ")
        ]
        assert line.split() == ["review", "0", "0", "0", "0", "1", "0"]

        # Its time comes, the model would answer: the worker runs nothing of it.
        world.model.reply_tool("submit_review", REVIEW)
        await db.execute("UPDATE workflow_executions SET run_after = now()")
        await world.settle()
        assert world.model.calls == [] and reviews_on(world) == []
        assert world.github.requests[asked:] == []
        # No worker ran it: the worker's count of runs it cancelled as pointless stays 0.
        assert not counted(world, "hookwise.review", "cancelled")
        assert counted(world, "hookwise.review", "rescheduled")

        again = hookwise("cancel", "--execution", execution_id, env=env)
        assert (again.returncode, again.stdout) == (1, "")
        assert again.stderr == f"hookwise: execution {execution_id} is cancelled already\n"

        # The operator changes their mind: replayed, it runs.
        replayed = hookwise("replay", "--execution", execution_id, env=env)
        assert replayed.returncode == 0, replayed.stderr
        await world.settle()
        assert len(reviews_on(world)) == 1
    assert await executions(db) == [("hookwise.review", "completed", 1, None)]
    logged = await db.fetch("SELECT step_name, message FROM execution_logs ORDER BY created_at, id")
    assert ("cancel", "cancelled by an operator (hookwise cancel)") in [tuple(r) for r in logged]


async def test_a_running_or_finished_execution_is_not_cancelled(world_factory, db, dsn) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        env = environment(DATABASE_URL=dsn)
        world.model.hold()
        world.model.reply_tool("submit_review", REVIEW)
        await world.store("pull_request", world.pr_event("opened"))
        # The review runs: claimed, and waiting on the model's answer.
        await asyncio.wait_for(world.model.holding(1), 30)
        execution_id = str(await db.fetchval("SELECT id FROM workflow_executions"))

        refused = hookwise("cancel", "--execution", execution_id, env=env)
        assert (refused.returncode, refused.stdout) == (1, "")
        [said] = refused.stderr.splitlines()
        assert said.startswith(f"hookwise: execution {execution_id} is running now")
        assert "wait for it to finish, or to fail" in said

        world.model.release()
        await world.settle()
        assert len(reviews_on(world)) == 1
        finished = hookwise("cancel", "--execution", execution_id, env=env)
        assert finished.returncode == 1
        assert finished.stderr == (
            f"hookwise: execution {execution_id} has finished (completed):"
            " only a pending one is cancelled\n"
        )
        unknown = uuid.uuid4()
        missing = hookwise("cancel", "--execution", str(unknown), env=env)
        assert (missing.returncode, missing.stderr) == (
            1,
            f"hookwise: no execution has id {unknown}\n",
        )
        malformed = hookwise("cancel", "--execution", "review-7", env=env)
        assert malformed.returncode == 2
        assert "--execution takes an execution's id, not 'review-7'" in malformed.stderr
        bare = hookwise("cancel", env=env)
        assert bare.returncode == 2 and "--execution" in bare.stderr
    assert await executions(db) == [("hookwise.review", "completed", 1, None)]


async def test_a_cancel_waiting_on_a_claim_loses_to_it(world_factory, db, dsn) -> None:
    """Another worker's claim holds the row when the cancel comes: the cancel waits for it, and
    then finds it running. Read apart from the update, the cancel would see it pending (its
    snapshot is from before the claim committed) and cancel what that worker now runs."""
    async with world_factory(HOOKWISE_FIX=False) as world:
        await waiting_review(world, db)
        [execution_id] = [r["id"] for r in await db.fetch("SELECT id FROM workflow_executions")]
        rival = await asyncpg.connect(dsn)
        try:
            async with rival.transaction():
                await rival.execute("UPDATE workflow_executions SET run_after = now()")
                taken = await executions_store.claim(rival, lease=300)
                assert taken is not None and taken.id == execution_id
                cancel = asyncio.ensure_future(
                    operate.cancel_execution(dsn, execution_id, by="hookwise cancel")
                )
                await asyncio.wait_for(until_waiting(dsn, 1), 30)
        finally:
            await rival.close()
        done = await asyncio.wait_for(cancel, 30)
        assert (done.cancelled, done.status) == (False, "running")
    [(_, status, attempts, _)] = await executions(db)
    assert (status, attempts) == ("running", 1)


def pull_asked(call: dict[str, Any]) -> int:
    """The number of the pull request a model request reviews (its prompt's first line)."""
    found = re.match(r"Pull request #(\d+):", call["messages"][0]["content"])
    assert found is not None, call
    return int(found[1])


@dataclasses.dataclass(frozen=True)
class Race:
    """Cancels of `rows` (in that order) racing the worker: each cancel's answer, and the pull
    requests the model was asked about and GitHub got a review of."""

    rows: list[asyncpg.Record]
    answers: list[executions_store.Cancel]
    asked: list[int]
    reviewed: set[int]

    async def check(self, db: asyncpg.Connection, *, abandoned: bool) -> None:
        """Each execution ended cancelled and never asked of the model, or run and reviewed,
        as its cancel's answer says; `abandoned`: they had lost their worker, and the answers
        say so of the cancelled ones."""
        final = dict(await db.fetch("SELECT id, status FROM workflow_executions"))
        for row, answer in zip(self.rows, self.answers, strict=True):
            number = int(row["subject_label"].rsplit("#", 1)[1])
            if answer.cancelled:
                assert answer.abandoned or not abandoned
                assert final[row["id"]] == "cancelled"
                assert number not in self.asked and number not in self.reviewed
            else:
                assert answer.status in ("running", "completed")
                assert not (abandoned and answer.abandoned)
                assert final[row["id"]] == "completed"
                assert number in self.asked and number in self.reviewed
        assert len(self.asked) == sum(not a.cancelled for a in self.answers)


async def cancelled_while_working(world: Any, dsn: str, rows: list[asyncpg.Record]) -> Race:
    """Every one of `rows` cancelled at once while the worker claims what is due; the model
    answers each review it is asked for."""
    world.model.responder = lambda request: {"summary": "Fine.", "comments": []}
    cancels = asyncio.gather(
        *(operate.cancel_execution(dsn, r["id"], by="hookwise cancel") for r in rows)
    )
    working = asyncio.ensure_future(world.worker.idle(wake=True))
    answers = await asyncio.wait_for(cancels, 60)
    await asyncio.wait_for(working, 60)
    await world.settle()
    asked = [pull_asked(call) for call in world.model.calls]
    return Race(rows, answers, asked, {r.number for r in reviews_on(world)})


async def test_cancels_racing_the_worker_never_both_win(world_factory, db, dsn) -> None:
    """Twenty reviews fall due at once; the worker claims them while an operator cancels them
    all, last first. Each ends cancelled and never asked of the model, or run and reviewed,
    and each cancel's answer says which."""
    async with world_factory(HOOKWISE_FIX=False) as world:
        world.model.fail(429, retry_after=600, times=20)
        numbers = range(101, 121)
        for number in numbers:
            pull = world.github.add_pull(REPO, number, head_branch="fix-calc", title=f"PR {number}")
            event = world.pr_event("opened") | {"number": number, "pull_request": pull}
            await world.store("pull_request", event)
        await world.settle()
        rows = await db.fetch(
            "SELECT id, subject_label FROM workflow_executions"
            " WHERE status = 'pending' ORDER BY seq DESC"
        )
        assert len(rows) == 20
        await db.execute("UPDATE workflow_executions SET run_after = now()")
        race = await cancelled_while_working(world, dsn, rows)
    await race.check(db, abandoned=False)


async def test_an_operator_cancels_a_waiting_review_from_the_admin(world_factory, db) -> None:
    async with world_factory(HOOKWISE_FIX=False, HOOKWISE_ADMIN_TOKEN=TOKEN) as world:
        await waiting_review(world, db)
        execution_id = await db.fetchval("SELECT id FROM workflow_executions")
        client = world.hookwise.client
        await log_in(client)
        page = await client.get(f"/admin/executions/{execution_id}")
        assert '<button type="submit">Cancel</button>' in page.text
        asked = len(world.github.requests)
        response = await client.post(
            f"/admin/executions/{execution_id}/cancel", data={"csrf": csrf_of(page.text)}
        )
        assert response.status_code == 303
        shown = (await client.get(response.headers["location"])).text
        assert '<span class="status cancelled">cancelled</span>' in shown
        assert "cancelled by an operator (admin)" in shown
        assert "Cancel</button>" not in shown

        world.model.reply_tool("submit_review", REVIEW)
        await db.execute("UPDATE workflow_executions SET run_after = now()")
        await world.settle()
        assert world.model.calls == [] and reviews_on(world) == []
        assert world.github.requests[asked:] == []
    assert await executions(db) == [
        ("hookwise.review", "cancelled", 0, "cancelled by an operator (admin)")
    ]


async def abandoned_runs(world: World, db, numbers: range) -> list[Any]:
    """Reviews a worker claimed and then stopped answering for (it died): running, leases
    expired, attempts 1; the next claim would take each over. Their rows, last started first."""
    world.model.fail(429, retry_after=600, times=len(numbers))
    for number in numbers:
        pull = world.github.add_pull(REPO, number, head_branch="fix-calc", title=f"PR {number}")
        event = world.pr_event("opened") | {"number": number, "pull_request": pull}
        await world.store("pull_request", event)
    await world.settle()
    async with db.transaction():
        await db.execute("UPDATE workflow_executions SET run_after = now()")
        for _ in numbers:
            assert await executions_store.claim(db, lease=300) is not None
        await db.execute(LAPSED)
    rows = await db.fetch(
        "SELECT id, subject_label FROM workflow_executions"
        " WHERE status = 'running' AND attempts = 1 ORDER BY seq DESC"
    )
    assert len(rows) == len(numbers)
    return list(rows)


async def test_a_run_whose_worker_stopped_answering_is_cancelled_not_taken_over(
    world_factory, db, dsn
) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        [row] = await abandoned_runs(world, db, range(101, 102))
        env = environment(DATABASE_URL=dsn)
        done = hookwise("cancel", "--execution", str(row["id"]), env=env)
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout == (
            f"cancelled execution {row['id']}: review on {REPO}#101; its worker had stopped"
            " answering (its lease expired), so no worker will take it over and run it again\n"
        )
        # The worker's next claim finds nothing of it to take over.
        world.model.reply_tool("submit_review", REVIEW)
        await world.worker.idle(wake=True)
        assert world.model.calls == [] and reviews_on(world) == []
    assert await executions(db) == [
        (
            "hookwise.review",
            "cancelled",
            1,
            "cancelled by an operator (hookwise cancel): its worker had stopped answering"
            " (its lease expired)",
        )
    ]


async def test_cancels_racing_a_takeover_never_both_win(world_factory, db, dsn) -> None:
    """Twenty reviews whose worker died, leases expired; a worker takes them over while an
    operator cancels them all, last first. Each ends cancelled and never asked of the model, or
    taken over and reviewed, and each cancel's answer says which."""
    async with world_factory(HOOKWISE_FIX=False) as world:
        rows = await abandoned_runs(world, db, range(101, 121))
        race = await cancelled_while_working(world, dsn, rows)
    await race.check(db, abandoned=True)


async def test_a_cancel_waiting_on_a_renewal_loses_to_it(world_factory, db, dsn) -> None:
    """The worker's renewal of an expired lease holds the row when the cancel comes: the
    cancel waits for it, then finds a live lease and leaves the run to its worker."""
    async with world_factory(HOOKWISE_FIX=False) as world:
        [row] = await abandoned_runs(world, db, range(101, 102))
        renewer = await asyncpg.connect(dsn)
        try:
            async with renewer.transaction():
                # executions.renew's statement, as the run's worker sends it.
                await renewer.execute(executions_store.RENEW, row["id"], 1, 300.0)
                cancel = asyncio.ensure_future(
                    operate.cancel_execution(dsn, row["id"], by="hookwise cancel")
                )
                await asyncio.wait_for(until_waiting(dsn, 1), 30)
        finally:
            await renewer.close()
        done = await asyncio.wait_for(cancel, 30)
        assert (done.cancelled, done.status, done.abandoned) == (False, "running", False)
        line = operate.cancelled_line(row["id"], done)
        assert line.startswith(f"execution {row['id']} is running now, so it was not cancelled")
    [(_, status, attempts, _)] = await executions(db)
    assert (status, attempts) == ("running", 1)
