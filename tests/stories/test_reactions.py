"""Reactions end to end: webhooks from the fake GitHub, the real worker and handlers, the fake
Anthropic API; what a user sees is what lands on the fake GitHub."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import INSTALLATION_ID
from tests.fakes.github import FakeGitHub
from tests.reactions_world import ANALYSIS, LOG, REPO, REVIEW, World, world_factory_for


@pytest.fixture
def world_factory(settings, dsn, fake_github: FakeGitHub) -> Any:
    return world_factory_for(settings, dsn, fake_github)


def reviews_on(github: FakeGitHub) -> list[Any]:
    return list(github.reviews.values())


async def test_a_pull_request_gets_one_review_anchored_in_the_diff(world_factory, db) -> None:
    async with world_factory() as world:
        world.model.reply_tool("submit_review", REVIEW, input_tokens=2000, output_tokens=400)
        await world.deliver("pull_request", world.pr_event("opened"))

        assert len(reviews_on(world.github)) == 1
        comments = list(world.github.review_comments.values())
        assert [(c.path, c.line) for c in comments] == [("calc.py", 2)]
        [summary] = list(world.github.issue_comments.values())
        assert "add() subtracts." in summary.body
        assert "1 comment." in summary.body

        # Redelivered, replayed: nothing new is posted and the model is not asked again.
        await world.replay_all()
        assert len(reviews_on(world.github)) == 1
        assert len(world.github.issue_comments) == 1
        assert len(world.model.calls) == 1

    row = await db.fetchrow("SELECT status, input_tokens, output_tokens, cost_usd FROM reviews")
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == ("posted", 2000, 400)
    assert float(row["cost_usd"]) == pytest.approx(2000 * 3 / 1e6 + 400 * 15 / 1e6)
    sent = await db.fetch("SELECT kind, status, attempts FROM outbound_actions ORDER BY kind")
    assert [tuple(r) for r in sent] == [
        ("github.review", "sent", 1),
        ("github.summary_comment", "sent", 1),
    ]


async def test_drafts_and_bots_are_not_reviewed(world_factory) -> None:
    async with world_factory() as world:
        draft = world.pr_event("opened")
        draft["pull_request"] = {**world.pull, "draft": True}
        await world.deliver("pull_request", draft)
        bot = world.pr_event("opened")
        bot["pull_request"] = {**world.pull, "user": {"login": "dependabot[bot]", "type": "Bot"}}
        await world.deliver("pull_request", bot)
        assert world.model.calls == []
        assert reviews_on(world.github) == []


async def test_a_failing_check_gets_a_suggested_fix(world_factory, db) -> None:
    async with world_factory() as world:
        world.model.reply_tool("submit_review", {"summary": "ok", "comments": []})
        await world.deliver("pull_request", world.pr_event("opened"))
        world.model.reply_tool("report_analysis", ANALYSIS)
        await world.deliver("check_run", world.failed_check())

        [prompt] = [c for c in world.model.calls if c["tool_choice"]["name"] == "report_analysis"]
        assert "assert" in prompt["messages"][0]["content"]  # the excerpt of the real log
        fix = [r for r in reviews_on(world.github) if "suggests a fix" in r.body]
        assert len(fix) == 1
        [comment] = [c for c in world.github.review_comments.values() if "suggestion" in c.body]
        assert (comment.path, comment.line) == ("calc.py", 2)
        assert comment.body == "```suggestion\n    return a + b\n```"
        ours = [r for r in world.github.check_runs.values() if r.name == "hookwise: tests"]
        assert len(ours) == 1
        assert "add() subtracts" in ours[0].output["summary"]

        await world.replay_all()
        assert len([r for r in reviews_on(world.github) if "suggests a fix" in r.body]) == 1
        assert len(world.model.calls) == 2

    analysis = await db.fetchrow("SELECT status, category, is_preexisting FROM analysis_results")
    assert tuple(analysis) == ("completed", "test", False)
    fix_row = await db.fetchrow(
        "SELECT fix_strategy, status, attempt_number, retry_count, success,"
        " started_at <= completed_at FROM fix_attempts"
    )
    assert tuple(fix_row) == ("suggest", "succeeded", 1, 0, True, True)
    # The seed's columns of a review: who reviewed, what it told GitHub, when.
    review = await db.fetchrow(
        "SELECT reviewer_type, decision, feedback, started_at <= completed_at FROM reviews"
    )
    assert tuple(review) == ("ai", "COMMENT", "ok", True)
    # Where the analysis read the failing job's log from.
    logs_url = await db.fetchval(
        "SELECT logs_url FROM check_runs WHERE app_slug = 'github-actions'"
    )
    assert logs_url.startswith(world.github.url) and logs_url.endswith("/logs")


async def test_overloaded_model_is_retried(world_factory) -> None:
    async with world_factory() as world:
        world.model.fail(529)
        world.model.reply_tool("submit_review", REVIEW)
        await world.deliver("pull_request", world.pr_event("opened"))
        assert len(reviews_on(world.github)) == 1
        assert [r.status for r in world.model.requests] == [529, 200]


async def test_malformed_model_output_fails_the_analysis_and_posts_nothing(
    world_factory, db
) -> None:
    async with world_factory(HOOKWISE_REVIEW=False) as world:
        world.model.reply_tool("report_analysis", {"category": "test", "confidence": "high"})
        await world.deliver("pull_request", world.pr_event("opened"))
        await world.deliver("check_run", world.failed_check())
        assert reviews_on(world.github) == []
        [ours] = [r for r in world.github.check_runs.values() if r.name == "hookwise: tests"]
        assert ours.output["title"] == "Analysis failed"
    row = await db.fetchrow("SELECT status, error FROM analysis_results")
    assert row["status"] == "failed"
    assert "unusable model answer" in row["error"]
    # Not retried: the same prompt would not mend the answer.
    assert (
        await db.fetchval("SELECT status FROM integration_events WHERE event_type = 'check_run'")
        == "completed"
    )


async def test_what_the_base_branchs_green_log_shares_is_left_out_of_the_prompt(
    world_factory,
) -> None:
    # The same job passed on main: its log shares the runner's set-up with the failing one.
    lines = LOG.split("\n")
    shared = [line for line in lines if "E   " not in line and "FAILED" not in line][:300]
    async with world_factory(HOOKWISE_REVIEW=False) as world:
        green = world.github.add_check_run(
            REPO,
            "main",
            name="tests",
            conclusion="success",
            details_url=f"{world.github.url}/{REPO}/actions/runs/444/job/666",
        )
        world.github.add_actions_job(
            REPO,
            run_id=444,
            job_id=666,
            name="tests",
            check_run_id=green["id"],
            log="\n".join(shared),
            conclusion="success",
        )
        world.model.reply_tool("report_analysis", ANALYSIS)
        await world.deliver("pull_request", world.pr_event("opened"))
        await world.deliver("check_run", world.failed_check())
        [call] = world.model.calls
        prompt = call["messages"][0]["content"]
        assert "lines as on the base branch)" in prompt
        assert "E       assert 24.3 == 27.0" in prompt
        assert "Current runner version" not in prompt


async def test_failure_on_the_base_branch_too_is_not_the_prs_fault(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False) as world:
        world.github.add_check_run(REPO, "main", name="tests")
        await world.deliver("pull_request", world.pr_event("opened"))
        await world.deliver("check_run", world.failed_check())
        assert world.model.calls == []
        [ours] = [r for r in world.github.check_runs.values() if r.name == "hookwise: tests"]
        assert "pre-existing or flaky" in ours.output["summary"]
    row = await db.fetchrow("SELECT status, is_preexisting FROM analysis_results")
    assert tuple(row) == ("skipped", True)


@pytest.mark.parametrize(
    ("more", "why"),
    [
        ({"HOOKWISE_MAX_FIX_ATTEMPTS": 0}, "cap of 0 fix attempts"),
        ({"HOOKWISE_DAILY_TOKEN_BUDGET": 0}, "daily token budget"),
    ],
)
async def test_caps_and_budgets_stop_before_the_model(world_factory, db, more, why) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, **more) as world:
        await world.deliver("pull_request", world.pr_event("opened"))
        await world.deliver("check_run", world.failed_check())
        assert world.model.calls == []
        [ours] = [r for r in world.github.check_runs.values() if r.name == "hookwise: tests"]
        assert why in ours.output["summary"]
    assert await db.fetchval("SELECT status FROM analysis_results") == "skipped"


async def test_a_malformed_config_file_shows_in_our_check_run(world_factory) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        world.github.commit_files(REPO, "main", {".github/hookwise.yml": "fix: [yes"})
        await world.deliver("pull_request", world.pr_event("synchronize"))
        await world.deliver("check_run", world.failed_check())
        [ours] = [r for r in world.github.check_runs.values() if r.name == "hookwise: tests"]
        assert ours.output["title"] == "hookwise.yml has a problem"
        assert "not valid YAML" in ours.output["summary"]
        assert world.model.calls == []


def our_check_run(world: World) -> Any:
    [ours] = [r for r in world.github.check_runs.values() if r.name == "hookwise: tests"]
    return ours


async def test_commit_mode_commits_the_fix_on_the_branch_once(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX_MODE="commit") as world:
        before = world.github.tip(REPO, "fix-calc")
        world.model.reply_tool("report_analysis", ANALYSIS | {"edits": ANALYSIS["edits"][:1]})
        await world.deliver("pull_request", world.pr_event("opened"))
        await world.deliver("check_run", world.failed_check())
        after = world.github.tip(REPO, "fix-calc")
        assert after != before
        assert world.github.file_at(REPO, "calc.py", ref="fix-calc").splitlines()[1] == (
            "    return a + b"
        )
        assert reviews_on(world.github) == []
        assert "Committed the fix to fix-calc" in our_check_run(world).output["summary"]

        await world.replay_all()
        assert world.github.tip(REPO, "fix-calc") == after
    row = await db.fetchrow("SELECT fix_strategy, status, commit_sha FROM fix_attempts")
    assert tuple(row) == ("commit", "succeeded", after)


async def test_a_committed_fix_keeps_the_files_mode(world_factory) -> None:
    async with world_factory(
        HOOKWISE_REVIEW=False, HOOKWISE_FIX_MODE="commit", executable=("calc.py",)
    ) as world:
        assert world.github.mode_at(REPO, "calc.py", ref="fix-calc") == "100755"
        before = world.github.tip(REPO, "fix-calc")
        world.model.reply_tool("report_analysis", ANALYSIS | {"edits": ANALYSIS["edits"][:1]})
        await world.deliver("pull_request", world.pr_event("opened"))
        await world.deliver("check_run", world.failed_check())
        after = world.github.tip(REPO, "fix-calc")
        assert after != before
        # An executable script stays executable.
        assert world.github.mode_at(REPO, "calc.py", ref=after) == "100755"
        assert world.github.file_at(REPO, "calc.py", ref=after).splitlines()[1] == (
            "    return a + b"
        )


async def test_a_fix_for_a_path_the_branch_lacks_commits_nothing(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX_MODE="commit") as world:
        before = world.github.tip(REPO, "fix-calc")
        missing = ANALYSIS["edits"][0] | {"path": "src/no_such_file.py"}
        world.model.reply_tool("report_analysis", ANALYSIS | {"edits": [missing]})
        await world.deliver("pull_request", world.pr_event("opened"))
        await world.deliver("check_run", world.failed_check())
        assert world.github.tip(REPO, "fix-calc") == before
        assert "src/no_such_file.py is not a file" in our_check_run(world).output["summary"]
    row = await db.fetchrow("SELECT fix_strategy, status FROM fix_attempts")
    assert tuple(row) == ("commit", "failed")


async def test_a_fork_gets_a_suggestion_never_a_commit(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX_MODE="commit", fork=True) as world:
        before = world.github.tip("forker/widgets", "fix-calc")
        world.model.reply_tool("report_analysis", ANALYSIS)
        await world.deliver("pull_request", world.pr_event("opened"))
        await world.deliver("check_run", world.failed_check())
        assert world.github.tip("forker/widgets", "fix-calc") == before
        assert len(reviews_on(world.github)) == 1
        assert "on a fork" in our_check_run(world).output["summary"]
    assert await db.fetchval("SELECT fix_strategy FROM fix_attempts") == "suggest"


async def test_workflow_files_are_never_committed(world_factory, db) -> None:
    edits = [{"path": ".github/workflows/ci.yml", "start_line": 1, "end_line": 1,
              "replacement": "on: push"}]  # fmt: skip
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX_MODE="commit") as world:
        before = world.github.tip(REPO, "fix-calc")
        world.model.reply_tool("report_analysis", ANALYSIS | {"edits": edits})
        await world.deliver("pull_request", world.pr_event("opened"))
        await world.deliver("check_run", world.failed_check())
        assert world.github.tip(REPO, "fix-calc") == before
    row = await db.fetchrow("SELECT status, error_message FROM fix_attempts")
    assert row["status"] == "skipped"
    assert ".github/workflows/ci.yml" in row["error_message"]


def button(world: World, identifier: str) -> dict[str, Any]:
    ours = world.github.check_run_json(our_check_run(world))
    return {
        "action": "requested_action",
        "check_run": ours,
        "requested_action": {"identifier": identifier},
        "repository": world.repo,
        "installation": {"id": INSTALLATION_ID},
        "sender": {"login": "octocat", "type": "User"},
    }


async def test_the_apply_fix_button_commits_the_suggestion(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False) as world:
        world.model.reply_tool("report_analysis", ANALYSIS | {"edits": ANALYSIS["edits"][:1]})
        await world.deliver("pull_request", world.pr_event("opened"))
        await world.deliver("check_run", world.failed_check())
        identifiers = [a["identifier"] for a in our_check_run(world).actions]
        assert identifiers == ["reanalyse", "apply_fix"]
        before = world.github.tip(REPO, "fix-calc")

        await world.deliver("check_run", button(world, "apply_fix"))
        assert world.github.tip(REPO, "fix-calc") != before
        assert "return a + b" in world.github.file_at(REPO, "calc.py", ref="fix-calc")
    modes = await db.fetch("SELECT fix_strategy, status FROM fix_attempts ORDER BY created_at")
    assert [tuple(r) for r in modes] == [("suggest", "succeeded"), ("commit", "succeeded")]


async def test_the_reanalyse_button_asks_the_model_again(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False) as world:
        world.model.reply_tool("report_analysis", ANALYSIS | {"fixable": False, "edits": []})
        await world.deliver("pull_request", world.pr_event("opened"))
        await world.deliver("check_run", world.failed_check())
        world.model.reply_tool("report_analysis", ANALYSIS | {"root_cause": "Second look."})
        await world.deliver("check_run", button(world, "reanalyse"))
        assert len(world.model.calls) == 2
        assert "Second look." in our_check_run(world).output["summary"]
    assert await db.fetchval("SELECT count(*) FROM analysis_results") == 2


async def test_synchronize_reviews_only_what_changed_since_the_last_review(world_factory) -> None:
    async with world_factory(HOOKWISE_FIX=False) as world:
        world.model.reply_tool("submit_review", REVIEW)
        await world.deliver("pull_request", world.pr_event("opened"))
        world.github.commit_files(REPO, "fix-calc", {"notes.md": "# Notes\n"}, message="Notes")
        world.pull = world.github.pull_json(world.github.repo(REPO).pulls[7])
        world.model.reply_tool("submit_review", {"summary": "Notes only.", "comments": []})
        await world.deliver("pull_request", world.pr_event("synchronize"))

        first, second = (c["messages"][0]["content"] for c in world.model.calls)
        assert "### calc.py" in first and "### test_calc.py" in first
        assert "### notes.md" in second and "### calc.py" not in second
        assert len(reviews_on(world.github)) == 2
        [summary] = list(world.github.issue_comments.values())
        assert "Notes only." in summary.body  # the one summary comment, rewritten


async def test_the_same_failure_in_two_jobs_is_analysed_once(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False) as world:
        world.model.reply_tool("report_analysis", ANALYSIS)
        await world.deliver("pull_request", world.pr_event("opened"))
        await world.deliver("check_run", world.failed_check(name="tests (3.11)"))
        await world.deliver("check_run", world.failed_check(name="tests (3.12)"))
        assert len(world.model.calls) == 1
    rows = await db.fetch("SELECT status, error FROM analysis_results ORDER BY created_at")
    assert [r["status"] for r in rows] == ["completed", "skipped"]
    assert "same failure" in rows[1]["error"]


async def test_the_owners_defaults_sit_between_settings_and_the_repository(world_factory) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        world.github.add_repo(
            "octo-org/.github",
            installation_id=INSTALLATION_ID,
            files={".github/hookwise.yml": "review: true\nmax_tokens: 2048\n"},
        )
        world.model.reply_tool("submit_review", REVIEW)
        await world.deliver("pull_request", world.pr_event("opened"))
        assert len(reviews_on(world.github)) == 1
        assert world.model.calls[0]["max_tokens"] == 2048

        # The repository's own file wins over the owner's.
        world.github.commit_files(REPO, "main", {".github/hookwise.yml": "review: false\n"})
        world.github.commit_files(REPO, "fix-calc", {"notes.md": "# Notes\n"})
        world.pull = world.github.pull_json(world.github.repo(REPO).pulls[7])
        await world.deliver("pull_request", world.pr_event("synchronize"))
        assert len(world.model.calls) == 1


async def test_the_repositorys_override_sits_between_the_owners_file_and_its_own(
    world_factory, db
) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        world.github.add_repo(
            "octo-org/.github",
            installation_id=INSTALLATION_ID,
            files={".github/hookwise.yml": "review: true\nmax_tokens: 2048\n"},
        )
        world.model.reply_tool("submit_review", REVIEW)
        await world.deliver("pull_request", world.pr_event("opened"))
        assert world.model.calls[-1]["max_tokens"] == 2048

        # Set on /admin (repositories.config_override): over the owner's file.
        await db.execute(
            "UPDATE repositories SET config_override = $2::jsonb WHERE full_name = $1",
            REPO,
            '{"max_tokens": 4096}',
        )
        world.github.commit_files(REPO, "fix-calc", {"notes.md": "# Notes\n"})
        world.pull = world.github.pull_json(world.github.repo(REPO).pulls[7])
        world.model.reply_tool("submit_review", REVIEW)
        await world.deliver("pull_request", world.pr_event("synchronize"))
        assert world.model.calls[-1]["max_tokens"] == 4096

        # The repository's own file wins over the override.
        world.github.commit_files(REPO, "main", {".github/hookwise.yml": "max_tokens: 1024\n"})
        world.github.commit_files(REPO, "fix-calc", {"more.md": "# More\n"})
        world.pull = world.github.pull_json(world.github.repo(REPO).pulls[7])
        world.model.reply_tool("submit_review", REVIEW)
        await world.deliver("pull_request", world.pr_event("synchronize"))
        assert world.model.calls[-1]["max_tokens"] == 1024
        assert len(world.model.calls) == 3


async def test_the_pull_requests_own_config_file_is_never_read(world_factory) -> None:
    # A PR (a fork's, say) that switches review on and raises the budget for itself: ignored,
    # the file is read from the default branch only.
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        greedy = "review: true\nmodel: claude-opus-4-1\nmax_tokens: 64000\n"
        world.github.commit_files(REPO, "fix-calc", {".github/hookwise.yml": greedy})
        world.pull = world.github.pull_json(world.github.repo(REPO).pulls[7])
        await world.deliver("pull_request", world.pr_event("synchronize"))
        # Not even asked: the head's file would have switched review on.
        assert world.model.requests == []
        assert reviews_on(world.github) == []


@pytest.mark.parametrize(
    ("files", "shown"),
    [
        ({".github/hookwise.yml/x.yml": "review: true\n"}, "is not a file"),
        ({".github/hookwise.yml": "review: true\n#" + "x" * (1 << 20)}, "1 MB contents limit"),
        ({".github/hookwise.yml": b"review: true\n# \xff\xfe"}, "is not UTF-8 text"),
    ],
)
async def test_a_config_file_that_cannot_be_read_shows_why_and_the_defaults_apply(
    world_factory, files, shown
) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        world.github.commit_files(REPO, "main", files)
        await world.deliver("pull_request", world.pr_event("opened"))
        await world.deliver("check_run", world.failed_check())
        [ours] = [r for r in world.github.check_runs.values() if r.name == "hookwise: tests"]
        assert ours.output["title"] == "hookwise.yml has a problem"
        assert shown in ours.output["summary"]
        assert world.model.calls == []


async def test_posts_whose_answers_were_lost_are_found_not_posted_again(world_factory) -> None:
    # GitHub did the work and a proxy answered 502: the next attempt must find what was posted.
    async with world_factory(HOOKWISE_RETRY_BASE_SECONDS=0.0) as world:
        world.model.responder = lambda request: {
            "submit_review": REVIEW,
            "report_analysis": ANALYSIS,
        }.get(request["tool_choice"]["name"])
        world.github.fail("POST", r"/repos/.+/pulls/\d+/reviews", status=502, after=True)
        await world.deliver("pull_request", world.pr_event("opened"))
        world.github.fail("POST", r"/repos/.+/pulls/\d+/reviews", status=502, after=True)
        world.github.fail("POST", r"/repos/.+/check-runs", status=502, after=True)
        await world.deliver("check_run", world.failed_check())

        reviews = reviews_on(world.github)
        assert len([r for r in reviews if "suggests a fix" in r.body]) == 1
        assert len([r for r in reviews if "suggests a fix" not in r.body]) == 1
        assert len(world.github.issue_comments) == 1
        assert our_check_run(world).output["title"]
        posts = [r for r in world.github.requests if r.method == "POST" and "/repos/" in r.path]
        # Each lost answer cost one look (GET) and no second POST.
        assert [r.path.rsplit("/", 1)[-1] for r in posts].count("reviews") == 2
        assert [r.path.rsplit("/", 1)[-1] for r in posts].count("check-runs") == 1


async def test_a_retried_execution_reuses_the_answer_it_paid_for(world_factory, db) -> None:
    # The model answered; posting then failed outright, so the execution is retried. The retry
    # posts the same answer without asking (and paying) again, and counts its tokens once.
    async with world_factory(HOOKWISE_RETRY_BASE_SECONDS=0.0) as world:
        world.model.responder = lambda request: {
            "submit_review": REVIEW,
            "report_analysis": ANALYSIS,
        }.get(request["tool_choice"]["name"])
        world.github.fail("POST", r"/repos/.+/pulls/\d+/reviews", status=500)
        await world.deliver("pull_request", world.pr_event("opened"))
        world.github.fail("POST", r"/repos/.+/check-runs", status=500)
        await world.deliver("check_run", world.failed_check())

        assert len(world.model.calls) == 2  # one review, one analysis
        assert len([r for r in reviews_on(world.github) if "suggests a fix" not in r.body]) == 1
        assert our_check_run(world).output["title"]
    # The events were recorded at the first attempt; the reactions were retried on their own.
    attempts = await db.fetch(
        "SELECT event_type, attempts, status FROM integration_events"
        " WHERE event_type IN ('pull_request', 'check_run') ORDER BY event_type"
    )
    assert [tuple(r) for r in attempts] == [
        ("check_run", 1, "completed"),
        ("pull_request", 1, "completed"),
    ]
    runs = await db.fetch(
        "SELECT w.name, e.attempts, e.status FROM workflow_executions e"
        " JOIN workflows w ON w.id = e.workflow_id ORDER BY w.name"
    )
    assert [tuple(r) for r in runs] == [
        ("hookwise.analyse_failure", 2, "completed"),
        ("hookwise.review", 2, "completed"),
    ]
    # The responder's answers cost 1,200 input tokens each: counted once, not per attempt.
    assert await db.fetchval("SELECT sum(input_tokens) FROM reviews") == 1200
    assert await db.fetchval("SELECT sum(input_tokens) FROM analysis_results") == 1200
    assert await db.fetchval("SELECT count(*) FROM model_answers") == 0
