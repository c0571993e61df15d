"""Text that remote services answer with, which PostgreSQL cannot store as it came: U+0000 (GitHub
sends it in titles, bodies, commit messages), a lone UTF-16 surrogate (JSON can write one as
`\\ud800`; Python's json keeps it), NUL bytes and bytes that are not UTF-8 in a CI log. Each
source is served by its fake over HTTP, read by the production client, recorded by the real
worker in the embedded PostgreSQL. What a user sees: U+0000 removed, a lone surrogate (and
what is not UTF-8 in a log) as U+FFFD; never a job failing or retried for it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app import redeliver
from tests.conftest import INSTALLATION_ID, with_github
from tests.fakes.github import FakeGitHub
from tests.harness import running_hookwise
from tests.integration.test_redeliver import miss
from tests.linear_world import linear_world
from tests.reactions_world import ANALYSIS, LOG, world_factory_for
from tests.stories.test_backfill import ALPHA, own_events, world
from tests.stories.test_workflows import declare

# What GitHub, Linear or the model may answer, and what is stored and shown of it.
SAID = "Fix\x00 login \ud800 for caf\u00e9 \U0001f600\x00"
SHOWN = "Fix login \ufffd for caf\u00e9 \U0001f600"


@pytest.fixture
def world_factory(settings, dsn, fake_github: FakeGitHub) -> Any:
    return world_factory_for(settings, dsn, fake_github)


async def executions(db) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        "SELECT w.name, e.status, e.attempts, e.error_message FROM workflow_executions e"
        " JOIN workflows w ON w.id = e.workflow_id ORDER BY e.seq"
    )
    return [tuple(r) for r in rows]


async def test_what_a_backfill_lists_is_stored_as_a_user_reads_it(
    settings, dsn, db, fake_github: FakeGitHub
) -> None:
    fake_github.add_repo(ALPHA, installation_id=INSTALLATION_ID)
    fake_github.commit_files(ALPHA, "login", {"login.py": "pass\n"})
    pull = fake_github.add_pull(ALPHA, 1, head_branch="login", title=SAID, body=f"Body: {SAID}")
    fake_github.add_check_run(
        ALPHA,
        pull["head"]["sha"],
        name=f"lint {SAID}",
        output={"title": SAID, "summary": f"Summary: {SAID}"},
    )

    async with world(settings, dsn, fake_github) as w:
        await w.install(ALPHA)

    # Recorded at the first attempt: nothing of the repository's look was lost to one title.
    assert [(r["status"], r["attempts"]) for r in await own_events(db)] == [("completed", 1)]
    stored = await db.fetchrow("SELECT title, body FROM pull_requests")
    assert tuple(stored) == (SHOWN, f"Body: {SHOWN}")
    run = await db.fetchrow("SELECT check_name, output_title, output_summary FROM check_runs")
    assert tuple(run) == (f"lint {SHOWN}", SHOWN, f"Summary: {SHOWN}")


async def test_redeliver_reads_a_delivery_listing_holding_u0000(
    settings, dsn, db, fake_github: FakeGitHub
) -> None:
    guids = await miss(fake_github, 2)
    fake_github.deliveries[0].guid = f"{guids[0]}\x00"
    async with running_hookwise(with_github(settings, fake_github), dsn) as hookwise:
        github = hookwise.ctx.github
        assert github is not None
        async with hookwise.ctx.pool.acquire() as conn:
            since = datetime.now(UTC) - timedelta(hours=1)
            outcomes = await redeliver.redeliver(github, conn, since=since, dry_run=True)
    assert sorted((o.candidate.guid, o.result) for o in outcomes) == sorted(
        (guid, "would redeliver") for guid in guids
    )


async def test_a_job_log_with_nul_bytes_and_bytes_not_utf8_is_analysed(world_factory, db) -> None:
    # The runner's output as GitHub passes it on: a NUL byte and a byte no UTF-8 starts with
    # on the failing lines the excerpt keeps.
    raw = LOG.encode().replace(b"AssertionError", b"Assertion\x00Error \xff")
    assert raw != LOG.encode()
    async with world_factory(HOOKWISE_REVIEW=False) as world:
        await world.deliver("pull_request", world.pr_event("opened"))
        event = world.failed_check()
        job = world.github.jobs[777]
        job.log = raw
        world.model.reply_tool("report_analysis", ANALYSIS)
        await world.deliver("check_run", event)

        [prompt] = world.model.calls
        sent = prompt["messages"][0]["content"]
        assert "AssertionError \ufffd" in sent and "\x00" not in sent
        [ours] = [r for r in world.github.check_runs.values() if r.name == "hookwise: tests"]
        assert "add() subtracts" in ours.output["summary"]
    [(_, status, attempts, error)] = [e for e in await executions(db) if "analyse" in e[0]]
    assert (status, attempts, error) == ("completed", 1, None)
    analysis = await db.fetchrow("SELECT status, failure_signature FROM analysis_results")
    assert analysis["status"] == "completed" and analysis["failure_signature"]


async def test_a_review_the_model_writes_with_u0000_and_lone_surrogates(world_factory, db) -> None:
    review = {"summary": SAID, "comments": [{"path": "calc.py", "line": 2, "body": SAID}]}
    async with world_factory(HOOKWISE_FIX=False) as world:
        world.model.reply_tool("submit_review", review)
        await world.deliver("pull_request", world.pr_event("opened"))

        # Posted as stored: what GitHub shows is what hookwise kept.
        [comment] = world.github.review_comments.values()
        assert comment.body == SHOWN
        [summary] = world.github.issue_comments.values()
        assert SHOWN in summary.body
    [(_, status, attempts, error)] = await executions(db)
    assert (status, attempts, error) == ("completed", 1, None)
    row = await db.fetchrow("SELECT status, feedback, comments FROM reviews")
    assert (row["status"], row["feedback"]) == ("posted", SHOWN)
    assert SHOWN in json.dumps(json.loads(row["comments"]), ensure_ascii=False)


async def test_a_refusal_whose_message_holds_u0000_fails_at_once_with_it_shown(
    world_factory, db
) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        world.model.reply_tool("submit_review", {"summary": "ok", "comments": []})
        body = {"message": f"Validation Failed: {SAID}", "documentation_url": "https://x"}
        world.github.fail("POST", r"/repos/.+/pulls/\d+/reviews", status=422, body=body, times=3)
        await world.deliver("pull_request", world.pr_event("opened"))
    [(_, status, attempts, error)] = await executions(db)
    assert (status, attempts) == ("failed", 1)
    assert f"GitHub refused (422): Validation Failed: {SHOWN}" in error
    logged = await db.fetchval("SELECT message FROM execution_logs WHERE step_name = 'refused'")
    assert SHOWN in logged


async def test_an_issue_linear_answers_with_u0000_is_stored_as_a_user_reads_it(
    settings, dsn, db, fake_github
) -> None:
    async with linear_world(settings, dsn, db, fake_github) as world:
        world.linear.add_team("ENG")
        issue = world.linear.add_issue("ENG", SAID)  # ENG-1: no webhook came for it
        await world.deliver_pull(world.open_pull(1, body="Part of ENG-1"), "opened")
        assert [a["input"]["issueId"] for a in world.linear.calls("attachmentCreate")] == [issue.id]
        [(_, status, attempts, error)] = await executions(db)
        assert (status, attempts, error) == ("completed", 1, None)
    row = await db.fetchrow("SELECT identifier, title FROM linear_issues WHERE id = $1", issue.id)
    assert tuple(row) == ("ENG-1", SHOWN)


async def test_a_workflow_file_whose_escapes_no_column_holds_is_shown_not_retried(
    world_factory, db
) -> None:
    # The file GitHub serves is text of the repository's: YAML's "\0" and "\ud800" escapes
    # in a workflow's name failed the sync eight times over, and none of the file's workflows
    # were stored. Now that one is named in the check run; the others run.
    text = (
        "workflows:\n"
        '  "bad\\0name":\n'
        "    on: {pull_request: [opened]}\n"
        "    steps: [{add_labels: [x]}]\n"
        '  "bad\\ud800":\n'
        "    on: {pull_request: [opened]}\n"
        "    steps: [{add_labels: [x]}]\n"
        "  thanks:\n"
        "    on: {pull_request: [opened]}\n"
        '    steps: [{comment: "Thanks \\ud83d\\ude00"}]\n'
    )
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        await declare(world, text)
        [(_, status, attempts, error)] = await executions(db)
        assert (status, attempts, error) == ("completed", 1, None)
        [run] = [r for r in world.github.check_runs.values() if r.name == "hookwise / workflows"]
        assert "workflow name 'bad\\x00name'" in run.output["summary"]
        assert "workflow name 'bad\\ud800'" in run.output["summary"]

        await world.deliver("pull_request", world.pr_event("opened"))
        [comment] = world.github.issue_comments.values()
        assert comment.body.startswith("Thanks \U0001f600")
    stored = await db.fetch(
        "SELECT declared_name, status FROM workflows WHERE scope IS NOT NULL ORDER BY 1"
    )
    assert [tuple(r) for r in stored] == [
        ("bad\\0name", "inactive"),
        ("bad\\ud800", "inactive"),
        ("thanks", "active"),
    ]
