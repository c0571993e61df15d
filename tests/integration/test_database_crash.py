"""A database crash after the worker handled two events: everything it recorded is on disk,
and nothing is asked of the model or posted to GitHub again.

The server is the test's own, with synchronous commits (the suite's shared one has them off).
Its WAL writer is stopped (SIGSTOP) from the start, the background writer writes no pages and
autovacuum is off: a commit reaches the disk only when its own flush does, so what a crash keeps
does not depend on timing. The crash is the WAL writer killed (SIGKILL): the postmaster ends
every other process at once and recovers from the WAL on disk, as after a power cut, every
write of the WAL buffers that no commit flushed lost. (tests/pg.py's fsync off does not matter
here: what a process crash loses is what never left PostgreSQL's memory.)
It fails if any commit of the worker's stops waiting for its flush (synchronous_commit off): the
edit's handling is then lost, and with every commit relaxed the review's record too. The edit is
handled last either in a batch's transaction or, its pull request's key held by another
transaction when its batch began, alone after it (Worker._alone): each of those commits is then
the last before the crash, which no later synchronous commit flushes.
(A session tried relaxed batch commits for issue 18 and measured no gain on a quiet machine.)

The crash may also come while an execution waits on GitHub or the model, its worker running on:
its claim (executions.claim) must be on disk before it asks either, or the execution is pending
again after the crash and runs twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from app.queue import LOCK_ALL
from app.serial import serial_keys
from app.serving import default_router
from app.settings import Settings
from app.store import migrations
from app.worker import Worker
from tests.conftest import INSTALLATION_ID
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.github import FakeGitHub
from tests.harness import running_hookwise
from tests.pg import EmbeddedPostgres, run_in_thread
from tests.reactions_world import BASE_FILES, HEAD_FILES, REPO, REVIEW, ai_settings
from tests.waits import until, until_waiting

DURABLE = (
    "ALTER SYSTEM SET synchronous_commit = on; ALTER SYSTEM SET bgwriter_lru_maxpages = 0;"
    " ALTER SYSTEM SET autovacuum = off; SELECT pg_reload_conf();"
)
# Seconds the server has to come back after the crash (recovery of a few MB of WAL).
RECOVERY = 30.0


def a_pull_request(github: FakeGitHub) -> None:
    """The repository and pull request #7 the review is of, on the fake GitHub."""
    github.add_repo(REPO, installation_id=INSTALLATION_ID, files=BASE_FILES)
    github.commit_files(REPO, "fix-calc", HEAD_FILES, message="Rework calc")
    github.add_pull(REPO, 7, head_branch="fix-calc", title="Rework calc")


@pytest.fixture(scope="module")
def crashable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("crash") / "pgdata")
    server.server.psql(DURABLE)
    yield server
    server.stop()


@pytest.fixture
def dsn(crashable: EmbeddedPostgres) -> str:
    name = crashable.create_database(template="template1")
    dsn = crashable.dsn(name)

    async def migrate() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await migrations.migrate(conn)
        finally:
            await conn.close()

    run_in_thread(migrate())
    return dsn


async def walwriter(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SHOW synchronous_commit") == "on"
        pid: int = await conn.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE backend_type = 'walwriter'"
        )
    finally:
        await conn.close()
    return pid


async def crash(dsn: str, walwriter: int) -> None:
    """Kill the WAL writer; return once the server has ended its sessions for the crash, so
    that a connection made afterwards is one to the recovered server, not one made in the
    moment before the postmaster saw its child die."""
    witness = await asyncpg.connect(dsn)
    ended = asyncio.Event()
    witness.add_termination_listener(lambda _conn: ended.set())
    try:
        os.kill(walwriter, signal.SIGKILL)
        await asyncio.wait_for(ended.wait(), RECOVERY)
    finally:
        witness.terminate()


async def recovered(dsn: str) -> asyncpg.Connection:
    """A connection once the server accepts them again after its crash recovery."""
    deadline = asyncio.get_running_loop().time() + RECOVERY
    while True:
        try:
            return await asyncpg.connect(dsn)
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.PostgresError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            # Polling a condition (the server answers), not waiting for something to happen.
            await asyncio.sleep(0.05)


@asynccontextmanager
async def hookwise_with_worker(settings: Settings, dsn: str) -> AsyncIterator[Any]:
    async with running_hookwise(settings, dsn) as running:
        worker = Worker(running.ctx, default_router())
        task = asyncio.create_task(worker.run())
        try:
            yield running, worker
        finally:
            worker.stop()
            await task


async def settle(worker: Worker) -> None:
    await asyncio.wait_for(worker.idle(wake=True), 60)


def pr_event(github: FakeGitHub, action: str, **changes: Any) -> dict[str, Any]:
    pull = github.pull_json(github.repo(REPO).pulls[7]) | changes
    return {
        "action": action,
        "number": 7,
        "pull_request": pull,
        "repository": github.repo_json(github.repo(REPO)),
        "installation": {"id": INSTALLATION_ID},
        "sender": pull["user"],
    }


@pytest.mark.parametrize("edit", ["batched", "alone"])
async def test_a_database_crash_keeps_every_handled_event_and_repeats_no_effect(
    settings: Settings, dsn: str, fake_github: FakeGitHub, edit: str
) -> None:
    a_pull_request(fake_github)
    async with FakeAnthropic() as model:
        model.reply_tool("submit_review", REVIEW)
        configured = ai_settings(settings, fake_github, model)
        await crash_after(configured, dsn, fake_github, alone=edit == "alone")
        db = await recovered(dsn)
        try:
            # Both events done, the pull request as the edit left it, the review recorded
            # as sent.
            rows = await db.fetch("SELECT action, status FROM integration_events ORDER BY arrival")
            assert [tuple(r) for r in rows] == [("opened", "completed"), ("edited", "completed")]
            assert await db.fetchval("SELECT title FROM pull_requests") == "Rework calc, renamed"
            assert await db.fetchval(REVIEWS) == ["completed sent"]
        finally:
            await db.close()
        # A worker started on the recovered database finds nothing to do again.
        async with hookwise_with_worker(configured, dsn) as (running, worker):
            await settle(worker)
            async with running.ctx.pool.acquire() as conn:
                assert await conn.fetchval(REVIEWS) == ["completed sent"]
        # Every request, whatever its answer (a second finds no reply queued: a 500).
        assert len([r for r in model.requests if r.path == "/v1/messages"]) == 1
        assert len(fake_github.reviews) == 1


# Each review execution's status and its post's: a review posted once, recorded as sent.
REVIEWS = """
SELECT array_agg(e.status || ' ' || coalesce(o.status, 'none'))
FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id
LEFT JOIN outbound_actions o ON o.kind = 'github.review'
WHERE w.name = 'hookwise.review'
"""


async def crash_after(settings: Settings, dsn: str, github: FakeGitHub, *, alone: bool) -> None:
    """An opened pull request reviewed, then its edit handled (`alone`: deferred by its batch,
    its key held meanwhile by the test, then handled in a transaction of its own); then the
    crash."""
    pid = await walwriter(dsn)
    os.kill(pid, signal.SIGSTOP)
    try:
        async with hookwise_with_worker(settings, dsn) as (running, worker):
            github.hook_url = f"{running.url}/webhooks/github"
            # The batch records the pull request and starts the review; the review is posted.
            await github.deliver("pull_request", pr_event(github, "opened"))
            await settle(worker)
            assert len(github.reviews) == 1
            # Recorded by the worker's commit, whose own flush is all that puts it on disk.
            edited = pr_event(github, "edited", title="Rework calc, renamed")
            if alone:
                await deferred(dsn, github, edited)
            else:
                await github.deliver("pull_request", edited)
            await settle(worker)
    except BaseException:
        os.kill(pid, signal.SIGCONT)
        raise
    await crash(dsn, pid)


async def deferred(dsn: str, github: FakeGitHub, payload: dict[str, Any]) -> None:
    """Deliver `payload` while the test holds its keys: its batch defers it and the worker
    then waits for them alone; released once it does."""
    holder = await asyncpg.connect(dsn)
    try:
        async with holder.transaction():
            await holder.execute(LOCK_ALL, serial_keys("github", "pull_request", payload))
            await github.deliver("pull_request", payload)
            await asyncio.wait_for(until_waiting(dsn, 1), 30)
    finally:
        await holder.close()


# The review's first request of its pull request, made before it records anything.
FILES = "/repos/octo-org/widgets/pulls/7/files"


@pytest.mark.parametrize("waits_on", ["model", "github"])
async def test_a_database_crash_while_an_execution_waits_on_a_remote_api_runs_it_once(
    settings: Settings, dsn: str, fake_github: FakeGitHub, waits_on: str
) -> None:
    """The review's execution is claimed and waits on GitHub (the pull request's files held:
    the claim is its last commit) or on the model (its answer held: its diff step is recorded
    since the claim). The database crashes and recovers meanwhile, an event is handled, then
    the answer comes: the same worker, its connections reopened, posts the review and records
    it, having asked each once. A claim the crash lost leaves the execution pending: the round
    that claims the event claims it again, and the second run asks GitHub again, and the model
    too unless the first run's answer is stored by then (app/reactions/answers.py).
    `github` fails if the claim's commit stops waiting for its flush; `model` only if the diff
    step's does too, since that commit flushes the WAL up to itself, the claim's record with it."""
    a_pull_request(fake_github)
    async with FakeAnthropic() as model:
        model.reply_tool("submit_review", REVIEW)
        configured = ai_settings(settings, fake_github, model)
        pid = await walwriter(dsn)
        os.kill(pid, signal.SIGSTOP)
        crashed = False
        try:
            async with hookwise_with_worker(configured, dsn) as (running, worker):
                fake_github.hook_url = f"{running.url}/webhooks/github"
                if waits_on == "model":
                    model.hold()
                else:
                    fake_github.hold("GET", FILES)
                await fake_github.deliver("pull_request", pr_event(fake_github, "opened"))
                if waits_on == "model":
                    await asyncio.wait_for(model.holding(1), 30)
                else:
                    await fake_github.requested("GET", FILES)
                await crash(dsn, pid)
                crashed = True
                (await recovered(dsn)).terminate()
                # The round that claims this event claims a due execution right after it.
                edited = pr_event(fake_github, "edited", title="Rework calc, renamed")
                assert (await fake_github.deliver("pull_request", edited)).status_code == 202
                await asyncio.wait_for(until(dsn, EDITED, 1), 60)
                model.release()
                fake_github.release()
                await asyncio.wait_for(until(dsn, DONE, 1), 60)
                await settle(worker)
        finally:
            if not crashed:
                with contextlib.suppress(ProcessLookupError):  # killed, the crash unseen
                    os.kill(pid, signal.SIGCONT)
        # A worker started afterwards finds nothing to do again.
        async with hookwise_with_worker(configured, dsn) as (running, worker):
            await settle(worker)
            async with running.ctx.pool.acquire() as conn:
                assert await conn.fetchval(REVIEWS) == ["completed sent"]
                steps = await conn.fetchval(STEPS)
        # Every request, whatever its answer (a second ask finds no reply queued: a 500).
        asked = len([r for r in model.requests if r.path == "/v1/messages"])
        files = len([r for r in fake_github.requests if r.method == "GET" and r.path == FILES])
        assert (asked, files, len(fake_github.reviews)) == (1, 1, 1)
        # The execution's steps, as /admin shows them: one run's.
        assert steps == ["diff", "model", "review", "done"]


EDITED = "SELECT count(*) FROM integration_events WHERE action = 'edited' AND status = 'completed'"
DONE = """
SELECT count(*) FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id
WHERE w.name = 'hookwise.review' AND e.status = 'completed'
"""
STEPS = "SELECT array_agg(step_name ORDER BY created_at, id) FROM execution_logs"
