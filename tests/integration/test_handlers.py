"""The installation, pull_request and check_run handlers, driven through their routers."""

from __future__ import annotations

import copy
import itertools
import json
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from app.context import Context
from app.handlers import check_runs, installations, pull_requests, repositories
from app.handlers.github_payload import parse_time
from app.router import EventRow, HandlerContext, Router
from tests.fixtures import github_example, github_examples
from tests.pg import TRUNCATE

# The handlers that keep state; reactions (reviews, fixes) have tests of their own.
ROUTER = Router(installations.router, repositories.router, pull_requests.router, check_runs.router)
HANDLED = ("installation", "installation_repositories", "pull_request", "check_run", "repository")

OPENED = github_example("pull_request", "opened")
CHECK_RUN = github_example("check_run", "created")
REPOSITORY_ID = OPENED["repository"]["id"]
PR_ID = OPENED["pull_request"]["id"]
PR_NUMBER = OPENED["pull_request"]["number"]
SHA_A = OPENED["pull_request"]["head"]["sha"]
SHA_B = "b" * 40
T0 = datetime(2019, 5, 15, 15, 20, 33, tzinfo=UTC)

# Comparable rows: GitHub ids instead of our ids, which depend on arrival order, and nothing that
# records which delivery came last.
PR_ROWS = """
SELECT p.github_id, r.github_id AS repository, p.pr_number, p.state, p.draft, p.title, p.body,
       p.author, p.head_branch, p.head_sha, p.head_repo_full_name, p.base_branch, p.base_sha,
       p.url, p.is_fork, p.github_created_at, p.github_updated_at, p.closed_at, p.merged_at
FROM pull_requests p JOIN repositories r ON r.id = p.repository_id
ORDER BY p.github_id
"""

CHECK_RUN_ROWS = """
SELECT c.github_id, r.github_id AS repository, p.github_id AS pull_request, c.check_name,
       c.head_sha, c.status, c.conclusion, c.app_slug, c.external_id, c.metadata, c.details_url,
       c.html_url,
       c.check_suite_id, c.started_at, c.completed_at, c.output_title, c.output_summary
FROM check_runs c
JOIN repositories r ON r.id = c.repository_id
LEFT JOIN pull_requests p ON p.id = c.pr_id
ORDER BY c.github_id
"""

HISTORY = """
SELECT old_state, new_state, from_draft, to_draft, head_sha, trigger_event, delivery_id
FROM pr_state_history ORDER BY created_at
"""

DOMAIN_TABLES = (
    "installations",
    "repositories",
    "pull_requests",
    "check_runs",
    "pr_state_history",
)


# Arrival order as integration_events.arrival gives it: a later delivery, a larger number.
ARRIVALS = itertools.count(1)


async def deliver(
    conn: asyncpg.Connection,
    app: Context,
    event: str,
    payload: Mapping[str, Any],
    *,
    delivery_id: str | None = None,
    arrival: int | None = None,
) -> int:
    """Run every handler for the event in one transaction, as the worker does; how many ran."""
    async with conn.transaction():
        return await handle(conn, app, event, payload, delivery_id=delivery_id, arrival=arrival)


async def handle(
    conn: asyncpg.Connection,
    app: Context,
    event: str,
    payload: Mapping[str, Any],
    *,
    delivery_id: str | None = None,
    arrival: int | None = None,
) -> int:
    """Run the event's handlers in the caller's transaction; each call arrives after the last
    unless `arrival` says otherwise."""
    action = payload.get("action")
    row = EventRow(
        id=uuid.uuid4(),
        source="github",
        event_type=event,
        action=action,
        delivery_id=delivery_id or str(uuid.uuid4()),
        hook_id="1",
        attempts=1,
        received_at=datetime.now(UTC),
        arrival=next(ARRIVALS) if arrival is None else arrival,
    )
    handlers = ROUTER.handlers_for("github", event, action)
    log = logging.LoggerAdapter(logging.getLogger("test"), {})
    ctx = HandlerContext(event=row, payload=payload, conn=conn, app=app, log=log)
    for handler in handlers:
        await handler(ctx)
    return len(handlers)


async def rows(conn: asyncpg.Connection, query: str) -> list[dict[str, Any]]:
    return [dict(record) for record in await conn.fetch(query)]


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    """Every domain row, updated_at included: what "changes nothing" compares."""
    return {name: await rows(conn, f"SELECT * FROM {name} ORDER BY 1") for name in DOMAIN_TABLES}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pr_payload(
    action: str,
    *,
    minutes: int,
    seconds: int = 0,
    sha: str = SHA_A,
    draft: bool = False,
    state: str = "open",
    merged: bool = False,
) -> dict[str, Any]:
    """The opened fixture as GitHub would send it for a later action."""
    payload = copy.deepcopy(OPENED)
    payload["action"] = action
    pr = payload["pull_request"]
    stamp = iso(T0 + timedelta(minutes=minutes, seconds=seconds))
    pr.update(updated_at=stamp, draft=draft, state=state, merged=merged)
    pr["head"]["sha"] = sha
    if state == "closed":
        pr["closed_at"] = stamp
    if merged:
        pr["merged_at"] = stamp
    return payload


def merge_sequence() -> list[tuple[str, dict[str, Any]]]:
    """(delivery id, payload): a draft opened, pushed to, made ready, merged."""
    return [
        ("d-opened", pr_payload("opened", minutes=0, draft=True)),
        ("d-sync", pr_payload("synchronize", minutes=1, sha=SHA_B, draft=True)),
        ("d-ready", pr_payload("ready_for_review", minutes=2, sha=SHA_B)),
        ("d-closed", pr_payload("closed", minutes=3, sha=SHA_B, state="closed", merged=True)),
    ]


def run_payload(
    action: str,
    *,
    run_id: int,
    sha: str,
    status: str,
    conclusion: str | None = None,
    completed_minutes: int | None = None,
    listed: bool = True,
) -> dict[str, Any]:
    """The check_run fixture for another run, commit or status; unlisted is a fork's run."""
    payload = copy.deepcopy(CHECK_RUN)
    payload["action"] = action
    run = payload["check_run"]
    completed = None if completed_minutes is None else T0 + timedelta(minutes=completed_minutes)
    run.update(
        id=run_id,
        head_sha=sha,
        status=status,
        conclusion=conclusion,
        started_at=iso(T0),
        completed_at=None if completed is None else iso(completed),
    )
    if listed:
        run["pull_requests"][0]["head"]["sha"] = sha
    else:
        run["pull_requests"] = []
    return payload


async def run_link(conn: asyncpg.Connection, run_id: int) -> int | None:
    linked: int | None = await conn.fetchval(
        "SELECT p.github_id FROM check_runs c LEFT JOIN pull_requests p"
        " ON p.id = c.pr_id WHERE c.github_id = $1",
        run_id,
    )
    return linked


# ---------------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------------


def test_every_fixture_action_has_a_handler_but_check_suite() -> None:
    for event, payload in github_examples():
        found = ROUTER.handlers_for("github", event, payload.get("action"))
        if event in HANDLED:
            assert found, f"{event}.{payload.get('action')} has no handler"
        elif event == "check_suite":
            # Its payload carries no check runs; each run comes as a check_run event.
            assert not found


# ---------------------------------------------------------------------------------------------
# Every fixture payload, alone on an empty database
# ---------------------------------------------------------------------------------------------

EXAMPLES = [(event, payload) for event, payload in github_examples() if event in HANDLED]


def _example_id(index: int) -> str:
    event, payload = EXAMPLES[index]
    return f"{index}-{event}.{payload.get('action')}"


async def check_installation(conn: asyncpg.Connection, payload: Mapping[str, Any]) -> None:
    data = payload["installation"]
    row = await conn.fetchrow("SELECT * FROM installations WHERE id = $1", data["id"])
    assert row["account_login"] == data["account"]["login"]
    assert row["account_type"] == data["account"]["type"]
    assert row["repository_selection"] == data["repository_selection"]
    assert row["permissions"] == data["permissions"]
    assert row["events"] == data["events"]
    assert row["last_event_at"] == parse_time(data["updated_at"])
    assert row["suspended_at"] == parse_time(data.get("suspended_at"))
    assert row["suspended_by"] == (data.get("suspended_by") or {}).get("login")
    action = payload["action"]
    assert (row["deleted_at"] is not None) == (action == "deleted")
    listed = payload.get("repositories") or []
    if action == "created":
        await check_repositories(conn, data["id"], listed, "active")
    if action == "deleted":
        await check_repositories(conn, data["id"], listed, "removed")
    if action in ("added", "removed"):
        await check_repositories(conn, data["id"], payload["repositories_added"], "active")
        await check_repositories(conn, data["id"], payload["repositories_removed"], "removed")


async def check_repositories(
    conn: asyncpg.Connection, installation_id: int, listed: list[dict[str, Any]], status: str
) -> None:
    for item in listed:
        row = await conn.fetchrow("SELECT * FROM repositories WHERE github_id = $1", item["id"])
        assert row["installation_id"] == installation_id
        assert (row["full_name"], row["name"]) == (item["full_name"], item["name"])
        assert row["owner"] == item["full_name"].split("/")[0]
        assert row["status"] == status
        assert (row["removed_at"] is not None) == (status == "removed")


async def check_pull_request(conn: asyncpg.Connection, payload: Mapping[str, Any]) -> None:
    pr = payload["pull_request"]
    row = await conn.fetchrow("SELECT * FROM pull_requests WHERE github_id = $1", pr["id"])
    expected_state = "merged" if pr["merged"] else {"open": "opened"}.get(pr["state"], pr["state"])
    assert row["state"] == expected_state
    assert row["draft"] == pr["draft"]
    assert row["pr_number"] == pr["number"]
    assert row["title"] == pr["title"]
    assert row["author"] == pr["user"]["login"]
    assert (row["head_branch"], row["head_sha"]) == (pr["head"]["ref"], pr["head"]["sha"])
    assert (row["base_branch"], row["base_sha"]) == (pr["base"]["ref"], pr["base"]["sha"])
    assert row["head_repo_full_name"] == pr["head"]["repo"]["full_name"]
    assert row["url"] == pr["html_url"]
    assert row["is_fork"] is False
    assert row["github_updated_at"] == parse_time(pr["updated_at"])
    assert row["closed_at"] == parse_time(pr["closed_at"])
    assert row["last_trigger"] == payload["action"]
    history = await rows(conn, HISTORY)
    assert [(h["old_state"], h["new_state"], h["trigger_event"]) for h in history] == [
        (None, expected_state, payload["action"])
    ]
    repository = await conn.fetchrow(
        "SELECT * FROM repositories WHERE id = $1", row["repository_id"]
    )
    assert repository["github_id"] == payload["repository"]["id"]
    assert repository["full_name"] == payload["repository"]["full_name"]
    assert repository["default_branch"] == payload["repository"]["default_branch"]
    await check_installation_link(conn, payload, repository)


async def check_installation_link(
    conn: asyncpg.Connection, payload: Mapping[str, Any], repository: asyncpg.Record
) -> None:
    installation = payload.get("installation")
    if installation is None:
        assert repository["installation_id"] is None
        assert await conn.fetchval("SELECT count(*) FROM installations") == 0
    else:
        assert repository["installation_id"] == installation["id"]
        bare = await conn.fetchrow("SELECT * FROM installations WHERE id = $1", installation["id"])
        assert bare["account_login"] is None


async def check_check_run(conn: asyncpg.Connection, payload: Mapping[str, Any]) -> None:
    run = payload["check_run"]
    row = await conn.fetchrow("SELECT * FROM check_runs WHERE github_id = $1", run["id"])
    assert (row["check_name"], row["head_sha"]) == (run["name"], run["head_sha"])
    # The seed's external_id is GitHub's id of the run; GitHub's external_id field is metadata.
    assert row["external_id"] == str(run["id"])
    assert (row["metadata"] or {}).get("external_id") == (run.get("external_id") or None)
    assert (row["status"], row["conclusion"]) == (run["status"], run["conclusion"])
    assert row["app_slug"] == run["app"].get("slug")
    assert row["check_suite_id"] == run["check_suite"]["id"]
    assert row["started_at"] == parse_time(run["started_at"])
    assert row["completed_at"] == parse_time(run["completed_at"])
    assert row["output_title"] == run["output"]["title"]
    assert row["output_summary"] == run["output"]["summary"]
    assert (row["details_url"], row["html_url"]) == (run.get("details_url"), run["html_url"])
    # No PR stored yet: nothing to link to.
    assert row["pr_id"] is None
    repository = await conn.fetchrow(
        "SELECT * FROM repositories WHERE id = $1", row["repository_id"]
    )
    assert repository["github_id"] == payload["repository"]["id"]
    await check_installation_link(conn, payload, repository)


async def check_repository(conn: asyncpg.Connection, payload: Mapping[str, Any]) -> None:
    repo = payload["repository"]
    row = await conn.fetchrow("SELECT * FROM repositories WHERE github_id = $1", repo["id"])
    assert (row["full_name"], row["name"]) == (repo["full_name"], repo["name"])
    assert row["owner"] == repo["owner"]["login"]
    assert row["private"] == repo["private"]
    status = {"archived": "archived", "deleted": "removed"}.get(payload["action"], "active")
    assert row["status"] == status
    assert (row["removed_at"] is not None) == (status == "removed")
    await check_installation_link(conn, payload, row)


CHECKS = {
    "repository": check_repository,
    "installation": check_installation,
    "installation_repositories": check_installation,
    "pull_request": check_pull_request,
    "check_run": check_check_run,
}


@pytest.mark.parametrize("index", range(len(EXAMPLES)), ids=_example_id)
async def test_fixture_applies_and_replays_as_a_no_op(
    conn: asyncpg.Connection, app: Context, index: int
) -> None:
    event, payload = EXAMPLES[index]
    # A replay is the stored delivery again: its delivery id and its place in arrival order.
    arrival = next(ARRIVALS)
    assert await deliver(conn, app, event, payload, delivery_id="d-1", arrival=arrival) == 1
    await CHECKS[event](conn, payload)
    before = await snapshot(conn)
    await deliver(conn, app, event, payload, delivery_id="d-1", arrival=arrival)
    assert await snapshot(conn) == before


async def test_all_fixtures_in_file_order(conn: asyncpg.Connection, app: Context) -> None:
    for event, payload in EXAMPLES:
        await deliver(conn, app, event, payload)
    pr = await conn.fetchrow("SELECT * FROM pull_requests WHERE github_id = $1", PR_ID)
    # Closed, converted_to_draft and ready_for_review share one updated_at: of a tie, the last to
    # arrive wins (issue 16: no fixed rank of states), here ready_for_review, last in the file.
    newest = max(p["pull_request"]["updated_at"] for e, p in EXAMPLES if e == "pull_request")
    tied = [
        p["action"]
        for e, p in EXAMPLES
        if e == "pull_request" and p["pull_request"]["updated_at"] == newest
    ]
    assert tied[-1] == "ready_for_review" and "closed" in tied
    assert (pr["state"], pr["draft"], pr["last_trigger"]) == ("opened", False, "ready_for_review")
    # As the last payload says: GitHub's fixtures are of one PR at different moments.
    assert pr["closed_at"] is None
    assert await run_link(conn, CHECK_RUN["check_run"]["id"]) == PR_ID
    # The rerequested run's repository has no PRs here.
    assert await run_link(conn, 4) is None
    assert await conn.fetchval("SELECT count(*) FROM pull_requests") == 1
    deleted = await conn.fetchrow("SELECT * FROM installations WHERE id = 2")
    assert deleted["deleted_at"] is not None
    removed = await conn.fetchrow("SELECT * FROM repositories WHERE github_id = 1296269")
    assert (removed["status"], removed["installation_id"]) == ("removed", 2)
    unsuspended = await conn.fetchrow("SELECT * FROM installations WHERE id = 16598467")
    assert unsuspended["suspended_at"] is None
    space = await conn.fetchrow("SELECT * FROM repositories WHERE github_id = 186853007")
    assert (space["status"], space["installation_id"]) == ("active", 957387)
    # The PR fixtures, later in the file, name installation 1 for Hello-World.
    hello = await conn.fetchrow("SELECT * FROM repositories WHERE github_id = $1", REPOSITORY_ID)
    assert (hello["status"], hello["installation_id"]) == ("active", 1)


# ---------------------------------------------------------------------------------------------
# Pull requests: history, order, replay
# ---------------------------------------------------------------------------------------------


async def deliver_all(
    conn: asyncpg.Connection, app: Context, event: str, deliveries: list[tuple[str, dict[str, Any]]]
) -> None:
    for delivery_id, payload in deliveries:
        await deliver(conn, app, event, payload, delivery_id=delivery_id)


async def test_merge_sequence_writes_history(conn: asyncpg.Connection, app: Context) -> None:
    await deliver_all(conn, app, "pull_request", merge_sequence())
    assert [tuple(h.values()) for h in await rows(conn, HISTORY)] == [
        (None, "opened", None, True, SHA_A, "opened", "d-opened"),
        ("opened", "opened", True, True, SHA_B, "synchronize", "d-sync"),
        ("opened", "opened", True, False, SHA_B, "ready_for_review", "d-ready"),
        ("opened", "merged", False, False, SHA_B, "merged", "d-closed"),
    ]
    pr = await conn.fetchrow("SELECT * FROM pull_requests")
    merged_at = T0 + timedelta(minutes=3)
    assert (pr["state"], pr["merged_at"], pr["closed_at"]) == ("merged", merged_at, merged_at)
    assert (pr["last_trigger"], pr["last_delivery_id"]) == ("merged", "d-closed")


async def test_replaying_the_sequence_changes_nothing(
    conn: asyncpg.Connection, app: Context
) -> None:
    await deliver_all(conn, app, "pull_request", merge_sequence())
    before = await snapshot(conn)
    await deliver_all(conn, app, "pull_request", merge_sequence())
    assert await snapshot(conn) == before


async def test_reverse_order_ends_in_the_same_row(conn: asyncpg.Connection, app: Context) -> None:
    await deliver_all(conn, app, "pull_request", merge_sequence())
    in_order = await rows(conn, "SELECT * FROM pull_requests")
    await conn.execute(TRUNCATE)
    await deliver_all(conn, app, "pull_request", merge_sequence()[::-1])
    reversed_ = await rows(conn, "SELECT * FROM pull_requests")
    # last_arrival tells which delivery came last: the order, not the row it ends in.
    volatile = ("id", "repository_id", "created_at", "updated_at", "last_arrival")
    assert [strip(r, volatile) for r in reversed_] == [strip(r, volatile) for r in in_order]
    # The merge came first; everything after it was older and wrote nothing.
    history = await rows(conn, HISTORY)
    assert [(h["old_state"], h["new_state"], h["trigger_event"]) for h in history] == [
        (None, "merged", "merged")
    ]


async def test_closed_before_opened_stays_closed(conn: asyncpg.Connection, app: Context) -> None:
    closed = pr_payload("closed", minutes=5, state="closed")
    await deliver(conn, app, "pull_request", closed)
    await deliver(conn, app, "pull_request", pr_payload("opened", minutes=0))
    pr = await conn.fetchrow("SELECT * FROM pull_requests")
    assert (pr["state"], pr["last_trigger"]) == ("closed", "closed")
    assert await conn.fetchval("SELECT count(*) FROM pr_state_history") == 1


async def test_same_updated_at_the_further_state_wins(
    conn: asyncpg.Connection, app: Context
) -> None:
    merged = pr_payload("closed", minutes=1, state="closed", merged=True)
    await deliver(conn, app, "pull_request", merged)
    await deliver(conn, app, "pull_request", pr_payload("labeled", minutes=1))
    assert await conn.fetchval("SELECT state FROM pull_requests") == "merged"


async def test_reopened_later_opens_again(conn: asyncpg.Connection, app: Context) -> None:
    await deliver(conn, app, "pull_request", pr_payload("closed", minutes=1, state="closed"))
    await deliver(conn, app, "pull_request", pr_payload("reopened", minutes=2))
    history = await rows(conn, HISTORY)
    assert [(h["old_state"], h["new_state"], h["trigger_event"]) for h in history] == [
        (None, "closed", "closed"),
        ("closed", "opened", "reopened"),
    ]


async def test_unknown_action_is_recorded_as_unknown(
    conn: asyncpg.Connection, app: Context
) -> None:
    await deliver(conn, app, "pull_request", pr_payload("some_new_action", minutes=0))
    assert await conn.fetchval("SELECT last_trigger FROM pull_requests") == "unknown"


async def test_pull_request_from_a_fork(conn: asyncpg.Connection, app: Context) -> None:
    payload = pr_payload("opened", minutes=0)
    payload["pull_request"]["head"]["repo"] = {"id": 999, "full_name": "forker/Hello-World"}
    await deliver(conn, app, "pull_request", payload)
    pr = await conn.fetchrow("SELECT * FROM pull_requests")
    assert (pr["is_fork"], pr["head_repo_full_name"]) == (True, "forker/Hello-World")
    # A deleted fork leaves no head repository at all.
    payload = pr_payload("closed", minutes=1, state="closed")
    payload["pull_request"]["head"]["repo"] = None
    await deliver(conn, app, "pull_request", payload)
    pr = await conn.fetchrow("SELECT * FROM pull_requests")
    assert (pr["is_fork"], pr["head_repo_full_name"]) == (True, None)


def strip(row: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key not in keys}


# ---------------------------------------------------------------------------------------------
# Check runs: order, links
# ---------------------------------------------------------------------------------------------


def run_lifecycle(run_id: int = 7001) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("r-queued", run_payload("created", run_id=run_id, sha=SHA_A, status="queued")),
        ("r-progress", run_payload("created", run_id=run_id, sha=SHA_A, status="in_progress")),
        (
            "r-done",
            run_payload(
                "completed",
                run_id=run_id,
                sha=SHA_A,
                status="completed",
                conclusion="failure",
                completed_minutes=4,
            ),
        ),
    ]


async def test_completed_before_in_progress_stays_completed(
    conn: asyncpg.Connection, app: Context
) -> None:
    await deliver_all(conn, app, "check_run", run_lifecycle())
    in_order = await rows(conn, CHECK_RUN_ROWS)
    await conn.execute(TRUNCATE)
    queued, progress, done = run_lifecycle()
    await deliver_all(conn, app, "check_run", [done, progress, queued])
    assert await rows(conn, CHECK_RUN_ROWS) == in_order
    assert (in_order[0]["status"], in_order[0]["conclusion"]) == ("completed", "failure")


async def test_check_run_replay_changes_nothing(conn: asyncpg.Connection, app: Context) -> None:
    await deliver_all(conn, app, "pull_request", merge_sequence()[:1])
    await deliver_all(conn, app, "check_run", run_lifecycle())
    before = await snapshot(conn)
    await deliver_all(conn, app, "check_run", run_lifecycle())
    assert await snapshot(conn) == before


async def test_check_run_links_by_listed_number(conn: asyncpg.Connection, app: Context) -> None:
    await deliver(conn, app, "pull_request", pr_payload("opened", minutes=0))
    # A run of another commit, but the payload names the PR.
    await deliver(
        conn, app, "check_run", run_payload("created", run_id=1, sha="c" * 40, status="queued")
    )
    assert await run_link(conn, 1) == PR_ID


async def test_fork_check_run_links_by_head_sha(conn: asyncpg.Connection, app: Context) -> None:
    opened = pr_payload("opened", minutes=0)
    opened["pull_request"]["head"]["repo"] = {"id": 999, "full_name": "forker/Hello-World"}
    await deliver(conn, app, "pull_request", opened)
    fork_run = run_payload("created", run_id=2, sha=SHA_A, status="queued", listed=False)
    await deliver(conn, app, "check_run", fork_run)
    assert await run_link(conn, 2) == PR_ID
    stranger = run_payload("created", run_id=3, sha="d" * 40, status="queued", listed=False)
    await deliver(conn, app, "check_run", stranger)
    assert await run_link(conn, 3) is None


async def test_check_run_before_its_pull_request_is_linked_later(
    conn: asyncpg.Connection, app: Context
) -> None:
    fork_run = run_payload("created", run_id=4, sha=SHA_B, status="queued", listed=False)
    listed_run = run_payload("created", run_id=5, sha=SHA_A, status="queued")
    await deliver(conn, app, "check_run", fork_run)
    await deliver(conn, app, "check_run", listed_run)
    assert (await run_link(conn, 4), await run_link(conn, 5)) == (None, None)
    await deliver_all(conn, app, "pull_request", merge_sequence()[:2])
    assert (await run_link(conn, 4), await run_link(conn, 5)) == (PR_ID, PR_ID)


async def test_check_run_keeps_its_link_when_none_is_found(
    conn: asyncpg.Connection, app: Context
) -> None:
    await deliver(conn, app, "pull_request", pr_payload("opened", minutes=0))
    await deliver(
        conn, app, "check_run", run_payload("created", run_id=6, sha=SHA_A, status="queued")
    )
    # The PR moves on to another commit; a later, unlisted delivery of the run finds no PR.
    await deliver(conn, app, "pull_request", pr_payload("synchronize", minutes=1, sha=SHA_B))
    done = run_payload(
        "completed", run_id=6, sha=SHA_A, status="completed", conclusion="success",
        completed_minutes=2, listed=False,
    )  # fmt: skip
    await deliver(conn, app, "check_run", done)
    assert await run_link(conn, 6) == PR_ID
    assert await conn.fetchval("SELECT status FROM check_runs") == "completed"


async def test_replayed_run_links_to_a_pull_request_stored_since(
    conn: asyncpg.Connection, app: Context
) -> None:
    # A run of another commit than the PR's head, delivered before the PR: nothing to link.
    early = run_payload("created", run_id=7, sha="e" * 40, status="queued")
    await deliver(conn, app, "check_run", early)
    await deliver(conn, app, "pull_request", pr_payload("opened", minutes=0))
    assert await run_link(conn, 7) is None
    # Its redelivery changes nothing of the run, but the PR it names is stored now.
    await deliver(conn, app, "check_run", early)
    assert await run_link(conn, 7) == PR_ID
    assert await last_checked(conn) == await latest_run_change(conn)


async def last_checked(conn: asyncpg.Connection) -> datetime | None:
    found: datetime | None = await conn.fetchval(
        "SELECT last_checked_at FROM pull_requests WHERE github_id = $1", PR_ID
    )
    return found


async def latest_run_change(conn: asyncpg.Connection) -> datetime | None:
    found: datetime | None = await conn.fetchval(
        "SELECT max(c.updated_at) FROM check_runs c JOIN pull_requests p ON p.id = c.pr_id"
        " WHERE p.github_id = $1",
        PR_ID,
    )
    return found


async def test_last_checked_at_follows_the_latest_change_of_a_run(
    conn: asyncpg.Connection, app: Context
) -> None:
    # Runs that came before their PR: linked when it comes, and counted.
    await deliver(
        conn, app, "check_run", run_payload("created", run_id=8, sha=SHA_A, status="queued")
    )
    await deliver(conn, app, "pull_request", pr_payload("opened", minutes=0))
    assert await last_checked(conn) is not None
    assert await last_checked(conn) == await latest_run_change(conn)
    steps = [
        run_payload("created", run_id=9, sha=SHA_A, status="queued"),
        run_payload(
            "completed", run_id=8, sha=SHA_A, status="completed", conclusion="success",
            completed_minutes=1,
        ),
    ]  # fmt: skip
    for payload in steps:
        before = await last_checked(conn)
        await deliver(conn, app, "check_run", payload)
        assert await last_checked(conn) == await latest_run_change(conn)
        assert before is not None and await last_checked(conn) > before
    # A replay changes no run, so nothing here either.
    before = await last_checked(conn)
    await deliver(conn, app, "check_run", steps[-1])
    assert await last_checked(conn) == before


# ---------------------------------------------------------------------------------------------
# Installations
# ---------------------------------------------------------------------------------------------


def installation_payload(event: str, action: str, **changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(github_example(event, action))
    payload["installation"].update(changes)
    return payload


async def test_older_installation_payload_does_not_overwrite(
    conn: asyncpg.Connection, app: Context
) -> None:
    created = installation_payload("installation", "created")
    newer = installation_payload(
        "installation",
        "new_permissions_accepted",
        updated_at=created["installation"]["updated_at"] + 60,
        permissions={"checks": "write"},
    )
    await deliver(conn, app, "installation", newer)
    await deliver(conn, app, "installation", created)
    row = await conn.fetchrow("SELECT * FROM installations WHERE id = 957387")
    assert row["permissions"] == {"checks": "write"}
    assert row["repository_selection"] == "all"
    assert row["last_event_at"] == parse_time(newer["installation"]["updated_at"])


async def test_suspend_then_unsuspend(conn: asyncpg.Connection, app: Context) -> None:
    await deliver(conn, app, "installation", github_example("installation", "suspend"))
    row = await conn.fetchrow("SELECT * FROM installations WHERE id = 16598467")
    assert row["suspended_at"] == datetime(2021, 4, 29, 2, 32, 50, tzinfo=UTC)
    assert row["suspended_by"] == "Codertocat"
    # GitHub keeps updated_at on unsuspend: an equal stamp still applies.
    await deliver(conn, app, "installation", github_example("installation", "unsuspend"))
    row = await conn.fetchrow("SELECT * FROM installations WHERE id = 16598467")
    assert (row["suspended_at"], row["suspended_by"]) == (None, None)


async def test_a_replayed_suspend_leaves_the_installation_unsuspended(
    conn: asyncpg.Connection, app: Context
) -> None:
    # GitHub's own suspend and unsuspend share one updated_at: only arrival tells them apart.
    suspend = github_example("installation", "suspend")
    unsuspend = github_example("installation", "unsuspend")
    assert suspend["installation"]["updated_at"] == unsuspend["installation"]["updated_at"]
    await deliver(conn, app, "installation", suspend, arrival=1)
    await deliver(conn, app, "installation", unsuspend, arrival=2)
    await deliver(conn, app, "installation", suspend, arrival=1)  # `hookwise replay`
    row = await conn.fetchrow("SELECT * FROM installations WHERE id = 16598467")
    assert (row["suspended_at"], row["suspended_by"]) == (None, None)
    # A suspend that arrives after the unsuspend is news, with the same stamp.
    await deliver(conn, app, "installation", suspend, arrival=3)
    row = await conn.fetchrow("SELECT * FROM installations WHERE id = 16598467")
    assert row["suspended_by"] == "Codertocat"


async def test_a_replayed_repository_added_leaves_it_removed(
    conn: asyncpg.Connection, app: Context
) -> None:
    created = github_example("installation", "created")
    added = github_example("installation_repositories", "added")
    stamp = created["installation"]["updated_at"]
    assert added["installation"]["updated_at"] == stamp  # as GitHub's examples have it
    removed = installation_payload(
        "installation_repositories", "removed", id=added["installation"]["id"], updated_at=stamp
    )
    removed["repositories_removed"] = added["repositories_added"]
    removed["repositories_added"] = []
    space = added["repositories_added"][0]["id"]
    await deliver(conn, app, "installation", created, arrival=1)
    await deliver(conn, app, "installation_repositories", added, arrival=2)
    await deliver(conn, app, "installation_repositories", removed, arrival=3)
    status = "SELECT status::text FROM repositories WHERE github_id = $1"
    assert await conn.fetchval(status, space) == "removed"
    await deliver(conn, app, "installation_repositories", added, arrival=2)  # the replay
    assert await conn.fetchval(status, space) == "removed"
    # Added again for real: a later arrival.
    await deliver(conn, app, "installation_repositories", added, arrival=4)
    assert await conn.fetchval(status, space) == "active"


async def test_deleted_installation_is_marked_and_keeps_history(
    conn: asyncpg.Connection, app: Context
) -> None:
    await deliver(conn, app, "installation", installation_payload("installation", "created"))
    opened = pr_payload("opened", minutes=0)
    opened["installation"] = {"id": 957387}
    await deliver(conn, app, "pull_request", opened)
    deleted = installation_payload("installation", "deleted", id=957387)
    deleted["repositories"] = []
    await deliver(conn, app, "installation", deleted)
    installation = await conn.fetchrow("SELECT * FROM installations WHERE id = 957387")
    assert installation["deleted_at"] is not None
    repository = await conn.fetchrow(
        "SELECT * FROM repositories WHERE github_id = $1", REPOSITORY_ID
    )
    assert repository["status"] == "removed"
    assert await conn.fetchval("SELECT count(*) FROM pull_requests") == 1
    assert await conn.fetchval("SELECT count(*) FROM pr_state_history") == 1
    # A late redelivery of created neither revives the installation nor its repositories.
    before = await snapshot(conn)
    await deliver(conn, app, "installation", installation_payload("installation", "created"))
    assert await snapshot(conn) == before


async def test_repositories_removed_then_added_again(
    conn: asyncpg.Connection, app: Context
) -> None:
    created = installation_payload("installation", "created")
    await deliver(conn, app, "installation", created)
    # GitHub leaves installation.updated_at alone when repositories come and go.
    stamp = created["installation"]["updated_at"]
    removed = installation_payload(
        "installation_repositories", "removed", id=957387, updated_at=stamp
    )
    removed["repositories_removed"] = [
        {"id": REPOSITORY_ID, "name": "Hello-World", "full_name": "Codertocat/Hello-World"}
    ]
    await deliver(conn, app, "installation_repositories", removed)
    status_sql = "SELECT status, removed_at FROM repositories WHERE github_id = $1"
    status, removed_at = await conn.fetchrow(status_sql, REPOSITORY_ID)
    assert status == "removed" and removed_at is not None
    added = installation_payload("installation_repositories", "added")
    added["repositories_added"] = removed["repositories_removed"]
    await deliver(conn, app, "installation_repositories", added)
    assert tuple(await conn.fetchrow(status_sql, REPOSITORY_ID)) == ("active", None)


async def test_pull_request_creates_a_bare_installation(
    conn: asyncpg.Connection, app: Context
) -> None:
    opened = pr_payload("opened", minutes=0)
    opened["installation"] = {"id": 42}
    await deliver(conn, app, "pull_request", opened)
    installation = await conn.fetchrow("SELECT * FROM installations")
    assert (installation["id"], installation["account_login"]) == (42, None)
    # The installation event that follows fills it in.
    created = installation_payload("installation", "created", id=42)
    await deliver(conn, app, "installation", created)
    installation = await conn.fetchrow("SELECT * FROM installations")
    assert installation["account_login"] == "Codertocat"
    permissions = installation["permissions"]
    assert permissions == json.loads(json.dumps(created["installation"]["permissions"]))


def test_parse_time_accepts_every_github_shape() -> None:
    utc = datetime(2019, 5, 15, 15, 20, 31, tzinfo=UTC)
    assert parse_time("2019-05-15T15:20:31Z") == utc
    assert parse_time("2019-05-15T11:20:31.000-04:00") == utc
    assert parse_time(int(utc.timestamp())) == utc
    assert parse_time("2019-05-15T15:20:31") == utc
    assert parse_time(None) is None
    assert parse_time("") is None
