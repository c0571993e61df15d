"""The review and the failure analysis/fix, and their policy decisions, against GitHub in memory:
the real store and runner, the fake Anthropic API, no HTTP to GitHub (tests/ports/memory_world.py).
What a user sees is what lands on MemoryGitHub; the stories over HTTP are
tests/stories/test_reactions.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.setup import PERMISSIONS
from tests.conftest import INSTALLATION_ID
from tests.ports.memory_world import MemoryWorld, memory_world, rows
from tests.reactions_world import ANALYSIS, REPO, REVIEW


def fix_reviews(world: MemoryWorld) -> list[Any]:
    return [r for r in world.github.reviews.values() if "suggests a fix" in r.body]


def our_check_run(world: MemoryWorld) -> Any:
    [ours] = [r for r in world.github.check_runs.values() if r.name == "hookwise: tests"]
    return ours


async def test_a_review_keeps_only_comments_on_lines_of_the_diff(settings, dsn) -> None:
    async with memory_world(settings, dsn) as world:
        world.model.reply_tool("submit_review", REVIEW)
        assert await world.react("hookwise.review", world.pr_event("opened")) == "completed"

        [review] = world.github.reviews.values()
        assert review.state == "COMMENTED"
        comments = list(world.github.review_comments.values())
        assert [(c.path, c.line) for c in comments] == [("calc.py", 2)]
        [summary] = world.github.issue_comments.values()
        assert "add() subtracts." in summary.body and "1 comment." in summary.body
        async with world.app.pool.acquire() as conn:
            assert await rows(conn, "SELECT status, decision FROM reviews") == [
                ("posted", "COMMENT")
            ]


async def test_a_head_reviewed_already_is_not_reviewed_again(settings, dsn) -> None:
    async with memory_world(settings, dsn) as world:
        world.model.reply_tool("submit_review", REVIEW)
        await world.react("hookwise.review", world.pr_event("opened"))
        asked = len(world.github.calls)

        assert await world.react("hookwise.review", world.pr_event("reopened")) == "completed"
        assert len(world.github.reviews) == 1
        assert len(world.model.calls) == 1
        # Decided from the store: GitHub was asked only for the configuration files.
        assert {op for op, _ in world.github.calls[asked:]} == {"contents"}


async def test_review_off_in_the_repository_file_asks_nobody(settings, dsn) -> None:
    async with memory_world(settings, dsn) as world:
        world.github.commit_files(REPO, "main", {".github/hookwise.yml": "review: false\n"})
        assert await world.react("hookwise.review", world.pr_event("opened")) == "completed"
        assert world.model.calls == []
        assert world.github.reviews == {}


async def test_a_spent_daily_budget_records_a_skip_before_the_model(settings, dsn) -> None:
    async with memory_world(settings, dsn, HOOKWISE_DAILY_TOKEN_BUDGET=0) as world:
        assert await world.react("hookwise.review", world.pr_event("opened")) == "completed"
        assert world.model.calls == []
        async with world.app.pool.acquire() as conn:
            assert await rows(conn, "SELECT status, error FROM reviews") == [
                ("skipped", "daily token budget reached")
            ]


async def test_a_review_after_a_push_covers_what_the_push_changed(settings, dsn) -> None:
    async with memory_world(settings, dsn) as world:
        world.model.reply_tool("submit_review", {"summary": "first", "comments": []})
        await world.react("hookwise.review", world.pr_event("opened"))
        world.github.commit_files(REPO, "fix-calc", {"notes.txt": "pushed later\n"})
        world.pull = world.github.pull_json(world.github.repo(REPO).pulls[7])
        await world.store("pull_request", world.pr_event("synchronize"))
        world.model.reply_tool("submit_review", {"summary": "second", "comments": []})

        assert await world.react("hookwise.review", world.pr_event("synchronize")) == "completed"
        prompt = world.model.calls[-1]["messages"][0]["content"]
        assert "### notes.txt" in prompt
        assert "### calc.py" not in prompt  # reviewed with the first head already


async def test_github_refusing_the_review_fails_it_with_githubs_reason(settings, dsn) -> None:
    # Installed without pull_requests: write, the App may read the diff but not review.
    permissions = {**PERMISSIONS, "pull_requests": "read"}
    async with memory_world(settings, dsn, permissions=permissions) as world:
        world.model.reply_tool("submit_review", REVIEW)
        assert await world.react("hookwise.review", world.pr_event("opened")) == "failed"
        assert world.github.reviews == {}
        async with world.app.pool.acquire() as conn:
            [(status, error)] = await rows(conn, "SELECT status, error FROM reviews")
            [(execution,)] = await rows(conn, "SELECT status FROM workflow_executions")
        assert (status, execution) == ("failed", "failed")
        assert error == "GitHub refused (403): Resource not accessible by integration"


async def test_a_github_rate_limit_reschedules_the_review_without_counting(settings, dsn) -> None:
    async with memory_world(settings, dsn) as world:
        reset = int((datetime.now(UTC) + timedelta(minutes=10)).timestamp())
        world.github.fail(
            403, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
        )
        assert await world.react("hookwise.review", world.pr_event("opened")) == "rescheduled"
        async with world.app.pool.acquire() as conn:
            [(status, attempts, later)] = await rows(
                conn, "SELECT status, attempts, run_after > now() FROM workflow_executions"
            )
        assert (status, attempts, later) == ("pending", 0, True)
        assert world.model.calls == []


async def test_a_failing_check_gets_one_suggestion_inside_the_diff(settings, dsn) -> None:
    async with memory_world(settings, dsn) as world:
        check = world.failed_check()
        await world.store("check_run", check)
        world.model.reply_tool("report_analysis", ANALYSIS)

        assert await world.react("hookwise.analyse_failure", check) == "completed"
        [prompt] = world.model.calls
        assert "assert" in prompt["messages"][0]["content"]  # the job's log, excerpted
        [fix] = fix_reviews(world)
        [comment] = [world.github.review_comments[i] for i in fix.comment_ids]
        assert (comment.path, comment.line) == ("calc.py", 2)
        assert comment.body == "```suggestion\n    return a + b\n```"  # setup.py is not in it
        ours = our_check_run(world)
        assert ours.output["title"] == "tests: test failure"
        assert [a["identifier"] for a in ours.actions] == ["reanalyse", "apply_fix"]


async def test_a_failure_the_base_branch_has_too_gets_no_fix(settings, dsn) -> None:
    async with memory_world(settings, dsn) as world:
        base = world.github.tip(REPO, "main")
        world.github.add_check_run(REPO, base, name="tests", conclusion="failure")
        check = world.failed_check()
        await world.store("check_run", check)

        assert await world.react("hookwise.analyse_failure", check) == "completed"
        assert world.model.calls == []
        assert fix_reviews(world) == []
        assert our_check_run(world).output["title"] == "No fix proposed"
        assert "fails on main too" in our_check_run(world).output["summary"]


async def test_commit_mode_commits_the_fix_on_the_branch(settings, dsn) -> None:
    async with memory_world(settings, dsn) as world:
        world.github.commit_files(REPO, "main", {".github/hookwise.yml": "fix_mode: commit\n"})
        check = world.failed_check()
        await world.store("check_run", check)
        world.model.reply_tool("report_analysis", {**ANALYSIS, "edits": ANALYSIS["edits"][:1]})

        assert await world.react("hookwise.analyse_failure", check) == "completed"
        assert world.github.file_at(REPO, "calc.py", ref="fix-calc").splitlines()[1] == (
            "    return a + b"
        )
        tip = world.github.repo(REPO).objects.commits[world.github.tip(REPO, "fix-calc")]
        assert tip.parents == [check["check_run"]["head_sha"]]
        assert fix_reviews(world) == []


async def test_a_push_meanwhile_refuses_the_commit_and_says_so(settings, dsn) -> None:
    async with memory_world(settings, dsn) as world:
        world.github.commit_files(REPO, "main", {".github/hookwise.yml": "fix_mode: commit\n"})
        check = world.failed_check()
        await world.store("check_run", check)
        # Someone pushes after the check ran: the fix's parent is no longer the tip.
        world.github.commit_files(REPO, "fix-calc", {"notes.txt": "mine\n"})
        world.model.reply_tool("report_analysis", {**ANALYSIS, "edits": ANALYSIS["edits"][:1]})

        assert await world.react("hookwise.analyse_failure", check) == "completed"
        assert world.github.file_at(REPO, "notes.txt", ref="fix-calc") == "mine\n"
        summary = our_check_run(world).output["summary"]
        assert "could not be committed" in summary and "not a fast forward" in summary
        async with world.app.pool.acquire() as conn:
            assert await rows(conn, "SELECT fix_strategy, status FROM fix_attempts") == [
                ("commit", "failed")
            ]


async def test_a_fork_gets_a_suggestion_never_a_commit(settings, dsn) -> None:
    async with memory_world(settings, dsn, fork=True) as world:
        world.github.commit_files(REPO, "main", {".github/hookwise.yml": "fix_mode: commit\n"})
        check = world.failed_check()
        await world.store("check_run", check)
        world.model.reply_tool("report_analysis", ANALYSIS)

        assert await world.react("hookwise.analyse_failure", check) == "completed"
        assert len(fix_reviews(world)) == 1
        assert not [op for op, _ in world.github.calls if op in ("create_commit", "move_branch")]
        assert "fork" in our_check_run(world).output["summary"]


def button(world: MemoryWorld, identifier: str) -> dict[str, Any]:
    """Our check run's button pressed, as GitHub's check_run requested_action says it."""
    return {
        "action": "requested_action",
        "check_run": world.github.check_run_json(our_check_run(world)),
        "requested_action": {"identifier": identifier},
        "repository": world.repo,
        "installation": {"id": INSTALLATION_ID},
        "sender": {"login": "octocat", "type": "User"},
    }


async def test_the_apply_fix_button_commits_the_suggested_fix(settings, dsn) -> None:
    async with memory_world(settings, dsn) as world:
        check = world.failed_check()
        await world.store("check_run", check)
        world.model.reply_tool("report_analysis", {**ANALYSIS, "edits": ANALYSIS["edits"][:1]})
        await world.react("hookwise.analyse_failure", check)
        before = world.github.tip(REPO, "fix-calc")

        assert await world.react("hookwise.check_run_action", button(world, "apply_fix")) == (
            "completed"
        )
        assert world.github.tip(REPO, "fix-calc") != before
        assert "return a + b" in world.github.file_at(REPO, "calc.py", ref="fix-calc")
        assert len(world.model.calls) == 1  # applying asks the model nothing
        async with world.app.pool.acquire() as conn:
            assert await rows(
                conn, "SELECT fix_strategy, status FROM fix_attempts ORDER BY created_at"
            ) == [("suggest", "succeeded"), ("commit", "succeeded")]


async def test_a_button_on_another_apps_check_run_does_nothing(settings, dsn) -> None:
    async with memory_world(settings, dsn) as world:
        check = world.failed_check()
        await world.store("check_run", check)
        world.model.reply_tool("report_analysis", ANALYSIS)
        await world.react("hookwise.analyse_failure", check)
        pressed = button(world, "apply_fix")
        pressed["check_run"] = {**pressed["check_run"], "app": world.github.app_of("other-app")}
        before = world.github.tip(REPO, "fix-calc")

        assert await world.react("hookwise.check_run_action", pressed) == "completed"
        assert world.github.tip(REPO, "fix-calc") == before
        async with world.app.pool.acquire() as conn:
            [(result,)] = await rows(
                conn,
                "SELECT e.result->>'summary' FROM workflow_executions e"
                " JOIN workflows w ON w.id = e.workflow_id"
                " WHERE w.name = 'hookwise.check_run_action'",
            )
        assert result == "not our check run"
