"""From POST to handled: every fixture payload ends completed or ignored, never failed."""

from __future__ import annotations

import asyncio
import json
import uuid

from app.serving import default_router
from app.store import bodies
from app.worker import Worker
from tests.fixtures import github_examples
from tests.harness import Running
from tests.signing import github_headers

HANDLED = {
    "installation",
    "installation_repositories",
    "pull_request",
    "check_run",
    "repository",
    "push",
}
# Events handled for some actions only: what starts declared workflows (app/workflows/).
HANDLED_ACTIONS = {("pull_request_review", "submitted"), ("issue_comment", "created")}


def handled(event_type: str, action: str | None) -> bool:
    return event_type in HANDLED or (event_type, action) in HANDLED_ACTIONS


async def test_every_fixture_flows_to_completed_or_ignored(hookwise: Running, db) -> None:
    settings = hookwise.ctx.settings.with_env(HOOKWISE_POLL_INTERVAL=3600.0)
    ctx = hookwise.ctx
    worker = Worker(type(ctx)(**{**ctx.__dict__, "settings": settings}), default_router())
    # Each body as sent: rows in arrival order keep exactly these.
    sent: list[object] = []
    first_idle = asyncio.ensure_future(worker.idle())
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(first_idle, 20)
        for event, payload in github_examples():
            sent.append(payload)
            body = json.dumps(payload).encode()
            headers = github_headers(body, event, delivery=str(uuid.uuid4()))
            response = await hookwise.client.post("/webhooks/github", content=body, headers=headers)
            assert response.status_code == 202
        await asyncio.wait_for(worker.idle(wake=True), 120)
    finally:
        worker.stop()
        await task

    rows = await db.fetch(
        "SELECT event_type, action, status, last_error, body_encoding, body"
        " FROM integration_events ORDER BY arrival"
    )
    assert len(rows) == 329
    failures = [
        (r["event_type"], r["last_error"])
        for r in rows
        if r["status"] != "completed" and (handled(r["event_type"], r["action"]) or r["last_error"])
    ]
    assert failures == []
    for row in rows:
        expected = "completed" if handled(row["event_type"], row["action"]) else "ignored"
        assert row["status"] == expected, row["event_type"]
        assert json.loads(bodies.unpack(row["body_encoding"], row["body"])) == sent.pop(0)
    assert await db.fetchval("SELECT count(*) FROM pull_requests") > 0
    assert await db.fetchval("SELECT count(*) FROM check_runs") > 0
    assert await db.fetchval("SELECT count(*) FROM installations") > 0
