"""Backfill on install, reconcile by hand and on a schedule, end to end: webhooks from the fake
GitHub, the real worker and handlers, and what hookwise finds by looking at the fake's API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from app import reconcile
from app.serving import default_router, reconcile_parts
from app.settings import Settings
from app.store import events, linear_issues
from app.store.linear_issues import LinearIssue
from app.worker import Worker, serial_keys
from tests.conftest import INSTALLATION_ID, with_github
from tests.fakes.github import FakeGitHub
from tests.harness import Running, running_hookwise
from tests.integration.test_redeliver import cli
from tests.processes import environment
from tests.processes import hookwise as hookwise_cmd

ALPHA, BETA, GAMMA = "octo-org/alpha", "octo-org/beta", "octo-org/gamma"
HIDDEN = "octo-org/hidden"  # private, and another installation's: 404 to ours
OTHER_INSTALLATION = 7654321

PULLS = """
SELECT r.full_name, p.pr_number, p.state::text AS state, p.last_trigger::text AS trigger
FROM pull_requests p JOIN repositories r ON r.id = p.repository_id
ORDER BY r.full_name, p.pr_number
"""
RUNS = """
SELECT c.github_id, c.status::text AS status, c.conclusion::text AS conclusion,
       p.pr_number AS pull_number
FROM check_runs c LEFT JOIN pull_requests p ON p.id = c.pr_id
ORDER BY c.github_id
"""
HISTORY = """
SELECT h.old_state::text AS old_state, h.new_state::text AS new_state,
       h.trigger_event::text AS trigger, h.delivery_id
FROM pr_state_history h JOIN pull_requests p ON p.id = h.pr_id
WHERE p.pr_number = $1 ORDER BY h.created_at
"""
REPOSITORY = """
SELECT status::text AS status, failure_count, last_error, last_polled_at
FROM repositories WHERE full_name = $1
"""


@dataclass
class World:
    github: FakeGitHub
    hookwise: Running
    worker: Worker

    async def settle(self) -> None:
        await asyncio.wait_for(self.worker.idle(wake=True), 60)

    async def deliver(self, event: str, payload: dict[str, Any]) -> None:
        delivery = await self.github.deliver(event, payload)
        assert delivery.status_code == 202, delivery
        await self.settle()

    async def install(self, *names: str) -> None:
        await self.deliver("installation", installation_event(self.github, "created", names))


def short(github: FakeGitHub, name: str) -> dict[str, Any]:
    """A repository as installation payloads list it."""
    repo = github.repo_json(github.repo(name))
    return {key: repo[key] for key in ("id", "node_id", "name", "full_name", "private")}


def installation_event(github: FakeGitHub, action: str, names: tuple[str, ...]) -> dict[str, Any]:
    installation = github.installation_json(github.installations[INSTALLATION_ID])
    return {
        "action": action,
        "installation": installation,
        "repositories": [short(github, name) for name in names],
        "sender": {"login": "octocat", "id": 1, "type": "User"},
    }


def repositories_added(github: FakeGitHub, *names: str) -> dict[str, Any]:
    installation = github.installation_json(github.installations[INSTALLATION_ID])
    return {
        "action": "added",
        "installation": installation,
        "repository_selection": "selected",
        "repositories_added": [short(github, name) for name in names],
        "repositories_removed": [],
        "sender": {"login": "octocat", "id": 1, "type": "User"},
    }


def open_pulls(github: FakeGitHub, name: str, count: int) -> list[dict[str, Any]]:
    """`count` open PRs, each with a lint run and two runs of tests: only the second is latest."""
    pulls = []
    for number in range(1, count + 1):
        github.commit_files(name, f"pr-{number}", {f"f{number}.txt": f"{number}\n"})
        pull = github.add_pull(name, number, head_branch=f"pr-{number}", title=f"PR {number}")
        sha = pull["head"]["sha"]
        github.add_check_run(name, sha, name="lint", conclusion="success")
        github.add_check_run(name, sha, name="tests", conclusion="failure")
        github.add_check_run(name, sha, name="tests", conclusion="success")
        pulls.append(pull)
    return pulls


@asynccontextmanager
async def world(
    settings: Settings, dsn: str, github: FakeGitHub, **more: Any
) -> AsyncIterator[World]:
    configured = with_github(settings, github, HOOKWISE_POLL_INTERVAL=3600.0, **more)
    async with running_hookwise(configured, dsn) as running:
        github.hook_url = f"{running.url}/webhooks/github"
        worker = Worker(running.ctx, default_router())
        task = asyncio.create_task(worker.run())
        try:
            yield World(github, running, worker)
        finally:
            worker.stop()
            await task


async def own_events(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT event_type, delivery_id, status, attempts, last_error, run_after - now() AS wait"
        " FROM integration_events WHERE hook_id = 'hookwise' ORDER BY received_at, delivery_id"
    )


def requests_for(github: FakeGitHub, pattern: str) -> list[dict[str, str]]:
    return [r.query for r in github.requests if r.method == "GET" and pattern in r.path]


async def test_an_install_backfills_every_open_pull_request_and_its_latest_runs(
    settings, dsn, db, fake_github: FakeGitHub
) -> None:
    # A page holds 10 here, so 40 pull requests (and one commit's 12 runs) span several pages.
    fake_github.max_per_page = 10
    made = {name: [] for name in (ALPHA, BETA, GAMMA)}
    for name, count in ((ALPHA, 20), (BETA, 15), (GAMMA, 5)):
        fake_github.add_repo(name, installation_id=INSTALLATION_ID)
        made[name] = open_pulls(fake_github, name, count)
    crowded = made[ALPHA][0]["head"]["sha"]
    for job in range(10):
        fake_github.add_check_run(ALPHA, crowded, name=f"job-{job}", conclusion="success")
    latest = {
        run.id
        for run in fake_github.check_runs.values()
        if not (run.name == "tests" and run.conclusion == "failure")
    }

    async with world(settings, dsn, fake_github) as w:
        await w.install(ALPHA, BETA, GAMMA)

        pulls = await db.fetch(PULLS)
        assert len(pulls) == 40
        assert {(r["state"], r["trigger"]) for r in pulls} == {("opened", "manual_check")}
        runs = await db.fetch(RUNS)
        assert {r["github_id"] for r in runs} == latest
        assert len(runs) == 40 * 2 + 10
        assert all(r["pull_number"] is not None for r in runs)
        history = await db.fetch(
            "SELECT trigger_event::text AS trigger, delivery_id FROM pr_state_history"
        )
        assert len(history) == 40
        assert {r["trigger"] for r in history} == {"manual_check"}
        assert all(r["delivery_id"].startswith("backfill:") for r in history)
        # Paged: two pages of alpha's pull requests, two of the crowded commit's runs.
        assert [q.get("page") for q in requests_for(fake_github, f"{ALPHA}/pulls")] == [None, "2"]
        assert len(requests_for(fake_github, f"commits/{crowded}/check-runs")) == 2

        own = await own_events(db)
        assert [(r["event_type"], r["status"], r["attempts"]) for r in own] == [
            ("hookwise.backfill", "completed", 1)
        ] * 3
        for name in (ALPHA, BETA, GAMMA):
            repo = await db.fetchrow(REPOSITORY, name)
            assert (repo["status"], repo["failure_count"]) == ("active", 0)
            assert repo["last_polled_at"] is not None

        # Replayed, installation event included: nothing new is queued or written.
        before = await db.fetch("SELECT id, updated_at FROM pull_requests ORDER BY id")
        async with w.hookwise.ctx.pool.acquire() as conn:
            await events.replay(conn, events.Selection(status="completed"))
        await w.settle()
        assert len(await own_events(db)) == 3
        assert await db.fetch("SELECT id, updated_at FROM pull_requests ORDER BY id") == before
        assert await db.fetchval("SELECT count(*) FROM pr_state_history") == 40


async def test_an_install_without_its_repositories_lists_them(
    settings, dsn, db, fake_github: FakeGitHub
) -> None:
    # `repositories` is optional in GitHub's installation.created schema: hookwise asks
    # GET /installation/repositories (two pages here), then backfills each as usual.
    fake_github.max_per_page = 1
    for name in (ALPHA, BETA):
        fake_github.add_repo(name, installation_id=INSTALLATION_ID)
    open_pulls(fake_github, ALPHA, 2)

    async with world(settings, dsn, fake_github) as w:
        payload = installation_event(fake_github, "created", ())
        del payload["repositories"]
        await w.deliver("installation", payload)
        await w.settle()

        repos = await db.fetch("SELECT full_name, status::text FROM repositories ORDER BY 1")
        assert [tuple(r) for r in repos] == [(ALPHA, "active"), (BETA, "active")]
        assert len(await db.fetch(PULLS)) == 2
        assert len(requests_for(fake_github, "/installation/repositories")) == 2
        own = sorted((r["event_type"], r["status"]) for r in await own_events(db))
        assert own == [
            ("hookwise.backfill", "completed"),
            ("hookwise.backfill", "completed"),
            ("hookwise.list_repositories", "completed"),
        ]


async def test_a_listing_github_refuses_as_unauthorized_with_a_new_token_is_tried_again(
    settings, dsn, db, fake_github: FakeGitHub
) -> None:
    # GitHub may answer 401 to an installation token used in its first seconds (replication
    # lag, octokit/auth-app.js#65): the listing right after an install is the first use of the
    # installation's first token. The client asks again (three tries); past those, the event is
    # retried rather than dead-lettered, and asked again later, GitHub lists the repositories.
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    fake_github.fail("GET", "/installation/repositories", status=401, times=3)

    # A retry due at once: the worker's next claim takes it.
    async with world(settings, dsn, fake_github, HOOKWISE_RETRY_BASE_SECONDS=0.0) as w:
        payload = installation_event(fake_github, "created", ())
        del payload["repositories"]
        await w.deliver("installation", payload)
        await w.settle()

        repos = await db.fetch("SELECT full_name, status::text FROM repositories ORDER BY 1")
        assert [tuple(r) for r in repos] == [(ALPHA, "active")]
        listing = [r for r in await own_events(db) if r["event_type"] == LIST]
        assert [(r["status"], r["attempts"]) for r in listing] == [("completed", 2)]
        assert len(requests_for(fake_github, "/installation/repositories")) == 4


LIST = "hookwise.list_repositories"


HELD = """
SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory') AS advisory_locks,
       (SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND state LIKE 'idle in transaction%')
         AS open_transactions
"""


@pytest.mark.parametrize("kind", ["backfill", "list_repositories"])
async def test_github_is_asked_with_no_transaction_or_lock_held(
    settings, dsn, db, fake_github: FakeGitHub, kind: str
) -> None:
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    open_pulls(fake_github, ALPHA, 1)
    path = "/repos/octo-org/alpha/pulls" if kind == "backfill" else "/installation/repositories"
    # GitHub holds the answer until the client gives up; the client then asks again.
    fake_github.fail("GET", path, status=0)
    payload = installation_event(fake_github, "created", (ALPHA,))
    if kind == "list_repositories":
        del payload["repositories"]
    async with world(settings, dsn, fake_github, HOOKWISE_GITHUB_TIMEOUT=1.0) as w:
        delivery = await fake_github.deliver("installation", payload)
        assert delivery.status_code == 202
        await fake_github.requested("GET", path)

        # While GitHub is being asked, hookwise holds no transaction open and no lock.
        held = await db.fetchrow(HELD)
        assert (held["advisory_locks"], held["open_transactions"]) == (0, 0)

        await w.settle()
        assert [r["state"] for r in await db.fetch(PULLS)] == ["opened"]
        assert {r["status"] for r in await own_events(db)} == {"completed"}


async def test_one_reconcile_catches_up_on_what_no_webhook_said(
    settings, dsn, db, fake_github: FakeGitHub
) -> None:
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    pulls = []
    for number in (1, 2, 3, 4):
        fake_github.commit_files(ALPHA, f"pr-{number}", {f"f{number}.txt": "x\n"})
        pulls.append(fake_github.add_pull(ALPHA, number, head_branch=f"pr-{number}"))
    sha = [pull["head"]["sha"] for pull in pulls]
    on_merged = fake_github.add_check_run(ALPHA, sha[0], name="tests", status="in_progress")
    on_open = fake_github.add_check_run(ALPHA, sha[1], name="build", status="queued")

    async with world(settings, dsn, fake_github) as w:
        await w.install(ALPHA)
        assert [r["state"] for r in await db.fetch(PULLS)] == ["opened"] * 4
        # A webhook that knows more than the API's answer will: #4 closed, an hour from now.
        newer = {**pulls[3], "state": "closed"}
        later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        newer.update(updated_at=later, closed_at=later)
        repo = fake_github.repo_json(fake_github.repo(ALPHA))
        closed = {"action": "closed", "number": 4, "pull_request": newer, "repository": repo}
        await w.deliver("pull_request", closed | {"installation": {"id": INSTALLATION_ID}})

        # While hookwise hears nothing: #1 merged, #3 closed, both runs finish.
        fake_github.close_pull(ALPHA, 1, merged=True)
        fake_github.close_pull(ALPHA, 3)
        fake_github.finish_check_run(on_merged["id"], conclusion="success")
        fake_github.finish_check_run(on_open["id"], conclusion="failure")

        code, out, err = await cli("reconcile", "--repo", ALPHA, dsn=dsn, fake=fake_github)
        assert code == 0, err
        assert ALPHA in out and "hookwise.reconcile" in out
        assert out.splitlines()[-1] == "queued 1 reconcile"
        await w.settle()

    states = {r["pr_number"]: (r["state"], r["trigger"]) for r in await db.fetch(PULLS)}
    assert states == {
        1: ("merged", "reconcile"),
        2: ("opened", "manual_check"),
        3: ("closed", "reconcile"),
        4: ("closed", "closed"),  # not reopened by the older answer
    }
    merged = await db.fetch(HISTORY, 1)
    assert [(r["old_state"], r["new_state"], r["trigger"]) for r in merged] == [
        (None, "opened", "manual_check"),
        ("opened", "merged", "reconcile"),
    ]
    assert merged[1]["delivery_id"].startswith("reconcile:")
    runs = {r["github_id"]: (r["status"], r["conclusion"]) for r in await db.fetch(RUNS)}
    assert runs == {
        on_merged["id"]: ("completed", "success"),
        on_open["id"]: ("completed", "failure"),
    }
    # #1 left the open list, so its run was fetched by id; #2's came with its head's runs.
    assert requests_for(fake_github, f"/check-runs/{on_merged['id']}")
    assert not requests_for(fake_github, f"/check-runs/{on_open['id']}")
    own = await own_events(db)
    assert [(r["event_type"], r["status"]) for r in own] == [
        ("hookwise.backfill", "completed"),
        ("hookwise.reconcile", "completed"),
    ]


LINKS = """
SELECT p.pr_number, i.identifier, k.kind FROM pr_links k
JOIN pull_requests p ON p.id = k.pull_request_id JOIN linear_issues i ON i.id = k.linear_issue_id
ORDER BY p.pr_number, i.identifier
"""


async def test_a_title_changed_unheard_relinks_on_reconcile(
    settings, dsn, db, fake_github: FakeGitHub
) -> None:
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    fake_github.commit_files(ALPHA, "pr-1", {"f1.txt": "x\n"})
    fake_github.add_pull(ALPHA, 1, head_branch="pr-1", title="Tidy up")
    await linear_issues.upsert(
        db,
        LinearIssue(
            id="issue-7",
            identifier="ENG-7",
            title="Tidy the docs",
            team_id="team-1",
            team_key="ENG",
            state_id="state-1",
            state_name="In Progress",
            state_type="started",
            url="https://linear.app/acme/issue/ENG-7",
            linear_updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        ),
    )
    async with world(settings, dsn, fake_github) as w:
        await w.install(ALPHA)
        assert await db.fetch(LINKS) == []
        # Renamed on GitHub while hookwise heard nothing (a minute on: a later updated_at).
        pull = fake_github.repo(ALPHA).pulls[1]
        pull.title = "Fixes ENG-7: tidy up"
        pull.updated_at = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        code, _, err = await cli("reconcile", "--repo", ALPHA, dsn=dsn, fake=fake_github)
        assert code == 0, err
        await w.settle()
        assert [tuple(r) for r in await db.fetch(LINKS)] == [(1, "ENG-7", "closes")]
        # A push after it, which changes no text, keeps the link.
        repo = fake_github.repo_json(fake_github.repo(ALPHA))
        pushed = {"action": "synchronize", "number": 1, "pull_request": fake_github.pull_json(pull)}
        pushed |= {"repository": repo, "installation": {"id": INSTALLATION_ID}}
        await w.deliver("pull_request", pushed)
        assert [tuple(r) for r in await db.fetch(LINKS)] == [(1, "ENG-7", "closes")]


async def test_a_repository_that_keeps_answering_404_ends_suspended_until_brought_back(
    settings, dsn, db, fake_github: FakeGitHub
) -> None:
    fake_github.add_installation(OTHER_INSTALLATION, account_login="someone-else")
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    fake_github.add_repo(HIDDEN, installation_id=OTHER_INSTALLATION, private=True)
    open_pulls(fake_github, HIDDEN, 2)

    async def statuses() -> tuple[str, int]:
        row = await db.fetchrow(REPOSITORY, HIDDEN)
        return row["status"], row["failure_count"]

    async with world(settings, dsn, fake_github) as w:
        await w.install(ALPHA, HIDDEN)
        seen = [await statuses()]
        async with w.hookwise.ctx.pool.acquire() as conn:
            for _ in range(4):
                queued = await reconcile.scheduled_run(conn, every=timedelta(0))
                assert queued is not None and HIDDEN in {q.target.full_name for q in queued}
                await w.settle()
                seen.append(await statuses())
            assert seen == [
                ("active", 1),
                ("active", 2),
                ("error", 3),
                ("error", 4),
                ("suspended", 5),
            ]
            # Suspended: the schedule passes it by; its neighbour is still looked at.
            queued = await reconcile.scheduled_run(conn, every=timedelta(0))
            assert queued is not None
            assert [q.target.full_name for q in queued] == [ALPHA]
            await w.settle()
        row = await db.fetchrow(REPOSITORY, HIDDEN)
        assert row["last_error"].startswith("404")
        own = await own_events(db)
        assert {r["status"] for r in own} == {"completed"}  # refusals are handled, not failed
        assert {r["attempts"] for r in own} == {1}

        status = hookwise_cmd("status", env=environment(DATABASE_URL=dsn))
        assert status.returncode == 0, status.stderr
        [line] = [line for line in status.stdout.splitlines() if line.startswith(HIDDEN)]
        assert line.split()[1:4] == ["suspended", "5", "404"]

        # By hand: active again with a clean record, and tried at once (still 404 here).
        code, out, err = await cli("reconcile", "--repo", HIDDEN, dsn=dsn, fake=fake_github)
        assert code == 0, err
        assert HIDDEN in out
        await w.settle()
        assert await statuses() == ("active", 1)

        # The owner grants access: the installation event brings it back and backfills it.
        fake_github.repo(HIDDEN).installation_id = INSTALLATION_ID
        await db.execute(
            "UPDATE repositories SET status = 'suspended' WHERE full_name = $1", HIDDEN
        )
        await w.deliver("installation_repositories", repositories_added(fake_github, HIDDEN))
        assert await statuses() == ("active", 0)
        hidden = [r for r in await db.fetch(PULLS) if r["full_name"] == HIDDEN]
        assert [(r["pr_number"], r["trigger"]) for r in hidden] == [
            (1, "manual_check"),
            (2, "manual_check"),
        ]


async def test_rate_limits_during_a_backfill_reschedule_it_without_counting(
    settings, dsn, db, fake_github: FakeGitHub
) -> None:
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    open_pulls(fake_github, ALPHA, 3)
    reset = int((datetime.now(UTC) + timedelta(minutes=10)).timestamp())
    primary = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    fake_github.fail("GET", f"/repos/{ALPHA}/pulls", status=403, headers=primary)

    async with world(settings, dsn, fake_github) as w:
        await w.install(ALPHA)
        [event] = await own_events(db)
        assert (event["status"], event["attempts"], event["last_error"]) == ("pending", 0, None)
        assert timedelta(minutes=9) < event["wait"] <= timedelta(minutes=10)
        assert await db.fetchval("SELECT count(*) FROM pull_requests") == 0
        repo = await db.fetchrow(REPOSITORY, ALPHA)
        assert (repo["failure_count"], repo["last_polled_at"]) == (0, None)

        # It shows in `hookwise status` as waiting work.
        status = hookwise_cmd("status", env=environment(DATABASE_URL=dsn))
        assert status.returncode == 0, status.stderr
        assert "1        hookwise.backfill" in status.stdout

        # Due again, it meets a secondary limit half way: what it wrote is rolled back.
        fake_github.fail(
            "GET", r"/repos/.+/commits/.+/check-runs", status=429, headers={"Retry-After": "90"}
        )
        await db.execute(
            "UPDATE integration_events SET run_after = now() WHERE hook_id = 'hookwise'"
        )
        await w.settle()
        [event] = await own_events(db)
        assert (event["status"], event["attempts"]) == ("pending", 0)
        assert timedelta(seconds=60) < event["wait"] <= timedelta(seconds=90)
        assert await db.fetchval("SELECT count(*) FROM pull_requests") == 0

        await db.execute(
            "UPDATE integration_events SET run_after = now() WHERE hook_id = 'hookwise'"
        )
        await w.settle()
        [event] = await own_events(db)
        assert (event["status"], event["attempts"]) == ("completed", 1)
        assert await db.fetchval("SELECT count(*) FROM pull_requests") == 3
        repo = await db.fetchrow(REPOSITORY, ALPHA)
        assert (repo["status"], repo["failure_count"]) == ("active", 0)


async def test_a_secondary_limit_without_retry_after_waits_a_minute_and_is_no_refusal(
    settings, dsn, db, fake_github: FakeGitHub
) -> None:
    # GitHub's 403 "You have exceeded a secondary rate limit" may come without Retry-After; its
    # guidance is then to wait at least a minute. Five of them must not suspend the repository.
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    open_pulls(fake_github, ALPHA, 2)
    fake_github.fail("GET", f"/repos/{ALPHA}/pulls", status=403, secondary=True, times=5)

    async with world(settings, dsn, fake_github) as w:
        await w.install(ALPHA)
        for _ in range(5):
            [event] = await own_events(db)
            assert (event["status"], event["attempts"]) == ("pending", 0)
            assert timedelta(seconds=50) < event["wait"] <= timedelta(seconds=60)
            repo = await db.fetchrow(REPOSITORY, ALPHA)
            assert (repo["status"], repo["failure_count"]) == ("active", 0)
            await db.execute(
                "UPDATE integration_events SET run_after = now() WHERE hook_id = 'hookwise'"
            )
            await w.settle()
        [event] = await own_events(db)
        assert (event["status"], event["attempts"]) == ("completed", 1)
        assert await db.fetchval("SELECT count(*) FROM pull_requests") == 2


async def test_the_worker_schedule_queues_each_due_repository_once(
    settings, dsn, db, fake_github: FakeGitHub
) -> None:
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    fake_github.add_repo(BETA, installation_id=INSTALLATION_ID)
    async with world(settings, dsn, fake_github) as w:
        await w.install(ALPHA, BETA)
        every = timedelta(hours=6)
        async with w.hookwise.ctx.pool.acquire() as conn:
            # Just backfilled: nothing is due.
            assert await reconcile.scheduled_run(conn, every=every) == []
            await db.execute(
                "UPDATE repositories SET last_polled_at = now() - interval '7 hours'"
                " WHERE full_name = $1",
                ALPHA,
            )
            async with conn.transaction():
                # Another process holds the schedule: this one leaves it be.
                await conn.execute(reconcile.LOCK)
                async with w.hookwise.ctx.pool.acquire() as other:
                    assert await reconcile.scheduled_run(other, every=every) is None

        fake_github.requests.clear()
        [(run, stop)] = reconcile_parts(w.hookwise.ctx)
        schedule = asyncio.create_task(run())
        try:
            # The schedule queues alpha; the worker, woken by the insert, looks at it.
            await fake_github.requested("GET", f"/repos/{ALPHA}/pulls")
        finally:
            stop()
            await schedule
        await w.settle()
        async with w.hookwise.ctx.pool.acquire() as conn:
            assert await reconcile.scheduled_run(conn, every=every) == []

    own = [(r["event_type"], r["delivery_id"].split(":")[1]) for r in await own_events(db)]
    alpha_id = str(fake_github.repo(ALPHA).id)
    assert own.count(("hookwise.reconcile", alpha_id)) == 1
    assert [kind for kind, _ in own].count("hookwise.reconcile") == 1
    assert not requests_for(fake_github, f"/repos/{BETA}/")


async def test_without_a_schedule_or_an_app_nothing_is_scheduled(settings, hookwise) -> None:
    ctx = hookwise.ctx
    assert ctx.github is None
    assert reconcile_parts(ctx) == []
    off = type(ctx)(**{**ctx.__dict__, "settings": settings.with_env(HOOKWISE_RECONCILE_EVERY=0)})
    assert reconcile_parts(off) == []


async def test_reconcile_by_hand_names_an_unknown_repository_and_needs_the_app(
    dsn, fake_github: FakeGitHub, tmp_path
) -> None:
    code, _, err = await cli("reconcile", "--repo", "octo-org/nowhere", dsn=dsn, fake=fake_github)
    assert code == 2
    assert "no repository octo-org/nowhere is installed" in err
    code, _, err = await cli("reconcile", "--repo", "nowhere", dsn=dsn, fake=fake_github)
    assert code == 2
    result = hookwise_cmd("reconcile", env=environment(HOOKWISE_DATA_DIR=str(tmp_path)))
    assert result.returncode == 2
    assert "GITHUB_APP_ID" in result.stderr


def test_own_events_of_one_repository_run_one_at_a_time() -> None:
    payload = json.loads(json.dumps(reconcile.payload(reconcile.Target(5, "o/r", 9))))
    assert serial_keys("github", reconcile.BACKFILL, payload) == ["repo:5"]
    assert serial_keys("github", reconcile.RECONCILE, payload) == ["repo:5"]
