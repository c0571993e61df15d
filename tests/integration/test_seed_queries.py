"""Seed 002's "Query Patterns", run verbatim on what hookwise recorded from real deliveries.

The deliveries are GitHub's own examples (tests/fixtures), signed and posted to the receiver,
handled by a real worker with every handler. The queries are copied from the seed unchanged;
only the seed's `?` placeholder is written as asyncpg's `$1`.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from app.handlers import routers
from app.router import Router
from tests.admin_support import post_github, settle, working
from tests.fixtures import github_examples
from tests.harness import Running

DUE_FOR_POLLING = """
SELECT * FROM repositories 
WHERE status = 'active' 
AND (last_polled_at IS NULL OR last_polled_at < NOW() - INTERVAL '5 minutes')
ORDER BY last_polled_at ASC NULLS FIRST;
"""  # noqa: W291 (the seed's trailing spaces, kept)

OPEN_PRS_WITH_FAILED_CHECKS = """
SELECT pr.*, cr.check_name, cr.conclusion
FROM pull_requests pr
JOIN check_runs cr ON pr.id = cr.pr_id
WHERE pr.state = 'opened' 
AND cr.conclusion = 'failure'
AND cr.status = 'completed';
"""  # noqa: W291

PR_STATE_HISTORY = """
SELECT psh.*, pr.title
FROM pr_state_history psh
JOIN pull_requests pr ON psh.pr_id = pr.id
WHERE pr.repository_id = ?
ORDER BY psh.created_at DESC;
"""


def example(event: str, action: str, **where: Any) -> dict[str, Any]:
    """GitHub's example delivery of the event and action whose top-level object matches."""
    for name, payload in github_examples():
        body = payload.get(event) or {}
        matches = all(body.get(key) == value for key, value in where.items())
        if name == event and payload.get("action") == action and matches:
            return payload
    raise LookupError(f"no example {event}.{action} with {where}")


async def deliver(hookwise: Running, worker: Any, event: str, payload: dict[str, Any]) -> None:
    await post_github(hookwise, event, payload, delivery=f"{event}.{payload['action']}")
    await settle(worker)


@pytest.fixture
async def recorded(hookwise: Running) -> Any:
    """Hookwise with a worker running every handler, as `hookwise serve` runs them."""
    async with working(hookwise, Router(*routers())) as worker:
        yield worker


async def test_the_seeds_query_patterns_on_real_deliveries(
    hookwise: Running, recorded: Any, db: asyncpg.Connection
) -> None:
    opened = example("pull_request", "opened")
    failed = example("check_run", "completed", conclusion="failure")
    await deliver(hookwise, recorded, "pull_request", opened)
    await deliver(hookwise, recorded, "check_run", failed)

    [due] = await db.fetch(DUE_FOR_POLLING)
    assert (due["name"], due["status"], due["last_polled_at"]) == ("Hello-World", "active", None)
    assert due["url"] == opened["repository"]["html_url"]

    [failing] = await db.fetch(OPEN_PRS_WITH_FAILED_CHECKS)
    pr = opened["pull_request"]
    assert (failing["pr_number"], failing["title"], failing["author"]) == (
        pr["number"],
        pr["title"],
        pr["user"]["login"],
    )
    assert (failing["base_branch"], failing["head_branch"], failing["url"]) == (
        pr["base"]["ref"],
        pr["head"]["ref"],
        pr["html_url"],
    )
    assert (failing["check_name"], failing["conclusion"]) == (
        failed["check_run"]["name"],
        "failure",
    )
    # The failing run's event is when the PR's checks were last looked at.
    assert failing["last_checked_at"] is not None

    # Closed: no longer an open PR with a failed check; the history says so, newest first.
    await deliver(hookwise, recorded, "pull_request", example("pull_request", "closed"))
    assert await db.fetch(OPEN_PRS_WITH_FAILED_CHECKS) == []
    history = await db.fetch(PR_STATE_HISTORY.replace("?", "$1"), due["id"])
    assert [(h["old_state"], h["new_state"], h["trigger_event"]) for h in history] == [
        ("opened", "closed", "closed"),
        (None, "opened", "opened"),
    ]
    assert {h["title"] for h in history} == {pr["title"]}
    assert [h["delivery_id"] for h in history] == ["pull_request.closed", "pull_request.opened"]
