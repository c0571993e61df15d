"""The state side of reactions: which executions an event starts, inside its transaction.

Registered after the state handlers, so the rows they wrote are there to read. No network
call: whatever needs GitHub, Linear or the model waits for the execution. Each start is keyed
so that one (workflow, subject, trigger) runs once — the head sha for a review, the check run
for an analysis, the link set and the PR's state for Linear — and a button press adds its
delivery id, so it runs again on purpose.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from app.clients.github import is_own_event
from app.reactions.policy import FAILED, reviewable_pull
from app.retry import RetryLater
from app.router import HandlerContext, Router
from app.store import analyses, executions, reviews
from app.store.executions import Start

router = Router()

# How long an event that may be our own waits, each time, for the App's identity.
IDENTITY_WAIT = timedelta(minutes=1)


def subject_of(pull_request_id: UUID) -> str:
    """What one at a time is kept by: one pull request's executions run in start order."""
    return f"pr:{pull_request_id}"


async def start_for_pull(
    event: HandlerContext,
    workflow: str,
    key: str,
    *,
    pull_request_id: UUID,
    label: str,
    payload: Any,
) -> None:
    installation = (event.payload.get("installation") or {}).get("id")
    started = await executions.start(
        event.conn,
        Start(
            workflow=workflow,
            key=key,
            subject=subject_of(pull_request_id),
            subject_label=label,
            payload=payload,
            event_id=event.event.id,
            pull_request_id=pull_request_id,
            installation_id=installation,
        ),
    )
    if started is not None:
        event.log.info("started %s (%s) for %s", workflow, key, label)


def ai_ready(event: HandlerContext) -> bool:
    app, payload = event.app, event.payload
    return app.github is not None and app.model is not None and "installation" in payload


def our_own(event: HandlerContext) -> bool:
    """Whether our App caused the event (reacting to it could loop). Never guessed: while the
    App's identity is not known (GET /app unanswered, a rate limit at start-up), the event waits
    for it, rescheduled without counting an attempt, as the context keeps asking."""
    assert event.app.github is not None
    identity = event.app.github.identity
    if identity is None:
        raise RetryLater(
            datetime.now(UTC) + IDENTITY_WAIT,
            "who the GitHub App is (GET /app) is not known yet: the event may be its own",
        )
    return is_own_event(event.payload, identity)


@router.register("github", "pull_request", "opened")
@router.register("github", "pull_request", "ready_for_review")
@router.register("github", "pull_request", "synchronize")
async def start_review(event: HandlerContext) -> None:
    pr = event.payload["pull_request"]
    if not ai_ready(event) or not reviewable_pull(pr) or pr.get("state") != "open":
        return
    if our_own(event):
        return
    stored = await reviews.pull_request(event.conn, pr["id"])
    if stored is None:
        return
    head = pr["head"]["sha"]
    await start_for_pull(
        event,
        "hookwise.review",
        f"review:{pr['id']}@{head}",
        pull_request_id=stored.id,
        label=f"{event.payload['repository']['full_name']}#{pr['number']}",
        payload=event.payload,
    )


@router.register("github", "check_run", "completed")
async def start_analysis(event: HandlerContext) -> None:
    run = event.payload["check_run"]
    if run.get("conclusion") not in FAILED or not ai_ready(event) or our_own(event):
        return
    stored = await analyses.check_run(event.conn, run["id"])
    if stored is None or stored.pr_id is None:
        return  # a commit without a pull request: nothing to suggest a fix on
    await start_for_pull(
        event,
        "hookwise.analyse_failure",
        f"analyse:{run['id']}",
        pull_request_id=stored.pr_id,
        label=f"{event.payload['repository']['full_name']}#{stored.pr_number}",
        payload=event.payload,
    )


@router.register("github", "check_run", "requested_action")
@router.register("github", "check_run", "rerequested")
async def start_button(event: HandlerContext) -> None:
    """A button on our check run (the run's external_id names the failing one). Whether the
    run is really ours is checked by the execution: knowing our App id may need GET /app."""
    ours = event.payload["check_run"]
    app = event.app
    if app.github is None or app.model is None or "installation" not in event.payload:
        return
    identity = app.github.identity
    if identity is not None and (ours.get("app") or {}).get("id") != identity.app_id:
        return
    if not str(ours.get("external_id") or "").isdigit():
        return
    stored = await analyses.check_run(event.conn, int(ours["external_id"]))
    if stored is None or stored.pr_id is None:
        return
    await start_for_pull(
        event,
        "hookwise.check_run_action",
        f"button:{ours['id']}:{event.event.delivery_id}",
        pull_request_id=stored.pr_id,
        label=f"{event.payload['repository']['full_name']}#{stored.pr_number}",
        payload=event.payload,
    )
