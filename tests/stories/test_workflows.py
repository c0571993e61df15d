"""Declared workflows end to end: a .github/hookwise.yml on the fake GitHub's default branch,
webhooks, the real worker; what a user sees is what lands on the fake GitHub and in the
execution's logs."""

from __future__ import annotations

import asyncio
import textwrap
from typing import Any

import pytest

from tests.conftest import INSTALLATION_ID
from tests.fakes.github import FakeGitHub
from tests.reactions_world import BASE_FILES, REPO, World, world_factory_for

BASE_CALC = BASE_FILES["calc.py"]

LABEL_AND_GATE = """\
workflows:
  label-calc:
    on:
      pull_request: [opened, synchronize]
    if:
      base_branch: main
      changed_paths: ["calc.py"]
    steps:
      - add_labels: [calc]
      - comment: "Thanks @{{ author }} for {{ title }}."
  docs-only:
    on:
      pull_request: [opened]
    if:
      changed_paths: ["docs/**"]
    steps:
      - add_labels: [docs]
  size-gate:
    on:
      pull_request: [opened, synchronize, edited]
    steps:
      - quality_gate:
          name: size
          max_files_changed: 1
          require_description: true
"""


@pytest.fixture
def world_factory(settings, dsn, fake_github: FakeGitHub) -> Any:
    return world_factory_for(settings, dsn, fake_github)


def push_event(world: World, sha: str) -> dict[str, Any]:
    return {
        "ref": "refs/heads/main",
        "before": "0" * 40,
        "after": sha,
        "repository": world.repo,
        "installation": {"id": INSTALLATION_ID},
        "sender": {"login": "octocat", "type": "User"},
        "commits": [{"id": sha, "added": [".github/hookwise.yml"], "modified": [], "removed": []}],
        "head_commit": {"id": sha, "added": [".github/hookwise.yml"], "modified": []},
    }


async def declare(world: World, text: str) -> str:
    """Commit the file to the default branch and tell hookwise with a push."""
    sha = world.github.commit_files(REPO, "main", {".github/hookwise.yml": text})
    await world.deliver("push", push_event(world, sha))
    return sha


def requests(github: FakeGitHub, method: str, tail: str) -> list[Any]:
    return [r for r in github.requests if r.method == method and r.path.endswith(tail)]


async def executions_of(db, workflow_suffix: str) -> list[Any]:
    return await db.fetch(
        "SELECT e.id, e.status, e.error_message, e.execution_id FROM workflow_executions e"
        " JOIN workflows w ON w.id = e.workflow_id WHERE w.name LIKE '%' || $1 ORDER BY e.seq",
        workflow_suffix,
    )


async def test_a_declared_workflow_runs_once_per_trigger(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        world.github.repo(REPO).pulls[7].body = ""
        await declare(world, LABEL_AND_GATE)
        stored = await db.fetch(
            "SELECT declared_name, status FROM workflows WHERE scope IS NOT NULL ORDER BY 1"
        )
        assert [tuple(r) for r in stored] == [
            ("docs-only", "active"),
            ("label-calc", "active"),
            ("size-gate", "active"),
        ]

        await world.deliver("pull_request", world.pr_event("opened"))
        pull = world.github.repo(REPO).pulls[7]
        assert pull.labels == ["calc"]
        [comment] = [c for c in world.github.issue_comments.values() if "Thanks" in c.body]
        assert comment.body.startswith("Thanks @octocat for Rework calc.")
        # The gate: two files changed (one allowed) and no description.
        [gate] = [r for r in world.github.check_runs.values() if r.name == "hookwise / size"]
        assert gate.conclusion == "failure"
        assert "2 files changed, at most 1 allowed" in gate.output["summary"]
        assert "the description is empty" in gate.output["summary"]

        # docs-only's changed paths do not hold: the execution ends skipped, with the reason.
        [docs] = await executions_of(db, ":docs-only")
        assert docs["status"] == "skipped"
        assert docs["error_message"] == "no changed file matches docs/**"

        # Redelivered, replayed: nothing runs again.
        delivered = world.github.deliveries[-1]
        again = await world.github.deliver("pull_request", delivered.payload, guid=delivered.guid)
        assert again.status_code == 200
        await world.replay_all()
        assert len(requests(world.github, "POST", "/issues/7/labels")) == 1
        assert len([c for c in world.github.issue_comments.values() if "Thanks" in c.body]) == 1
        assert [r["status"] for r in await executions_of(db, ":label-calc")] == ["completed"]

        # The PR is fixed (a description, without a new commit): the gate turns green in place.
        pull.body = "Fixes the adder."
        edited = world.pr_event("edited")
        edited["pull_request"] = world.github.pull_json(pull)
        await world.deliver("pull_request", edited)
        [gate] = [r for r in world.github.check_runs.values() if r.name == "hookwise / size"]
        assert "the description is empty" not in gate.output["summary"]

    logs = await db.fetch(
        "SELECT l.step_name, l.message FROM execution_logs l JOIN workflow_executions e"
        " ON e.id = l.execution_id JOIN workflows w ON w.id = e.workflow_id"
        " WHERE w.name LIKE '%:label-calc' ORDER BY l.created_at, l.id"
    )
    assert [r["step_name"] for r in logs] == ["conditions", "1. add_labels", "2. comment", "done"]
    sent = await db.fetch(
        "SELECT kind, count(*) AS n FROM outbound_actions GROUP BY kind ORDER BY kind"
    )
    assert {r["kind"]: r["n"] for r in sent} == {
        "github.comment": 1,
        "github.labels_add": 1,
        "github.quality_gate": 1,
        "github.workflows_check": 1,
    }
    # Seed 001's performance view counts seed 001's statuses: a skipped run (its `if:` did not
    # hold) is no run, so docs-only has no success rate to lower; the activity view lists it.
    stats = await db.fetch(
        "SELECT workflow_name, total_executions, successful_executions, failed_executions"
        " FROM workflow_performance_stats WHERE workflow_name LIKE $1 || '%' ORDER BY 1",
        REPO,
    )
    assert [tuple(r) for r in stats] == [
        (f"{REPO}:label-calc", 1, 1, 0),
        (f"{REPO}:size-gate", 2, 2, 0),
    ]
    activity = await db.fetch(
        "SELECT status FROM recent_workflow_activity WHERE workflow_name = $1",
        f"{REPO}:docs-only",
    )
    assert [r["status"] for r in activity] == ["skipped"]


SIZES = """\
workflows:
  size-gate:
    on:
      pull_request: [opened]
    steps:
      - quality_gate: {name: size, max_files_changed: 3002, max_lines_changed: 3002}
  small-only:
    on:
      pull_request: [opened]
    if: {max_files_changed: 1}
    steps:
      - add_labels: [small]
"""


def opened(world: World, number: int, branch: str) -> dict[str, Any]:
    event = world.pr_event("opened")
    pull = world.github.add_pull(REPO, number, head_branch=branch, title=branch)
    return event | {"number": number, "pull_request": pull}


async def test_sizes_count_a_rename_once_and_files_past_githubs_listing(world_factory) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        await declare(world, SIZES)
        # One file moved unchanged: GitHub lists it once, as renamed, with its old name.
        world.github.commit_files(REPO, "move", {"calc.py": None, "lib/calc.py": BASE_CALC})
        await world.deliver("pull_request", opened(world, 8, "move"))
        assert world.github.repo(REPO).pulls[8].labels == ["small"]
        [gate] = [r for r in world.github.check_runs.values() if r.name == "hookwise / size"]
        assert gate.conclusion == "success"

        # 3,005 files: GitHub lists 3,000 of them; the pull request counts them all.
        many = {f"gen/{n:04}.txt": f"{n}\n" for n in range(3005)}
        world.github.commit_files(REPO, "generated", many)
        await world.deliver("pull_request", opened(world, 9, "generated"))
        [gate] = [
            r
            for r in world.github.check_runs.values()
            if r.name == "hookwise / size" and r.head_sha == world.github.tip(REPO, "generated")
        ]
        assert gate.conclusion == "failure"
        assert "3005 files changed, at most 3002 allowed" in gate.output["summary"]
        assert "3005 lines changed, at most 3002 allowed" in gate.output["summary"]


async def test_a_forbidden_path_past_githubs_listing_fails_the_gate(world_factory) -> None:
    gate = "workflows:\n  no-secrets:\n    on: {pull_request: [opened]}\n    steps:\n"
    gate += "      - quality_gate: {name: secrets, forbidden_paths: ['secrets/**']}\n"
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        await declare(world, gate)
        # 3,000 harmless files list first; the one forbidden change is past GitHub's listing.
        many: dict[str, str | None] = {f"gen/{n:04}.txt": f"{n}\n" for n in range(3000)}
        world.github.commit_files(REPO, "padded", many | {"secrets/key.pem": "-----BEGIN\n"})
        await world.deliver("pull_request", opened(world, 8, "padded"))
        [check] = [r for r in world.github.check_runs.values() if r.name == "hookwise / secrets"]
        assert check.conclusion == "failure"
        assert "3001 files changed, GitHub lists 3000" in check.output["summary"]


async def test_a_malformed_workflow_is_shown_in_our_check_run_and_runs_nothing(
    world_factory, db
) -> None:
    text = textwrap.dedent(
        """\
        workflows:
          good:
            on: {pull_request: [opened]}
            steps: [{add_labels: [good]}]
          bad:
            on: {pull_request: [opened]}
            steps:
              - add_labels: [bad]
              - frobnicate: yes
        """
    )
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        sha = await declare(world, text)
        [check] = [r for r in world.github.check_runs.values() if r.name == "hookwise / workflows"]
        assert check.head_sha == sha
        assert check.conclusion == "failure"
        assert [(a["path"], a["start_line"], a["message"]) for a in check.annotations] == [
            (".github/hookwise.yml", 9, "bad: unknown step action 'frobnicate' in steps[1]")
        ]

        await world.deliver("pull_request", world.pr_event("opened"))
        assert world.github.repo(REPO).pulls[7].labels == ["good"]
    status = await db.fetchval("SELECT status FROM workflows WHERE declared_name = 'bad'")
    assert status == "inactive"


async def test_a_workflow_holding_nul_is_a_problem_and_the_others_still_run(
    world_factory, db
) -> None:
    # YAML's "\0" is U+0000, which no text column or jsonb holds: storing the file's workflows
    # failed, and was retried eight times, for every workflow of the file.
    text = textwrap.dedent(
        """\
        workflows:
          good:
            on: {pull_request: [opened]}
            steps: [{add_labels: [good]}]
          nul:
            on: {pull_request: [opened]}
            steps:
              - comment: "a\\0b"
        """
    )
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        await declare(world, text)
        [check] = [r for r in world.github.check_runs.values() if r.name == "hookwise / workflows"]
        assert check.conclusion == "failure"
        assert [(a["start_line"], a["message"]) for a in check.annotations] == [
            (8, "nul: steps[0].comment holds U+0000, which hookwise cannot store")
        ]
        await world.deliver("pull_request", world.pr_event("opened"))
        assert world.github.repo(REPO).pulls[7].labels == ["good"]
    rows = await db.fetch("SELECT declared_name, status FROM workflows WHERE scope IS NOT NULL")
    assert sorted((r["declared_name"], r["status"]) for r in rows) == [
        ("good", "active"),
        ("nul", "inactive"),
    ]


PEOPLE = """\
workflows:
  triage:
    on:
      pull_request: [opened]
      manual: true
    steps:
      - remove_labels: ["needs triage & review", "fix#12", absent]
      - request_reviewers: {reviewers: [ada, octocat], teams: [core]}
      - assign: ["@author", grace]
      - add_labels: [triaged]
  review-on-command:
    on:
      issue_comment: "/hookwise review"
    steps:
      - add_labels: [reviewed-by-command]
"""


async def test_each_action_lands_on_github_once(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        repo = world.github.repo(REPO)
        repo.collaborators.update({"ada": "write", "grace": "write"})
        repo.teams.add("core")
        # A label with a space and an `&`, one with a `#`: one URL part each, as GitHub names
        # them (never a query or a fragment).
        repo.pulls[7].labels = ["needs triage & review", "fix#12"]
        await declare(world, PEOPLE)
        await world.deliver("pull_request", world.pr_event("opened"))
        pull = repo.pulls[7]
        assert pull.labels == ["triaged"]
        # The author is not asked to review their own pull request (GitHub refuses it).
        assert pull.requested_reviewers == ["ada"]
        assert pull.requested_teams == ["core"]
        assert pull.assignees == ["octocat", "grace"]
        # Only the label the PR has is removed: no 404 for the other.
        assert [
            r.path for r in requests(world.github, "DELETE", "/labels/needs triage & review")
        ] != []
        [removed] = requests(world.github, "DELETE", "/labels/fix#12")
        assert removed.path == f"/repos/{REPO}/issues/7/labels/fix#12"
        assert requests(world.github, "DELETE", "/labels/absent") == []
        await world.replay_all()
        assert len(requests(world.github, "POST", "/requested_reviewers")) == 1
        assert len(requests(world.github, "POST", "/assignees")) == 1
    [run] = await executions_of(db, ":triage")
    assert run["status"] == "completed"


def comment_event(world: World, login: str, body: str) -> dict[str, Any]:
    issue = {
        "number": 7,
        "title": world.pull["title"],
        "pull_request": {"url": world.pull["url"]},
        "user": world.pull["user"],
    }
    return {
        "action": "created",
        "issue": issue,
        "comment": {"id": 99, "body": body, "user": {"login": login, "type": "User"}},
        "repository": world.repo,
        "installation": {"id": INSTALLATION_ID},
        "sender": {"login": login, "type": "User"},
    }


async def test_a_slash_command_from_a_user_without_write_access_is_refused(
    world_factory, db
) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        repo = world.github.repo(REPO)
        repo.collaborators["maintainer"] = "write"
        await declare(world, PEOPLE)
        await world.deliver("pull_request", world.pr_event("opened"))
        await world.deliver("issue_comment", comment_event(world, "stranger", "/hookwise review"))
        assert "reviewed-by-command" not in repo.pulls[7].labels
        await world.deliver(
            "issue_comment", comment_event(world, "maintainer", "/hookwise review now")
        )
        assert "reviewed-by-command" in repo.pulls[7].labels
        # Not the command: nothing starts.
        await world.deliver("issue_comment", comment_event(world, "maintainer", "LGTM"))
    refused, ran = await executions_of(db, ":review-on-command")
    assert refused["status"] == "skipped"
    assert refused["error_message"] == (
        "stranger may not run /hookwise review: read access, write needed"
    )
    assert ran["status"] == "completed"


async def test_a_manual_run_from_the_cli_and_the_admin_button(world_factory, db, dsn) -> None:
    from app import operate
    from app.workflows.manual import CannotRun
    from tests.admin_support import TOKEN, csrf_of, log_in

    async with world_factory(
        HOOKWISE_REVIEW=False, HOOKWISE_FIX=False, HOOKWISE_ADMIN_TOKEN=TOKEN
    ) as world:
        repo = world.github.repo(REPO)
        repo.collaborators.update({"ada": "write", "grace": "write"})
        repo.teams.add("core")
        await declare(world, PEOPLE)
        await world.deliver("pull_request", world.pr_event("opened"))
        repo.pulls[7].labels = ["needs triage & review"]

        said = await operate.run_workflow(dsn, "triage", pull=f"{REPO}#7", repo=None)
        assert said.startswith(f"started {REPO}:triage on {REPO}#7: execution ")
        await world.settle()
        assert repo.pulls[7].labels == ["triaged"]
        with pytest.raises(CannotRun, match="has no `manual: true`"):
            await operate.run_workflow(dsn, "review-on-command", pull=f"{REPO}#7", repo=None)
        with pytest.raises(CannotRun, match="no active workflow 'nope'"):
            await operate.run_workflow(dsn, "nope", pull=f"{REPO}#7", repo=None)

        repo.pulls[7].labels = ["needs triage & review"]
        client = world.hookwise.client
        await log_in(client)
        pull_id = await db.fetchval("SELECT id FROM pull_requests WHERE pr_number = 7")
        page = await client.get(f"/admin/pulls/{pull_id}")
        assert page.status_code == 200
        assert f"{REPO}:triage" in page.text
        pressed = await client.post(
            f"/admin/pulls/{pull_id}/run", data={"csrf": csrf_of(page.text), "workflow": "triage"}
        )
        assert pressed.status_code == 303
        await world.settle()
        assert repo.pulls[7].labels == ["triaged"]
        shown = await client.get(pressed.headers["location"])
        assert "4. add_labels" in shown.text
        assert "completed" in shown.text

        overview = await client.get("/admin/workflows")
        assert overview.status_code == 200
        assert f"{REPO}:triage" in overview.text
        assert "recent_workflow_activity" in overview.text
        # hookwise's own workflows are listed with their definitions and switches alike.
        assert "<td>hookwise.review</td>" in overview.text
        assert "<code>review: false</code>" in overview.text
    statuses = [r["status"] for r in await executions_of(db, ":triage")]
    assert statuses == ["completed", "completed", "completed"]
    kinds = await db.fetch(
        "SELECT trigger_type, count(*) AS n FROM workflow_executions e JOIN workflows w"
        " ON w.id = e.workflow_id WHERE w.name LIKE '%:triage' GROUP BY 1 ORDER BY 1"
    )
    assert [tuple(k) for k in kinds] == [("event", 1), ("manual", 2)]


STALE = """\
workflows:
  stale:
    on:
      schedule: "*/5 * * * *"
      manual: true
    steps:
      - close_stale:
          days: 30
          comment: "Closing #{{ number }}: no activity for 30 days."
          labels_absent: [keep]
"""


async def test_a_schedule_fires_once_per_slot_across_two_workers(world_factory, db, dsn) -> None:
    from app.store.pool import connect
    from app.workflows.manual import scheduled_run

    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        await world.deliver("pull_request", world.pr_event("opened"))
        old = world.github.add_pull(REPO, 8, head_branch="fix-calc", title="Old")
        kept = world.github.add_pull(REPO, 9, head_branch="fix-calc", title="Kept")
        repo = world.github.repo(REPO)
        repo.pulls[8].updated_at = repo.pulls[9].updated_at = "2020-01-01T00:00:00Z"
        repo.pulls[9].labels = ["keep"]
        await declare(world, STALE)
        assert old and kept
        # Declared long before the slots the test's clock names.
        await db.execute("UPDATE workflows SET created_at = '2025-12-01' WHERE scope IS NOT NULL")

        # As two workers' own connections are: with the pool's json codec.
        first, second = await connect(dsn), await connect(dsn)
        try:
            from datetime import UTC, datetime

            now = datetime(2026, 1, 1, 12, 7, tzinfo=UTC)
            both = await asyncio.gather(
                scheduled_run(first, now=now), scheduled_run(second, now=now)
            )
            again = await scheduled_run(second, now=now)
            later = await scheduled_run(first, now=now.replace(minute=11))
        finally:
            await first.close()
            await second.close()
        # One worker holds the schedule (the other gets None), or, taking turns, the second
        # finds the slot started: one execution either way.
        assert sorted(both, key=str) in ([1, None], [0, 1])
        assert (again, later) == (0, 1)
        await world.settle()
        assert [p.state for p in (repo.pulls[7], repo.pulls[8], repo.pulls[9])] == [
            "open",
            "closed",
            "open",
        ]
        [notice] = [c for c in world.github.issue_comments.values() if "Closing" in c.body]
        assert notice.number == 8
        assert notice.body.startswith("Closing #8: no activity for 30 days.")
        assert len(requests(world.github, "PATCH", "/pulls/8")) == 1
    runs = await db.fetch(
        "SELECT e.execution_id, e.status, e.result FROM workflow_executions e"
        " JOIN workflows w ON w.id = e.workflow_id WHERE w.name LIKE '%:stale' ORDER BY e.seq"
    )
    assert [r["execution_id"].split(":schedule:")[1] for r in runs] == [
        "2026-01-01T12:05Z",
        "2026-01-01T12:10Z",
    ]
    assert [r["status"] for r in runs] == ["completed", "completed"]


async def test_two_workers_and_a_replay_run_a_workflow_once(world_factory, db) -> None:
    import dataclasses

    from app.serving import default_router
    from app.worker import Worker

    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        await declare(world, LABEL_AND_GATE)
        ctx = world.hookwise.ctx
        eager = dataclasses.replace(
            ctx, settings=ctx.settings.with_env(HOOKWISE_POLL_INTERVAL=0.05)
        )
        rival = Worker(eager, default_router(), concurrency=2)
        running = asyncio.create_task(rival.run())
        try:
            await world.store("pull_request", world.pr_event("opened"))
            await world.store("pull_request", world.pr_event("opened"))  # a second delivery
            await world.settle()
            await world.replay_all()
            await asyncio.wait_for(rival.idle(), 30)
        finally:
            rival.stop()
            await running
        assert world.github.repo(REPO).pulls[7].labels == ["calc"]
        # Two deliveries of `opened`: each starts its run, and the second finds the label there.
        assert len(requests(world.github, "POST", "/issues/7/labels")) == 1
    runs = await executions_of(db, ":label-calc")
    assert [r["status"] for r in runs] == ["completed", "completed"]
    comments = await db.fetchval(
        "SELECT count(*) FROM outbound_actions WHERE kind = 'github.comment'"
    )
    assert comments == 2


AI = """\
workflows:
  review-when-asked:
    on:
      pull_request_review: [changes_requested]
    steps:
      - ai_review
      - add_labels: [ai-reviewed]
  failing-check:
    on:
      check_run: {conclusions: [failure], names: ["tests"]}
    steps:
      - add_labels: [ci-failed]
        on_failure: continue
      - request_reviewers: [nobody-here]
        on_failure: continue
      - add_labels: [after-a-refusal]
"""


async def test_review_and_check_triggers_reuse_hookwises_reactions(world_factory, db) -> None:
    from tests.reactions_world import REVIEW

    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        world.model.reply_tool("submit_review", REVIEW)
        await declare(world, AI)
        await world.deliver("pull_request", world.pr_event("opened"))
        assert world.model.calls == []  # review: off, and no workflow asked for one
        review = world.pr_event("submitted") | {
            "review": {"id": 5, "state": "changes_requested", "user": {"login": "ada"}}
        }
        await world.deliver("pull_request_review", review)
        assert len(world.github.reviews) == 1
        assert "ai-reviewed" in world.github.repo(REPO).pulls[7].labels

        await world.deliver("check_run", world.failed_check(name="tests"))
        labels = world.github.repo(REPO).pulls[7].labels
        assert "ci-failed" in labels and "after-a-refusal" in labels
    [asked] = await executions_of(db, ":review-when-asked")
    assert asked["status"] == "completed"
    [failing] = await executions_of(db, ":failing-check")
    assert failing["status"] == "completed"
    logged = await db.fetch(
        "SELECT level, step_name, message FROM execution_logs WHERE execution_id = $1"
        " AND level = 'ERROR'",
        failing["id"],
    )
    assert [r["step_name"] for r in logged] == ["2. request_reviewers"]
    assert logged[0]["message"].startswith("failed, continuing: GitHub refused (422)")


async def test_a_reconcile_reads_the_files_a_missed_push_changed(world_factory, db) -> None:
    from app import reconcile

    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        await world.deliver("pull_request", world.pr_event("opened"))
        # The push never reached hookwise (or the App does not get push events).
        sha = world.github.commit_files(REPO, "main", {".github/hookwise.yml": LABEL_AND_GATE})
        async with world.hookwise.ctx.pool.acquire() as conn:
            await reconcile.by_hand(conn, full_name=REPO)
        await world.settle()
        [check] = [r for r in world.github.check_runs.values() if r.name == "hookwise / workflows"]
        assert (check.head_sha, check.conclusion) == (sha, "success")
        assert "`label-calc`" in check.output["summary"]
    stored = await db.fetchval(
        "SELECT count(*) FROM workflows WHERE scope IS NOT NULL AND status = 'active'"
    )
    assert stored == 3


async def test_the_owners_file_problems_are_annotations_on_its_own_lines(world_factory) -> None:
    owners = textwrap.dedent(
        """\
        workflows:
          everywhere:
            on: {pull_request: [opened]}
            if: {colour: blue}
            steps: [{add_labels: [org]}]
        """
    )
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        world.github.add_repo(
            "octo-org/.github",
            installation_id=INSTALLATION_ID,
            files={".github/hookwise.yml": owners},
        )
        sha = await declare(world, LABEL_AND_GATE)
        checks = [r for r in world.github.check_runs.values() if r.name == "hookwise / workflows"]
        by_repo = {r.head_sha: r for r in checks}
        # On the repository: red, the owner's problem in the summary (its file is not here).
        mine = by_repo.pop(sha)
        assert mine.conclusion == "failure"
        assert (
            "octo-org/.github/.github/hookwise.yml:4: everywhere: unknown condition"
            in (mine.output["summary"])
        )
        assert mine.annotations == []
        # On the owner's .github repository's head: the same problem on its line.
        [theirs] = by_repo.values()
        assert theirs.head_sha == world.github.repo("octo-org/.github").branches["main"]
        assert [(a["path"], a["start_line"], a["message"]) for a in theirs.annotations] == [
            (".github/hookwise.yml", 4, "everywhere: unknown condition 'colour' in if")
        ]
        # Read again (a reconcile): nothing new is posted for the same head and problems.
        from app import reconcile

        await world.deliver("pull_request", world.pr_event("opened"))
        async with world.hookwise.ctx.pool.acquire() as conn:
            await reconcile.by_hand(conn, full_name=REPO)
        await world.settle()
        again = [r for r in world.github.check_runs.values() if r.name == "hookwise / workflows"]
        assert len(again) == 2


PROPOSED_FILE = """\
workflows:
  label-everything:
    on: {pull_request: [opened, synchronize]}
    steps: [{add_labels: [proposed]}]
  broken:
    on: {pull_request: [opened]}
    if: {colour: blue}
    steps: [{add_labels: [broken]}]
"""


def proposed_checks(github: FakeGitHub, sha: str) -> list[Any]:
    return [
        r
        for r in github.check_runs.values()
        if r.name == "hookwise / workflows" and r.head_sha == sha
    ]


async def check_shows_proposal(world: World, db, sha: str) -> None:
    [check] = proposed_checks(world.github, sha)
    assert check.conclusion == "failure"
    assert [(a["path"], a["start_line"], a["message"]) for a in check.annotations] == [
        (".github/hookwise.yml", 7, "broken: unknown condition 'colour' in if")
    ]
    assert "checked here, never run" in check.output["summary"]
    assert "`label-everything`" in check.output["summary"]
    # Nothing of it is stored, and nothing of it runs.
    assert await db.fetchval("SELECT count(*) FROM workflows WHERE scope IS NOT NULL") == 0
    assert "proposed" not in world.github.repo(REPO).pulls[7].labels


async def test_a_pull_request_changing_the_file_is_checked_never_run(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        await world.deliver("pull_request", world.pr_event("opened"))
        # The PR's branch gets the file: GitHub sends the push, then synchronize.
        sha = world.github.commit_files(REPO, "fix-calc", {".github/hookwise.yml": PROPOSED_FILE})
        push = push_event(world, sha) | {"ref": "refs/heads/fix-calc"}
        await world.deliver("push", push)
        synchronize = world.pr_event("synchronize")
        synchronize["pull_request"] = world.github.pull_json(world.github.repo(REPO).pulls[7])
        assert synchronize["pull_request"]["head"]["sha"] == sha
        await world.deliver("pull_request", synchronize)
        await check_shows_proposal(world, db, sha)
        # A push that does not touch the file checks nothing.
        other = world.github.commit_files(REPO, "fix-calc", {"calc.py": "x = 1\n"})
        plain = push_event(world, other) | {"ref": "refs/heads/fix-calc"}
        plain["commits"] = [{"id": other, "added": [], "modified": ["calc.py"], "removed": []}]
        plain["head_commit"] = {"id": other, "added": [], "modified": ["calc.py"]}
        await world.deliver("push", plain)
        assert proposed_checks(world.github, other) == []
    runs = await db.fetch(
        "SELECT e.status FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id"
        " WHERE w.name = 'hookwise.workflows_check'"
    )
    assert [r["status"] for r in runs] == ["completed"]


async def test_a_forks_pull_request_changing_the_file_is_checked_never_run(
    world_factory, db
) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False, fork=True) as world:
        await world.deliver("pull_request", world.pr_event("opened"))
        # No push of a fork reaches the App: the pull request's own event says when to look.
        assert [r for r in world.github.check_runs.values() if "workflows" in r.name] == []
        fork = world.github.repo(REPO).pulls[7].head_repo.full_name
        sha = world.github.commit_files(fork, "fix-calc", {".github/hookwise.yml": PROPOSED_FILE})
        synchronize = world.pr_event("synchronize")
        synchronize["pull_request"] = world.github.pull_json(world.github.repo(REPO).pulls[7])
        assert synchronize["pull_request"]["head"]["sha"] == sha
        await world.deliver("pull_request", synchronize)
        await check_shows_proposal(world, db, sha)
    runs = await db.fetch(
        "SELECT e.status, e.error_message FROM workflow_executions e"
        " JOIN workflows w ON w.id = e.workflow_id"
        " WHERE w.name = 'hookwise.workflows_check' ORDER BY e.seq"
    )
    assert [tuple(r) for r in runs] == [
        ("skipped", "the pull request does not change .github/hookwise.yml"),
        ("completed", None),
    ]


def alias_bomb(levels: int) -> str:
    """A file of about 60 bytes a level standing for 10^levels values (each list ten aliases of
    the one before), beside a workflow that is fine."""
    lines = ["anchors:", "  - &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"  - &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    lines += [
        "workflows:",
        "  label-everything:",
        "    on: {pull_request: [opened, synchronize]}",
        "    steps: [{add_labels: [proposed]}]",
    ]
    return "\n".join(lines) + "\n"


async def test_a_forks_file_of_aliases_expanding_without_end_is_a_problem_not_a_stall(
    world_factory, db
) -> None:
    # Any fork may propose the file. Every walk of it (its lines, the workflows' validation)
    # went through each value its aliases stand for: 10^9 in 560 bytes held the worker.
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False, fork=True) as world:
        await world.deliver("pull_request", world.pr_event("opened"))
        fork = world.github.repo(REPO).pulls[7].head_repo.full_name
        files = {".github/hookwise.yml": alias_bomb(9)}
        sha = world.github.commit_files(fork, "fix-calc", files)
        synchronize = world.pr_event("synchronize")
        synchronize["pull_request"] = world.github.pull_json(world.github.repo(REPO).pulls[7])
        await asyncio.wait_for(world.deliver("pull_request", synchronize), 60)
        [check] = proposed_checks(world.github, sha)
        assert check.conclusion == "failure"
        assert [(a["path"], a["start_line"], a["message"]) for a in check.annotations] == [
            (".github/hookwise.yml", 6, "YAML aliases expand this to more than 100,000 values")
        ]
    runs = await db.fetch(
        "SELECT e.status FROM workflow_executions e JOIN workflows w ON w.id = e.workflow_id"
        " WHERE w.name = 'hookwise.workflows_check' ORDER BY e.seq"
    )
    assert [r["status"] for r in runs] == ["skipped", "completed"]


PATHS = """\
workflows:
  secrets-review:
    on: {pull_request: [opened]}
    if: {changed_paths: ["secrets/**"]}
    steps: [{add_labels: [secrets]}]
  generated:
    on: {pull_request: [opened]}
    if: {changed_paths: ["gen/**"]}
    steps: [{add_labels: [generated]}]
"""


async def test_changed_paths_past_githubs_listing_neither_run_nor_skip(world_factory, db) -> None:
    """GitHub lists 3,000 files of a pull request: padded past them, a change to secrets/ must
    not skip the workflow meant for it, nor run it on a guess. Its execution fails, saying why;
    a path among the listed files still decides."""
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False) as world:
        await declare(world, PATHS)
        many: dict[str, str | None] = {f"gen/{n:04}.txt": f"{n}\n" for n in range(3000)}
        world.github.commit_files(REPO, "padded", many | {"secrets/key.pem": "-----BEGIN\n"})
        await world.deliver("pull_request", opened(world, 8, "padded"))

        assert world.github.repo(REPO).pulls[8].labels == ["generated"]
    [secrets] = await executions_of(db, "secrets-review")
    assert (secrets["status"], secrets["error_message"]) == (
        "failed",
        "changed_paths cannot be decided: GitHub lists 3000 of the 3001 files changed and none"
        " of them matches secrets/**; the rest may",
    )
    [generated] = await executions_of(db, "generated")
    assert generated["status"] == "completed"


async def test_a_forks_file_past_githubs_listing_is_still_checked(world_factory, db) -> None:
    async with world_factory(HOOKWISE_REVIEW=False, HOOKWISE_FIX=False, fork=True) as world:
        await world.deliver("pull_request", world.pr_event("opened"))
        fork = world.github.repo(REPO).pulls[7].head_repo.full_name
        # 3,000 files list before .github/hookwise.yml: the proposal is past GitHub's listing.
        many = {f"-vendored/{n:04}.txt": f"{n}\n" for n in range(3000)}
        sha = world.github.commit_files(
            fork, "fix-calc", many | {".github/hookwise.yml": PROPOSED_FILE}
        )
        synchronize = world.pr_event("synchronize")
        synchronize["pull_request"] = world.github.pull_json(world.github.repo(REPO).pulls[7])
        await world.deliver("pull_request", synchronize)
        await check_shows_proposal(world, db, sha)
