"""Pull requests linked to Linear issues, and Linear kept in step, end to end: the fake GitHub
delivers pull_request events, the real worker links and acts, the fake Linear records what it
was told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.conftest import INSTALLATION_ID
from tests.linear_world import World, linear_world


async def known(world: World, team: str, *titles: str, first: int = 1) -> list:
    """Issues Linear has told hookwise about (by webhook), numbered from `first`."""
    linear = world.linear
    if not any(t.key == team for t in linear.teams.values()):
        linear.add_team(team)
    linear.team(team).issue_count = first - 1
    issues = [linear.add_issue(team, title) for title in titles]
    for issue in issues:
        await world.deliver_issue(issue, "create")
    return issues


async def test_link_detection_end_to_end(settings, dsn, db, fake_github) -> None:
    async with linear_world(settings, dsn, db, fake_github, api=False) as world:
        await known(world, "ENG", "Login fails", first=123)
        await known(world, "ENG", "Auth epic", first=7)
        world.linear.add_team("OPS")  # Linear has it; hookwise has never seen an OPS issue

        await world.deliver_pull(world.open_pull(1, branch="eng-123-fix-login"), "opened")
        await world.deliver_pull(world.open_pull(2, body="Fixes ENG-123"), "opened")
        await world.deliver_pull(world.open_pull(3, body="ENG-123 is why"), "opened")
        await world.deliver_pull(world.open_pull(4, body="part of ENG-7"), "opened")
        await world.deliver_pull(world.open_pull(5, title="Fix OPS-1, UTF-8 and ENG-9"), "opened")
        # As Linear's own integration links: the branch closes on merge, a bare id in the body
        # links nothing, a contributing word only references; OPS and UTF are not teams
        # hookwise knows, and ENG-9 is not an issue it has seen.
        assert await world.links() == {
            (1, "ENG-123", "closes", "branch"),
            (2, "ENG-123", "closes", "body"),
            (4, "ENG-7", "references", "body"),
        }
    # No API key: Linear was told nothing.
    assert world.linear.requests == []
    assert await world.outbound() == []


async def test_editing_the_text_relinks_and_drops_what_was_removed(
    settings, dsn, db, fake_github
) -> None:
    async with linear_world(settings, dsn, db, fake_github, api=False) as world:
        await known(world, "ENG", "Login fails", "Logout fails")
        pull = await world.deliver_pull(
            world.open_pull(1, branch="eng-2-logout", body="Fixes ENG-1"), "opened"
        )
        assert await world.links() == {
            (1, "ENG-1", "closes", "body"),
            (1, "ENG-2", "closes", "branch"),
        }
        pull = await world.deliver_pull(pull, "edited", body="Refs ENG-1")
        assert await world.links() == {
            (1, "ENG-1", "references", "body"),
            (1, "ENG-2", "closes", "branch"),
        }
        pull = await world.deliver_pull(pull, "edited", body="Nothing to see, not even ENG-1")
        assert await world.links() == {(1, "ENG-2", "closes", "branch")}

        # A late `opened` carries the old text: the stored, newer PR decides.
        late = pull | {"body": "Fixes ENG-1", "updated_at": "2020-01-01T00:00:00Z"}
        delivery = await world.github.deliver(
            "pull_request",
            {
                "action": "opened",
                "number": 1,
                "pull_request": late,
                "repository": world.repo,
                "installation": {"id": INSTALLATION_ID},
                "sender": late["user"],
            },
        )
        assert delivery.status_code == 202
        await world.settle()
        assert await world.links() == {(1, "ENG-2", "closes", "branch")}


async def test_merge_completes_the_issue_once_even_when_replayed(
    settings, dsn, db, fake_github
) -> None:
    async with linear_world(settings, dsn, db, fake_github) as world:
        [issue, epic] = await known(world, "ENG", "Login fails", "Auth epic")
        pull = await world.deliver_pull(
            world.open_pull(
                1, branch="login", title="Fix login", body="Fixes ENG-1, part of ENG-2"
            ),
            "opened",
        )
        attached = world.linear.calls("attachmentCreate")
        assert [a["input"] for a in attached] == [
            {
                "issueId": issue_id,
                "url": pull["html_url"],
                "title": "#1 Fix login",
                "subtitle": "octo-org/widgets",
            }
            for issue_id in (issue.id, epic.id)
        ]
        assert world.linear.calls("issueUpdate") == []

        await world.deliver_pull(pull, "synchronize")
        merged = await world.merge(pull)
        # Only the issue the PR closes moves; the one it references stays.
        done = world.linear.state(issue.team, "Done")
        assert world.linear.calls("issueUpdate") == [
            {"id": issue.id, "input": {"stateId": done.id}}
        ]
        assert (issue.state.name, epic.state.name) == ("Done", "Todo")

        # Replayed, and delivered once more: Linear hears nothing new.
        await world.replay_all()
        await world.deliver_pull(merged, "closed")
        assert len(world.linear.calls("issueUpdate")) == 1
        assert len(world.linear.calls("attachmentCreate")) == 2
        assert world.linear.calls("commentCreate") == []

    assert await world.outbound() == [
        ("linear.attach", "sent", 1),
        ("linear.attach", "sent", 1),
        ("linear.complete", "sent", 1),
    ]
    statuses = await db.fetch("SELECT DISTINCT status FROM integration_events")
    assert [row["status"] for row in statuses] == ["completed"]


async def test_the_setting_turns_completion_off(settings, dsn, db, fake_github) -> None:
    async with linear_world(
        settings, dsn, db, fake_github, HOOKWISE_LINEAR_CLOSE_ON_MERGE=False
    ) as world:
        await known(world, "ENG", "Login fails")
        pull = await world.deliver_pull(world.open_pull(1, body="Fixes ENG-1"), "opened")
        await world.merge(pull)
        assert len(world.linear.calls("attachmentCreate")) == 1
        assert world.linear.calls("issueUpdate") == []


async def test_an_issue_done_already_is_left_alone(settings, dsn, db, fake_github) -> None:
    async with linear_world(settings, dsn, db, fake_github) as world:
        [issue] = await known(world, "ENG", "Login fails")
        world.linear.move(issue, "Canceled")
        await world.deliver_issue(issue, "update")
        pull = await world.deliver_pull(world.open_pull(1, body="Closes ENG-1"), "opened")
        await world.merge(pull)
        assert world.linear.calls("issueUpdate") == []
        assert issue.state.name == "Canceled"


async def test_close_without_merge_comments_once(settings, dsn, db, fake_github) -> None:
    async with linear_world(settings, dsn, db, fake_github) as world:
        [issue] = await known(world, "ENG", "Login fails")
        pull = await world.deliver_pull(world.open_pull(1, branch="ENG-1-login"), "opened")
        closed = await world.close(pull)
        [comment] = world.linear.comments.values()
        assert comment.issue is issue
        assert comment.body == (
            f"Pull request [octo-org/widgets#1]({pull['html_url']}) was closed without being "
            "merged."
        )
        assert world.linear.calls("issueUpdate") == []

        await world.replay_all()
        reopened = await world.deliver_pull(closed, "reopened", state="open", closed_at=None)
        await world.close(reopened)
        assert len(world.linear.comments) == 1
        assert len(world.linear.calls("attachmentCreate")) == 1

    assert await world.outbound() == [
        ("linear.attach", "sent", 1),
        ("linear.comment", "sent", 1),
    ]


async def test_an_issue_linear_has_but_hookwise_has_not_seen_is_fetched(
    settings, dsn, db, fake_github
) -> None:
    async with linear_world(settings, dsn, db, fake_github) as world:
        await known(world, "ENG", "Login fails")
        epic = world.linear.add_issue("ENG", "Auth epic")  # ENG-2: no webhook came for it
        world.linear.add_team("OPS")
        # OPS-1: of a team no webhook has told hookwise of; Linear's list of teams has it.
        disk = world.linear.add_issue("OPS", "Disk full")
        await world.deliver_pull(
            world.open_pull(1, branch="login", body="Part of ENG-2, OPS-1, UTF-8 and ENG-99"),
            "opened",
        )
        assert await world.links() == {
            (1, "ENG-2", "references", "body"),
            (1, "OPS-1", "references", "body"),
        }
        # UTF is no team of Linear's: never asked for. ENG-99 is asked for, and does not exist.
        asked = [r.variables.get("id") for r in world.linear.requests if r.root == "issue"]
        assert asked == ["ENG-2", "OPS-1", "ENG-99"]
        assert len([r for r in world.linear.requests if r.root == "teams"]) == 1
        attached = world.linear.calls("attachmentCreate")
        assert [a["input"]["issueId"] for a in attached] == [epic.id, disk.id]
    row = await db.fetchrow(
        "SELECT identifier, state_type FROM linear_issues WHERE id = $1", epic.id
    )
    assert tuple(row) == ("ENG-2", "unstarted")


async def test_a_pull_request_that_came_first_is_linked_when_the_issue_arrives(
    settings, dsn, db, fake_github
) -> None:
    async with linear_world(settings, dsn, db, fake_github) as world:
        world.linear.add_team("ENG")
        await world.deliver_pull(world.open_pull(1, branch="login", body="Fixes eng-1"), "opened")
        assert await world.links() == set()
        # No ENG issue is stored, but Linear's list of teams has ENG: so ENG-1 is asked for,
        # and Linear has no such issue yet.
        asked = [(r.root, r.variables.get("id")) for r in world.linear.requests]
        assert asked == [("teams", None), ("issue", "ENG-1")]

        issue = world.linear.add_issue("ENG", "Login fails")
        await world.deliver_issue(issue, "create")
        assert await world.links() == {(1, "ENG-1", "closes", "body")}
        [attached] = world.linear.calls("attachmentCreate")
        assert attached["input"]["issueId"] == issue.id


async def test_a_linear_rate_limit_reschedules_the_execution_without_an_attempt(
    settings, dsn, db, fake_github
) -> None:
    async with linear_world(settings, dsn, db, fake_github) as world:
        await known(world, "ENG", "Login fails")
        world.linear.rate_limit(reset_in=600)
        await world.deliver_pull(world.open_pull(1, branch="login", body="Fixes ENG-1"), "opened")
        # The state is recorded at once, whatever Linear says.
        event = await db.fetchrow(
            "SELECT status, attempts FROM integration_events WHERE event_type = 'pull_request'"
        )
        assert tuple(event) == ("completed", 1)
        assert await world.links() == {(1, "ENG-1", "closes", "body")}
        row = await db.fetchrow(
            "SELECT status, attempts, run_after, error_message FROM workflow_executions"
        )
        assert (row["status"], row["attempts"]) == ("pending", 0)
        soon = datetime.now(UTC) + timedelta(seconds=600)
        assert abs((row["run_after"] - soon).total_seconds()) < 30
        assert "rate limit" in row["error_message"]
        assert world.linear.attachments == {}

        # Linear's reset has come.
        await db.execute("UPDATE workflow_executions SET run_after = now()")
        await world.settle()
        assert len(world.linear.attachments) == 1
    assert await world.outbound() == [("linear.attach", "sent", 2)]
    assert await db.fetchval("SELECT status FROM workflow_executions") == "completed"


async def test_a_lock_timeout_linear_answers_200_is_retried_not_taken_as_a_refusal(
    settings, dsn, db, fake_github
) -> None:
    async with linear_world(
        settings, dsn, db, fake_github, HOOKWISE_RETRY_BASE_SECONDS=0.0
    ) as world:
        [issue] = await known(world, "ENG", "Login fails")
        # Every try of the first attempt meets a lock inside Linear (HTTP 200 with `errors`).
        world.linear.error("LOCK_TIMEOUT", "Lock timeout, please retry", times=3)
        await world.deliver_pull(world.open_pull(1, branch="login", body="Fixes ENG-1"), "opened")
        [attached] = world.linear.attachments.values()
        assert attached.issue is issue
    row = await db.fetchrow("SELECT status, attempts FROM workflow_executions")
    assert tuple(row) == ("completed", 2)
    assert await world.outbound() == [("linear.attach", "sent", 2)]


async def test_a_refusal_from_linear_does_not_cost_the_pull_requests_state(
    settings, dsn, db, fake_github
) -> None:
    async with linear_world(settings, dsn, db, fake_github) as world:
        [gone, kept] = await known(world, "ENG", "Deleted in Linear", "Still there")
        del world.linear.issues[gone.id]  # deleted, and its webhook never came
        pull = await world.deliver_pull(world.open_pull(1, body="Fixes ENG-1 and ENG-2"), "opened")
        await world.merge(pull)
        assert [a.issue for a in world.linear.attachments.values()] == [kept]
        assert kept.state.name == "Done"
    assert await db.fetchval("SELECT state FROM pull_requests") == "merged"
    failed = await db.fetchrow(
        "SELECT status, last_error FROM outbound_actions WHERE idempotency_key LIKE $1",
        f"{gone.id}:%",
    )
    assert failed["status"] == "failed"
    assert "Entity not found" in failed["last_error"]
    # What the admin's timeline shows of the executions: ENG-1 was never told.
    summaries = await db.fetch(
        "SELECT result ->> 'summary' AS summary FROM workflow_executions ORDER BY seq"
    )
    assert [r["summary"] for r in summaries] == [
        "1 of 2 linked issues told; Linear refused ENG-1",
        "1 of 2 linked issues told; Linear refused ENG-1",
    ]
    statuses = await db.fetch("SELECT DISTINCT status FROM integration_events")
    assert [row["status"] for row in statuses] == ["completed"]


async def test_the_last_linked_pull_request_to_merge_completes_the_issue(
    settings, dsn, db, fake_github
) -> None:
    async with linear_world(settings, dsn, db, fake_github) as world:
        [issue] = await known(world, "ENG", "Login fails")
        first = await world.deliver_pull(
            world.open_pull(1, branch="a", body="Fixes ENG-1"), "opened"
        )
        second = await world.deliver_pull(
            world.open_pull(2, branch="b", body="Fixes ENG-1"), "opened"
        )
        await world.merge(first)
        # #2 still open and also completes ENG-1: Linear's integration waits for it.
        assert world.linear.calls("issueUpdate") == []
        assert issue.state.name == "Todo"
        await world.merge(second)
        assert issue.state.name == "Done"
        assert len(world.linear.calls("issueUpdate")) == 1


async def test_the_teams_own_automation_picks_the_state_per_target_branch(
    settings, dsn, db, fake_github
) -> None:
    async with linear_world(settings, dsn, db, fake_github) as world:
        issues = await known(world, "ENG", "Login", "Logout", "Signup")
        team = issues[0].team
        world.linear.automate(team, "merge", "In Review", branch="staging")
        world.linear.automate(team, "merge", None, branch="release/.*", regex=True)
        world.linear.automate(team, "merge", "Done")
        # Linear may answer an update without the issue (the schema lets it): still done.
        world.linear.update_without_issue = True
        for number, base in enumerate(("staging", "release/2.1", "main"), start=1):
            pull = world.open_pull(number, branch=f"b{number}", body=f"Fixes ENG-{number}")
            pull = await world.deliver_pull(pull, "opened", base=pull["base"] | {"ref": base})
            await world.merge(pull)
        assert [i.state.name for i in issues] == ["In Review", "Todo", "Done"]
    logged = await db.fetch("SELECT message FROM execution_logs WHERE message LIKE '%no action%'")
    assert [row["message"] for row in logged] == [
        "ENG-2 <- octo-org/widgets#2: the team's automation for a merge into release/2.1"
        " takes no action"
    ]


async def test_a_comment_whose_answer_was_lost_is_not_made_twice(
    settings, dsn, db, fake_github
) -> None:
    async with linear_world(settings, dsn, db, fake_github) as world:
        await known(world, "ENG", "Login fails")
        pull = await world.deliver_pull(world.open_pull(1, branch="eng-1-login"), "opened")
        world.linear.lose_answers = 1
        await world.close(pull)
        [comment] = world.linear.comments.values()
        # The retry named the same client-made comment id as the lost try: Linear refused a
        # second, and hookwise found its comment by that id.
        tries = [r for r in world.linear.requests if r.root == "commentCreate"]
        assert [(r.status, r.variables["input"]["id"]) for r in tries] == [
            (502, comment.id),
            (400, comment.id),
        ]
    assert await world.outbound() == [("linear.attach", "sent", 1), ("linear.comment", "sent", 1)]


async def test_linear_is_told_without_a_github_app(settings, dsn, db, fake_github) -> None:
    # Webhooks only, no App: the links and Linear's sync need nothing of GitHub's API.
    async with linear_world(
        settings, dsn, db, fake_github, GITHUB_APP_ID=None, GITHUB_PRIVATE_KEY=None
    ) as world:
        assert world.hookwise.ctx.github is None
        await known(world, "ENG", "Login fails")
        await world.deliver_pull(world.open_pull(1, body="Fixes ENG-1"), "opened")
        assert await world.links() == {(1, "ENG-1", "closes", "body")}
        assert len(world.linear.attachments) == 1
    assert await db.fetchval("SELECT status FROM workflow_executions") == "completed"
